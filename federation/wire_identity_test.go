package federation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

var updateWire = flag.Bool("update-wire", false, "rewrite testdata/wire-identity.sha256 from this code")

// TestWireIdentity is a differential test against the code as it was before
// the allocation work: it signs generated envelopes and receipts with fixed
// Ed25519 keys (deterministic signatures), verifies them and thousands of
// mutations of them (bytes flipped, CR/LF, padding and other characters put
// in, parts cut, dots added, claims re-signed in other forms), reads them
// back (ClaimsOf, batches), and hashes every output byte and every decision
// (code, claims, sha256) into one digest. The digest in testdata was written
// by the earlier code (-update-wire); any byte on the wire or any
// accept/refuse decision that differs changes it.
func TestWireIdentity(t *testing.T) {
	skipUnderRace(t)
	h := sha256.New()
	counts := map[string]int{}
	rec := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if w := strings.Fields(line); len(w) > 1 && (w[0] == "refused" || w[1] == "refused" || w[1] == "accepted") {
			counts[w[0]+" "+w[1]]++
		} else if len(w) > 0 {
			counts[w[0]]++
		}
		fmt.Fprintln(h, line)
	}
	defer func() { t.Logf("records: %v", counts) }()
	xa, xb := detKey(t, "XA-RC"), detKey(t, "XB-RC")
	f := newFixture(t)
	spec := *f.spec
	spec.Members = append([]Member(nil), f.spec.Members...)
	for i := range spec.Members {
		switch spec.Members[i].ID {
		case "XA-RC":
			spec.Members[i].JWKS = jose.KeySet{xa.Public()}
		case "XB-RC":
			spec.Members[i].JWKS = jose.KeySet{xb.Public()}
		}
	}
	m := must(VerifyManifest(must(SignManifest(&spec, f.anchor)), f.anchor.Public(), t0, nil))
	v := &Verifier{Manifest: StaticManifest(m), Self: "XB-RC", Now: func() time.Time { return t0 }}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 2026))

	verify := func(raw []byte, peer string) {
		env, err := v.Verify(ctx, raw, peer)
		if err != nil {
			rec("refused %s", CodeOf(err))
			return
		}
		rec("accepted %s %s %d %d %s %s %s %s %s %s", env.Issuer, env.Audience, env.IssuedAt.Unix(), env.ExpiresAt.Unix(),
			env.JTI, env.Kind, env.CaseID, env.Body, env.KID, env.SHA256())
		c, err := ClaimsOf(bytes.Clone(raw))
		rec("claimsof %v %s %s %s", err, c.JTI, c.CaseID, c.Body)
	}
	var sent [][]byte
	for i := range 400 {
		c := Claims{
			Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: t0.Add(-time.Duration(rng.IntN(3600)) * time.Second),
			JTI: genJTI(rng), Kind: Kinds[rng.IntN(len(Kinds))], CaseID: fmt.Sprintf("XA-RC:c-%d", i),
			Body: json.RawMessage(genBody(rng, 0)),
		}
		c.ExpiresAt = c.IssuedAt.Add(time.Duration(1+rng.IntN(7200)) * time.Second)
		if rng.IntN(20) == 0 {
			c.Audience = "XC-RC"
		}
		raw, err := Sign(c, xa)
		rec("sign %d %s %v", i, raw, CodeOf(err))
		if err != nil {
			continue
		}
		sent = append(sent, raw)
		verify(raw, "XA-RC")
		verify(raw, "")
		verify(raw, "ICRC-CTA")
		for range 12 {
			verify(mutate(rng, raw), "XA-RC")
		}
		// Claims in other forms, properly signed.
		parts := strings.SplitN(string(raw), ".", 3)
		payload := must(b64url.DecodeString(parts[1]))
		for _, p := range payloadVariants(rng, payload) {
			verify(forge(`{"alg":"EdDSA","kid":"`+xa.KID()+`","typ":"flx-envelope+jws"}`, p, edSigner(t, xa)), "XA-RC")
		}

		status := ReceiptAccepted
		if rng.IntN(2) == 0 {
			status = ReceiptDuplicate
		}
		sum := sha256.Sum256(raw)
		rc := ReceiptClaims{Issuer: "XB-RC", Audience: "XA-RC", IssuedAt: t0.Add(time.Duration(rng.IntN(700)-600) * time.Second),
			ReceiptFor: c.JTI, SHA256: hex.EncodeToString(sum[:]), Status: status}
		rraw, err := SignReceipt(rc, xb)
		rec("receipt %s %v", rraw, CodeOf(err))
		if err != nil {
			continue
		}
		want := ExpectReceipt(raw, c)
		for k := range 6 {
			in := rraw
			if k > 0 {
				in = mutate(rng, rraw)
			}
			r, err := VerifyReceipt(in, m, want, t0)
			if err != nil {
				rec("receipt refused %s", CodeOf(err))
				continue
			}
			rec("receipt accepted %+v %s %s", r.ReceiptClaims, r.KID, r.Raw())
		}
	}
	for n := 1; n <= len(sent); n += 1 + n/2 {
		b, err := MarshalBatch(sent[:n])
		rec("batch %d %x %v", n, sha256.Sum256(b), err)
		got, err := ParseBatchRequest(b, 1000)
		rec("parsed %d %v %v", len(got), err, len(got) == n && bytes.Equal(got[n-1], sent[n-1]))
		mb := mutate(rng, b)
		got, err = ParseBatchRequest(mb, 1000)
		rec("parsed mutated %d %s", len(got), problemCodeOf(err))
		for _, e := range got {
			rec("entry %x", sha256.Sum256(e))
		}
	}

	digest := hex.EncodeToString(h.Sum(nil))
	path := filepath.Join("testdata", "wire-identity.sha256")
	if *updateWire {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(digest+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(want)); got != digest {
		t.Fatalf("wire/decision digest %s, golden %s: a signed byte or a decision changed", digest, got)
	}
}

func problemCodeOf(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%T:%v", err, err)
}

// detKey is a fixed Ed25519 key (seed from name), so signatures repeat.
func detKey(t testing.TB, name string) *jose.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("flx-wire-identity/" + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	jwk := fmt.Sprintf(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","kid":"wire-%s","x":"%s","d":"%s"}`,
		name, b64url.EncodeToString(priv.Public().(ed25519.PublicKey)), b64url.EncodeToString(seed[:]))
	return must(jose.ParsePrivateJWK([]byte(jwk)))
}

func genJTI(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0:
		return "j<&>" + fmt.Sprint(rng.IntN(1000))
	case 1:
		return `j"` + fmt.Sprint(rng.IntN(1000))
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b64url.EncodeToString(b[:])
}

var genStrings = []string{
	"Amira Testova", "Мира", "é", "日本", "a\"b", `back\slash`, "tab\there", "<b>&amp;", "\u2028", "\u2029",
	"😀", "", "plain text of a longer note about where a person was last seen", "\x7f", "nul\x00",
}

// genBody writes a JSON value: mostly compact, sometimes spaced or escaped
// in ways json.Marshal rewrites.
func genBody(rng *rand.Rand, depth int) string {
	var sb strings.Builder
	sp := func() {
		if rng.IntN(12) == 0 {
			sb.WriteString([]string{" ", "\n", "\t ", "\r\n"}[rng.IntN(4)])
		}
	}
	var value func(d int)
	value = func(d int) {
		sp()
		switch k := rng.IntN(10); {
		case k < 3 && d < 4:
			sb.WriteByte('{')
			n := rng.IntN(6)
			for i := range n {
				if i > 0 {
					sb.WriteByte(',')
				}
				sp()
				name := fmt.Sprintf("k%d", i)
				if rng.IntN(15) == 0 {
					name = `\u006b` + name
				}
				sb.WriteString(`"` + name + `"`)
				sp()
				sb.WriteByte(':')
				value(d + 1)
			}
			sp()
			sb.WriteByte('}')
		case k < 5 && d < 4:
			sb.WriteByte('[')
			n := rng.IntN(5)
			for i := range n {
				if i > 0 {
					sb.WriteByte(',')
				}
				value(d + 1)
			}
			sb.WriteByte(']')
		case k < 8:
			s := genStrings[rng.IntN(len(genStrings))]
			if rng.IntN(4) == 0 {
				sb.Write(must(json.Marshal(s)))
			} else {
				q, _ := json.Marshal(s)
				sb.WriteString(strings.ReplaceAll(string(q), `\u003c`, `<`))
			}
		case k == 8:
			sb.WriteString([]string{"0", "-1", "3.25", "1e9", "12345678901234567890", "true", "false", "null"}[rng.IntN(8)])
		default:
			sb.WriteString(`{"schema":"flx/v1/case","case_id":"XA-RC:x","notes":[{"text":"last seen near the market"}]}`)
		}
		sp()
	}
	sb.WriteByte('{')
	sb.WriteString(`"schema":"flx/v1/case","data":`)
	value(depth)
	sb.WriteByte('}')
	if rng.IntN(30) == 0 {
		return `{"a":` // invalid
	}
	return sb.String()
}

// mutate changes raw in one way an attacker or a broken link might.
func mutate(rng *rand.Rand, raw []byte) []byte {
	b := bytes.Clone(raw)
	if len(b) == 0 {
		return b
	}
	i := rng.IntN(len(b))
	switch rng.IntN(9) {
	case 0:
		b[i] ^= byte(1 << rng.IntN(8))
	case 1:
		const odd = "\n\r=+/. A_-\"\\{}"
		b[i] = odd[rng.IntN(len(odd))]
	case 2:
		return b[:i]
	case 3:
		return append(b[:i:i], append([]byte("\r\n"), b[i:]...)...)
	case 4:
		return append(b[:i:i], append([]byte("."), b[i:]...)...)
	case 5:
		return append(b, "="[:rng.IntN(2)]+"A"...)
	case 6:
		if j := bytes.LastIndexByte(b, '.'); j > 0 && j < len(b)-1 {
			b[j+1+rng.IntN(len(b)-j-1)] = "ABCDwxyz019-_"[rng.IntN(13)]
		}
	case 7:
		return b[1:]
	default:
		return append(bytes.Clone(b), b[len(b)-1])
	}
	return b
}

// payloadVariants are the claims of payload rewritten in forms a strict
// reader must refuse or read as encoding/json would.
func payloadVariants(rng *rand.Rand, payload []byte) [][]byte {
	s := string(payload)
	out := [][]byte{
		[]byte(strings.Replace(s, `"iss"`, `"ISS"`, 1)),
		[]byte(strings.Replace(s, `"iss"`, `"\u0069ss"`, 1)),
		[]byte(strings.Replace(s, `"aud":"XB-RC"`, `"aud":"XB-RC","aud":"XB-RC"`, 1)),
		[]byte(strings.Replace(s, `{"iss"`, `{ "iss" `, 1)),
		[]byte(strings.Replace(s, `"jti":`, `"jti" : `, 1)),
		[]byte(strings.Replace(s, `"iat":`, `"iat":"1"`+`,"x":`, 1)),
		[]byte(strings.Replace(s, `"body":`, `"body":{"a":1,"a":2},"b":`, 1)),
		[]byte(strings.Replace(s, `"body":{`, `"body":{"dup":1,"dup":2,`, 1)),
		[]byte(strings.Replace(s, `"body":`, `"body": `, 1) + " "),
		[]byte(s + "x"),
		[]byte(strings.Replace(s, `"kind":"`, `"kind":"\u0063`, 1)),
		[]byte(strings.Replace(s, `"case_id":"XA-RC:`, "\"case_id\":\"XA-RC:\xff", 1)),
		[]byte(strings.Replace(s, `"iat":`, `"iat":1.0,"y":`, 1)),
		[]byte(strings.Replace(s, `"exp":`, `"exp":null,"z":`, 1)),
		[]byte(strings.Replace(s, `"body":`, `"body":`+strings.Repeat("[", 3)+"1"+strings.Repeat("]", 3)+`,"q":`, 1)),
	}
	if len(s) > 10 {
		i := 1 + rng.IntN(len(s)-2)
		out = append(out, []byte(s[:i]+s[i+1:]))
	}
	return out
}
