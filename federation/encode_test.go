package federation

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// checkAppendClaims: appendClaims writes exactly json.Marshal's bytes, or
// leaves the claims to it.
func checkAppendClaims(t *testing.T, w wireClaims) {
	t.Helper()
	want, err := json.Marshal(w)
	got, ok := appendClaims(nil, &w)
	if !ok {
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("appendClaims(%+v) = %s; json.Marshal: %s, %v", w, got, want, err)
	}
}

func checkAppendReceipt(t *testing.T, w wireReceipt) {
	t.Helper()
	want, err := json.Marshal(w)
	got, ok := appendReceipt(nil, &w)
	if !ok {
		return
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("appendReceipt(%+v) = %s; json.Marshal: %s, %v", w, got, want, err)
	}
}

var encodeSeeds = []struct {
	jti, body string
}{
	{"j-1", `{"case_id":"XA-RC:1","persons":[{"name":"Мира"}]}`},
	{"j<1>", `{}`}, {`a"b`, `{}`}, {`a\b`, `{}`}, {"j", `{ "a": 1 }`}, {"j", `{"a":"<b>&"}`}, {"j", "{\"a\":\"\u2028\"}"},
	{"j", `{"a":`}, {"j", `null`}, {"j", "[\"\xff\"]"}, {"é", `1`}, {"j&", `"x"`},
}

func TestAppendClaimsIsMarshal(t *testing.T) {
	for _, s := range encodeSeeds {
		w := wireClaims{Iss: "XA-RC", Aud: "XB-RC", Iat: 1700000000, Exp: 1700003600, JTI: s.jti, Kind: KindCaseCreate,
			CaseID: "XA-RC:1", Body: json.RawMessage(s.body)}
		checkAppendClaims(t, w)
		checkAppendReceipt(t, wireReceipt{Iss: "XB-RC", Aud: "XA-RC", Iat: 1700000000, ReceiptFor: s.jti, SHA256: s.body, Status: ReceiptAccepted})
	}
	// The fast path is taken for what nodes sign.
	w := wireClaims{Iss: "XA-RC", Aud: "XB-RC", Iat: 1, Exp: 2, JTI: NewJTI(), Kind: KindCaseCreate, CaseID: "XA-RC:1", Body: json.RawMessage(`{"a":[1,"b"]}`)}
	if _, ok := appendClaims(nil, &w); !ok {
		t.Fatal("appendClaims left compact claims to encoding/json")
	}
	r := wireReceipt{Iss: "XB-RC", Aud: "XA-RC", Iat: 1, ReceiptFor: w.JTI, SHA256: "00ff", Status: ReceiptDuplicate}
	if _, ok := appendReceipt(nil, &r); !ok {
		t.Fatal("appendReceipt left a receipt to encoding/json")
	}
}

func FuzzAppendClaims(f *testing.F) {
	for _, s := range encodeSeeds {
		f.Add(s.jti, []byte(s.body), int64(1700000000))
	}
	f.Fuzz(func(t *testing.T, jti string, body []byte, iat int64) {
		checkAppendClaims(t, wireClaims{Iss: "XA-RC", Aud: "XB-RC", Iat: iat, Exp: iat + 1, JTI: jti, Kind: KindCaseUpdate, CaseID: "XA-RC:x", Body: body})
		checkAppendReceipt(t, wireReceipt{Iss: "XB-RC", Aud: "XA-RC", Iat: iat, ReceiptFor: jti, SHA256: string(body), Status: ReceiptAccepted})
	})
}

// The regular expressions the hand-written checks stand for.
var (
	memberIDOracle = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)
	caseIDOracle   = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}:[A-Za-z0-9._-]{1,64}$`)
	sha256Oracle   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func checkIDForms(t *testing.T, s string) {
	t.Helper()
	if got, want := ValidMemberID(s), memberIDOracle.MatchString(s); got != want {
		t.Fatalf("ValidMemberID(%q) = %t, want %t", s, got, want)
	}
	if got, want := ValidCaseID(s), caseIDOracle.MatchString(s); got != want {
		t.Fatalf("ValidCaseID(%q) = %t, want %t", s, got, want)
	}
	if got, want := validSHA256Hex(s), sha256Oracle.MatchString(s); got != want {
		t.Fatalf("validSHA256Hex(%q) = %t, want %t", s, got, want)
	}
}

var idSeeds = []string{"", "X", "XA", "XA-RC", "xa-rc", "-XA", "XA-", "XA RC", strings.Repeat("A", 32), strings.Repeat("A", 33),
	"XA-RC:1", "XA-RC:", ":1", "XA-RC:a.b_c-D", "XA-RC:a:b", "XA-RC:" + strings.Repeat("a", 64), "XA-RC:" + strings.Repeat("a", 65),
	"XA-RC:é", "XA-RC:1\n", strings.Repeat("0a", 32), strings.Repeat("0A", 32), strings.Repeat("0a", 32) + "0", "ÉA", "X\u00c9"}

func TestIDFormsMatchTheirExpressions(t *testing.T) {
	for _, s := range idSeeds {
		checkIDForms(t, s)
	}
}

func FuzzIDForms(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(checkIDForms)
}

// TestMarshalBatchIsMarshal: the batch written directly is the batch
// encoding/json writes.
func TestMarshalBatchIsMarshal(t *testing.T) {
	for _, envs := range [][]string{
		{"eyJh.eyJi.c2ln"}, {"a.b.c", "d-_.e.f"}, {"a.b.c", `x"y`}, {"<a>&"}, {"é"}, {""},
	} {
		var in [][]byte
		for _, e := range envs {
			in = append(in, []byte(e))
		}
		got, err := MarshalBatch(in)
		want, werr := marshalBatchJSON(in)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Fatalf("MarshalBatch(%q) = %s, %v; encoding/json: %s, %v", envs, got, err, want, werr)
		}
	}
}
