package conformance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/schema"
)

var b64 = base64.RawURLEncoding

// rawSigner signs arbitrary JWS signing inputs, so that checks can build
// envelopes that federation.Sign would never produce (odd headers,
// malformed claims).
type rawSigner struct {
	alg string
	kid string
	ed  ed25519.PrivateKey
	ec  *ecdsa.PrivateKey
}

func signerOf(k *jose.PrivateKey) *rawSigner {
	j, err := jose.MarshalPrivateJWK(k)
	if err != nil {
		panic(err)
	}
	var m struct{ D string }
	_ = json.Unmarshal(j, &m)
	d, _ := b64.DecodeString(m.D)
	s := &rawSigner{alg: string(k.Alg()), kid: k.KID()}
	switch k.Alg() {
	case jose.EdDSA:
		s.ed = ed25519.NewKeyFromSeed(d)
	case jose.ES256:
		ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			panic(err)
		}
		s.ec = ec
	}
	return s
}

func (s *rawSigner) sign(input []byte) []byte {
	if s.ed != nil {
		return ed25519.Sign(s.ed, input)
	}
	sum := sha256.Sum256(input)
	r, ss, err := ecdsa.Sign(rand.Reader, s.ec, sum[:])
	if err != nil {
		panic(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	ss.FillBytes(out[32:])
	return out
}

// compact assembles header.payload.signature, signing with s (nil: empty
// signature).
func compact(header, payload []byte, s *rawSigner) []byte {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var sig []byte
	if s != nil {
		sig = s.sign([]byte(input))
	}
	return []byte(input + "." + b64.EncodeToString(sig))
}

func hmacCompact(header, payload, secret []byte) []byte {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return []byte(input + "." + b64.EncodeToString(mac.Sum(nil)))
}

func header(alg, kid, typ string) []byte {
	return []byte(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q}`, alg, kid, typ))
}

// Claims are the claims of an envelope the tester builds; Extra members are
// spliced into the payload as they are (for malformed-claim checks).
type Claims struct {
	Iss    string          `json:"iss"`
	Aud    string          `json:"aud"`
	Iat    int64           `json:"iat"`
	Exp    int64           `json:"exp"`
	JTI    string          `json:"jti"`
	Kind   string          `json:"kind"`
	CaseID string          `json:"case_id"`
	Body   json.RawMessage `json:"body"`
}

func (c Claims) payload() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// claims returns well-formed claims from the tester to the candidate.
func (env *Env) claims(kind federation.Kind, body []byte) Claims {
	now := env.now()
	var h struct {
		CaseID string `json:"case_id"`
	}
	_ = json.Unmarshal(body, &h)
	return Claims{
		Iss: MemberTester, Aud: env.candidate, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		JTI: federation.NewJTI(), Kind: string(kind), CaseID: h.CaseID, Body: body,
	}
}

// sign signs claims with the named tester key (typ flx-envelope+jws).
func (env *Env) sign(c Claims, key string) []byte {
	s := signerOf(env.id.Keys[key])
	return compact(header(s.alg, s.kid, federation.TypEnvelope), c.payload(), s)
}

// signPayload signs an arbitrary payload with a well-formed header.
func (env *Env) signPayload(payload []byte, key string) []byte {
	s := signerOf(env.id.Keys[key])
	return compact(header(s.alg, s.kid, federation.TypEnvelope), payload, s)
}

// envelope is a valid envelope of kind with body from the tester.
func (env *Env) envelope(kind federation.Kind, body []byte) ([]byte, Claims) {
	c := env.claims(kind, body)
	return env.sign(c, keyTester), c
}

// newCaseID returns a fresh case id whose origin is member.
func newCaseID(member string) string {
	return member + ":conf-" + strings.ToLower(hex.EncodeToString(randBytes(6)))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// setMembers returns doc (a JSON object) with top-level members set.
func setMembers(doc []byte, kv map[string]any) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		panic(err)
	}
	for k, v := range kv {
		if v == nil {
			delete(m, k)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		m[k] = b
	}
	out, _ := json.Marshal(m)
	return out
}

func example(name string) []byte {
	ex, ok := schema.ExampleNamed(name)
	if !ok {
		panic("conformance: no schema example " + name)
	}
	return ex.Doc
}

// caseDoc is a minimal valid case whose origin is member.
func caseDoc(caseID, member string) []byte {
	doc := example("case.tracing_request.minimal")
	var origin map[string]any
	var m map[string]json.RawMessage
	_ = json.Unmarshal(doc, &m)
	_ = json.Unmarshal(m["origin"], &origin)
	origin["member"] = member
	return setMembers(doc, map[string]any{"case_id": caseID, "origin": origin})
}

func withdrawalDoc(caseID string) []byte {
	return []byte(fmt.Sprintf(`{"schema":"flx/v1/withdrawal","case_id":%q,"reason":"consent_withdrawn","withdrawn_at":%q}`,
		caseID, time.Now().UTC().Format(time.RFC3339)))
}

func messageDoc(caseID string) []byte {
	return setMembers(example("message.family_news"), map[string]any{"case_id": caseID, "message_id": "XD-TESTER:msg-" + hex.EncodeToString(randBytes(4))})
}

func responseDoc(caseID, responder string) []byte {
	return setMembers(example("response.not_found"), map[string]any{"case_id": caseID, "responder": responder})
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Problem is an RFC 9457 problem document as FLX sends it (SPEC.md §8.1).
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"errors"`
}

// ParseProblem decodes and checks a problem document against FLX-ERR-001:
// a JSON object with type urn:flx:problem:<code>, a string title, status
// and code. It does not compare status with the HTTP status.
func ParseProblem(body []byte) (*Problem, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	for _, k := range []string{"type", "title", "status", "code"} {
		if _, ok := raw[k]; !ok {
			return nil, fmt.Errorf("member %q missing", k)
		}
	}
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("members of the wrong type: %v", err)
	}
	switch {
	case p.Code == "":
		return nil, errors.New("empty code")
	case p.Type != "urn:flx:problem:"+p.Code:
		return nil, fmt.Errorf("type %q is not urn:flx:problem:%s", p.Type, p.Code)
	case p.Title == "":
		return nil, errors.New("empty title")
	}
	return &p, nil
}

// Metadata is the body of GET /.well-known/flx (SPEC.md §6.2).
type Metadata struct {
	Member           string   `json:"member"`
	ProtocolVersions []string `json:"protocol_versions"`
	SchemaVersions   []string `json:"schema_versions"`
	Limits           struct {
		MaxBodyBytes     int64 `json:"max_body_bytes"`
		ClockSkewSeconds int64 `json:"clock_skew_seconds"`
	} `json:"limits"`
	Accepts  []string `json:"accepts"`
	Manifest *struct {
		Federation string `json:"federation"`
		Version    int64  `json:"version"`
	} `json:"manifest"`
}

// ParseMetadata decodes node metadata, requiring every member of
// FLX-API-001 to be present with its type.
func ParseMetadata(body []byte) (*Metadata, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	for _, k := range []string{"member", "protocol_versions", "schema_versions", "limits", "accepts", "manifest"} {
		if v, ok := raw[k]; !ok || string(v) == "null" {
			return nil, fmt.Errorf("member %q missing", k)
		}
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("members of the wrong type: %v", err)
	}
	if md.Manifest == nil {
		return nil, errors.New("manifest missing")
	}
	return &md, nil
}

// statusFor is the HTTP status SPEC.md §8.2 gives a problem code.
func statusFor(code string) int { return problem.Code(code).HTTPStatus() }

// mustRefuse requires ans to be a refusal with code (FLX-ERR-001,
// FLX-ERR-002 on every refusal) and returns its problem document.
func mustRefuse(t TB, ans *Answer, code string) *Problem {
	t.Helper()
	p, err := shouldRefuse(ans, code)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// shouldRefuse is mustRefuse returning the mismatch instead of failing.
func shouldRefuse(ans *Answer, code string) (*Problem, error) {
	want := statusFor(code)
	if ans.Status != want {
		return nil, fmt.Errorf("want %d %s, got %s", want, code, ans)
	}
	p, err := checkProblem(ans)
	if err != nil {
		return nil, err
	}
	if p.Code != code {
		return nil, fmt.Errorf("want code %s, got %s", code, ans)
	}
	return p, nil
}

// checkProblem checks an error answer's form (FLX-ERR-001).
func checkProblem(ans *Answer) (*Problem, error) {
	mt, _, _ := mime.ParseMediaType(ans.Header.Get("Content-Type"))
	if !strings.EqualFold(mt, "application/problem+json") {
		return nil, fmt.Errorf("refusal with Content-Type %q, want application/problem+json (FLX-ERR-001): %s", ans.Header.Get("Content-Type"), ans)
	}
	p, err := ParseProblem(ans.Body)
	if err != nil {
		return nil, fmt.Errorf("problem document: %v (FLX-ERR-001): %s", err, ans)
	}
	if p.Status != ans.Status {
		return nil, fmt.Errorf("problem status %d differs from HTTP status %d (FLX-ERR-001)", p.Status, ans.Status)
	}
	return p, nil
}

// mustAccept requires a 202 with a receipt for raw (sent with claims c)
// whose status is want, checked under FLX-RCP-001..003.
func (env *Env) mustAccept(t TB, ans *Answer, raw []byte, c Claims, want federation.ReceiptStatus) *federation.Receipt {
	t.Helper()
	r, err := env.checkReceipt(ans, raw, c, want)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return r
}

func (env *Env) checkReceipt(ans *Answer, raw []byte, c Claims, want federation.ReceiptStatus) (*federation.Receipt, error) {
	if ans.Status != http.StatusAccepted {
		return nil, fmt.Errorf("want 202 with a receipt, got %s", ans)
	}
	mt, _, _ := mime.ParseMediaType(ans.Header.Get("Content-Type"))
	if !strings.EqualFold(mt, "application/jose") {
		return nil, fmt.Errorf("receipt Content-Type %q, want application/jose (FLX-RCP-001)", ans.Header.Get("Content-Type"))
	}
	if !bytes.Equal(bytes.TrimSpace(ans.Body), ans.Body) {
		return nil, errors.New("receipt surrounded by whitespace (FLX-RCP-001)")
	}
	now := env.now()
	r, err := federation.VerifyReceipt(ans.Body, env.id.Manifest, federation.ExpectedReceipt{
		Issuer: env.candidate, Audience: c.Iss, ReceiptFor: c.JTI, SHA256: sha256Hex(raw), Skew: env.skew,
	}, now)
	if err != nil {
		return nil, fmt.Errorf("receipt does not verify (FLX-RCP-002/003): %v", err)
	}
	if d := r.IssuedAt.Sub(now); d > env.skew || d < -env.skew-5*time.Second {
		return nil, fmt.Errorf("receipt iat %s is not within SKEW of now %s (FLX-RCP-003)", r.IssuedAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if r.Status != want {
		return nil, fmt.Errorf("receipt status %q, want %q", r.Status, want)
	}
	return r, nil
}
