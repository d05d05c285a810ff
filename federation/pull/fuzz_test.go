package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
)

// FuzzParseBatch: no panic; an accepted batch re-encodes to a document that
// parses to the same batch, and holds no empty envelope.
func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{
		`{"envelopes":[],"lease_until":1,"more":false}`,
		`{"envelopes":["a.b.c"],"lease_until":1900000000,"more":true}`,
		`{"envelopes":["a"],"envelopes":[],"lease_until":1,"more":false}`,
		`{"Envelopes":[],"lease_until":1,"more":false}`,
		`{"envelopes":[""],"lease_until":1,"more":false}`,
		`{"envelopes":null,"lease_until":1,"more":false}`,
		`{"envelopes":["a.b.c",null],"lease_until":1,"more":false}`,
		`{"envelopes":[1],"lease_until":1,"more":false}`,
		`{"envelopes":[{}],"lease_until":1,"more":false}`,
		`{"envelopes":[["a.b.c"]],"lease_until":1,"more":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseBatch(body)
		if err != nil {
			return
		}
		if !allStrings(body, "envelopes") {
			t.Fatal("a batch whose envelopes are not all strings accepted")
		}
		for _, e := range b.Envelopes {
			if e == "" {
				t.Fatal("empty envelope accepted")
			}
		}
		again, err := parseBatch(must(json.Marshal(b)))
		if err != nil || len(again.Envelopes) != len(b.Envelopes) || again.LeaseUntil != b.LeaseUntil || again.More != b.More {
			t.Fatalf("re-encoded batch reads differently: %v", err)
		}
	})
}

// allStrings reports whether every item of the array that is member name
// of the JSON object body is a JSON string (read by encoding/json, apart
// from the parsers under test).
func allStrings(body []byte, name string) bool {
	var doc map[string]json.RawMessage
	var items []json.RawMessage
	if json.Unmarshal(body, &doc) != nil || json.Unmarshal(doc[name], &items) != nil {
		return false
	}
	for _, it := range items {
		if len(it) == 0 || it[0] != '"' {
			return false
		}
	}
	return true
}

// FuzzParseAck: no panic; an accepted acknowledgement has receipts, each
// item of its receipts array a JSON string, and re-encodes to a document
// that parses to the same acknowledgement.
func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		`{"receipts":[]}`,
		`{"receipts":["a.b.c"],"refusals":[{"jti":"j1","sha256":"00","code":"schema_invalid"}]}`,
		`{"receipts":["a.b.c",null]}`,
		`{"receipts":[null]}`,
		`{"receipts":[1]}`,
		`{"receipts":[{}]}`,
		`{"receipts":[],"refusals":[null]}`,
		`{"receipts":null}`,
		`{"receipts":[],"receipts":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseAck(body)
		if err != nil {
			return
		}
		if a.Receipts == nil || !allStrings(body, "receipts") {
			t.Fatal("an acknowledgement whose receipts are not an array of strings accepted")
		}
		again, err := parseAck(must(json.Marshal(a)))
		if err != nil || len(again.Receipts) != len(a.Receipts) || len(again.Refusals) != len(a.Refusals) {
			t.Fatalf("re-encoded acknowledgement reads differently: %v", err)
		}
		for i := range a.Receipts {
			if again.Receipts[i] != a.Receipts[i] {
				t.Fatalf("receipt %d reads differently", i)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzServeAck: no panic on any acknowledgement body; the answer is 200, 400
// or 413 with the right media type; and nothing the fuzzer sends marks an
// envelope done (that takes a receipt signed by the puller's key).
func FuzzServeAck(f *testing.F) {
	now := time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)
	key := must(jose.GenerateKey(jose.EdDSA))
	m := &federation.Manifest{Federation: "fuzz", Version: 1, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), Members: []federation.Member{
		{ID: "XA-RC", Status: federation.StatusActive, JWKS: jose.KeySet{key.Public()}},
		{ID: "XB-RC", Status: federation.StatusActive, JWKS: jose.KeySet{must(jose.GenerateKey(jose.EdDSA)).Public()}},
	}}
	env := must(federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: "j1", Kind: federation.KindCaseCreate, CaseID: "XA-RC:1", Body: json.RawMessage(`{}`)}, key))
	rc := must(federation.SignReceipt(federation.ReceiptClaims{Issuer: "XB-RC", Audience: "XA-RC", IssuedAt: now, ReceiptFor: "j1",
		SHA256: federation.ExpectReceipt(env, federation.Claims{JTI: "j1"}).SHA256, Status: federation.ReceiptAccepted}, key.WithKID("x")))
	for _, s := range []string{
		`{"receipts":[]}`,
		`{"receipts":["` + string(rc) + `"]}`,
		`{"receipts":[],"refusals":[{"jti":"j1","sha256":"00","code":"schema_invalid"}]}`,
		`{"receipts":[],"refusals":[{"jti":"j1","sha256":"00","code":"unknown_key"}]}`,
		`{"receipts":[1]}`,
		`{"receipts":["` + string(rc) + `",null]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q := NewMemoryQueue()
		q.Add("XB-RC", "j1", "XA-RC:1", env)
		h := &Handler{Self: "XA-RC", Manifest: federation.StaticManifest(m), Queue: q, Now: func() time.Time { return now }}
		req := httptest.NewRequest(http.MethodPost, PathAck, bytes.NewReader(body))
		req.Header.Set("Content-Type", MediaType)
		req = req.WithContext(mtls.ContextWithPeer(context.Background(), "XB-RC"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
			if w.Header().Get("Content-Type") != MediaType {
				t.Fatal("200 without application/json")
			}
			if !allStrings(body, "receipts") {
				t.Fatal("200 to an acknowledgement whose receipts are not all strings")
			}
		case 400, 413:
			if w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatal("problem without application/problem+json")
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
		for _, st := range q.States() {
			if st.Done && st.Refusal == "" {
				t.Fatal("an envelope was marked delivered by a fuzzed acknowledgement")
			}
		}
	})
}
