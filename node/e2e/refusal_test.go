package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// marker is put in invalid fields: no problem document may echo it.
const marker = "ZZMARKER-Karo-Sampleyan-7731"

// problemDoc is an RFC 9457 problem document as the node answers it.
type problemDoc struct {
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

// answer is what the node answered to one request.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	problem problemDoc
}

// send makes one request and reads the whole answer.
func send(t testing.TB, c *http.Client, method, url, ctype string, body io.Reader) (answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(b, &a.problem); err != nil {
			t.Fatalf("problem document does not decode: %v: %s", err, b)
		}
	}
	return a, nil
}

// wantProblem checks a problem document: status, code, RFC 9457 shape,
// and that it echoes nothing of the body (the marker).
func wantProblem(t testing.TB, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.problem.Code != code {
		t.Fatalf("answer %d %q, want %d %q: %s", a.status, a.problem.Code, status, code, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if a.problem.Status != status || a.problem.Type == "" || a.problem.Title == "" {
		t.Errorf("problem document %s: status member %d, type %q, title %q", a.body, a.problem.Status, a.problem.Type, a.problem.Title)
	}
	if bytes.Contains(a.body, []byte(marker)) {
		t.Errorf("problem document echoes a body value: %s", a.body)
	}
}

// refusalFixture makes envelopes for ICRC-CTA, each about a new case.
type refusalFixture struct {
	url string
	n   int // case counter
}

func (r *refusalFixture) caseID() string {
	r.n++
	return fmt.Sprintf("XA-RC:R-%04d", r.n)
}

// claims are valid claims of a case.create from XA-RC to ICRC-CTA.
func (r *refusalFixture) claims(t testing.TB) federation.Claims {
	now := time.Now()
	id := r.caseID()
	return federation.Claims{
		Issuer: "XA-RC", Audience: "ICRC-CTA", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: id, Body: minimalCase(t, id),
	}
}

func sign(t testing.TB, c federation.Claims, k *jose.PrivateKey) []byte {
	t.Helper()
	raw, err := federation.Sign(c, k)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

// forge replaces the header and signature of a signed envelope.
func forge(t testing.TB, signed []byte, header string, sig func(input []byte) []byte) []byte {
	t.Helper()
	parts := strings.Split(string(signed), ".")
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1]
	var s []byte
	if sig != nil {
		s = sig([]byte(in))
	}
	return []byte(in + "." + base64.RawURLEncoding.EncodeToString(s))
}

// tamper re-encodes the payload of a signed envelope with a change, keeping
// its header and signature.
func tamper(t testing.TB, signed []byte, edit func(string) string) []byte {
	t.Helper()
	parts := strings.Split(string(signed), ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(p))
	if changed == string(p) {
		t.Fatal("tamper changed nothing")
	}
	return []byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(changed)) + "." + parts[2])
}

// TestRefusalCodes sends, from real peers over mTLS, one envelope per
// refusal code of the receive path and checks the answer: status, problem
// code, and that nothing of the body is echoed.
func TestRefusalCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society", "ICRC-CTA:XC:coordinator")
	// ICRC-CTA takes everything but messages (for unsupported_kind).
	f.Member(t, "ICRC-CTA").Accepts = []federation.Kind{federation.KindCaseCreate, federation.KindCaseUpdate,
		federation.KindCaseResponse, federation.KindCaseWithdraw}
	ln := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	f.Sign(t)
	cta := nodetest.Start(t, f, "ICRC-CTA", ln, nodetest.Options{})
	r := &refusalFixture{url: cta.FedURL + "/flx/v1/envelopes"}
	xa := nodetest.Client(t, f, "XA-RC", cta)
	xb := nodetest.Client(t, f, "XB-RC", cta)
	keyA, keyB := f.Member(t, "XA-RC").Key, f.Member(t, "XB-RC").Key

	post := func(t *testing.T, c *http.Client, ctype string, body []byte) answer {
		t.Helper()
		a, err := send(t, c, http.MethodPost, r.url, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		return a
	}

	t.Run("unauthenticated_peer", func(t *testing.T) {
		// No client certificate: the TLS 1.3 handshake is refused (the
		// server requires one), so no HTTP answer at all.
		noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, // the server is not what is tested here
		}}}
		// A certificate of another CA claiming to be XA-RC, and one of the
		// federation CA for a member that is not in the manifest.
		otherCA, err := devca.New("Not the federation CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		forgedXA, err := otherCA.IssueMember("XA-RC", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := f.CA.IssueMember("XZ-RC", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		dir := f.Manifest.TLSDirectory()
		for name, c := range map[string]*http.Client{
			"no certificate":              noCert,
			"certificate of another CA":   mtls.NewClient(forgedXA.TLS, dir, "ICRC-CTA", 5*time.Second),
			"federation CA, unpinned key": mtls.NewClient(stranger.TLS, dir, "ICRC-CTA", 5*time.Second),
		} {
			a, err := send(t, c, http.MethodPost, r.url, "application/jose", bytes.NewReader(sign(t, r.claims(t), keyA)))
			if err == nil {
				t.Errorf("%s: answered %d %s; want the TLS handshake refused", name, a.status, a.body)
				continue
			}
			t.Logf("%s: refused: %v", name, err)
		}
	})

	type row struct {
		name    string
		client  *http.Client // default XA-RC
		ctype   string       // default application/jose
		body    func(t *testing.T) []byte
		status  int
		code    federation.Code
		pointer string // schema_invalid: a pointer in errors[]
	}
	rows := []row{
		{name: "sender_mismatch: XB-RC's certificate, iss XA-RC", client: xb,
			body: func(t *testing.T) []byte { return sign(t, r.claims(t), keyA) }, status: 403, code: federation.CodeSenderMismatch},
		{name: "bad_envelope: garbage",
			body: func(*testing.T) []byte { return []byte("not a JWS at all " + marker) }, status: 400, code: federation.CodeBadEnvelope},
		{name: "bad_envelope: wrong content type", ctype: "application/json",
			body: func(t *testing.T) []byte { return sign(t, r.claims(t), keyA) }, status: 400, code: federation.CodeBadEnvelope},
		{name: "bad_envelope: case_id claim differs from the body's",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.Body = minimalCase(t, "XA-RC:"+marker)
				return sign(t, c, keyA)
			}, status: 400, code: federation.CodeBadEnvelope},
		{name: "bad_envelope: forbidden header (jwk)",
			body: func(t *testing.T) []byte {
				return forge(t, sign(t, r.claims(t), keyA), `{"alg":"EdDSA","kid":"`+keyA.KID()+`","typ":"flx-envelope+jws","jwk":{}}`, edSign(t, keyA))
			}, status: 400, code: federation.CodeBadEnvelope},
		{name: "unsupported_alg: none",
			body: func(t *testing.T) []byte {
				return forge(t, sign(t, r.claims(t), keyA), `{"alg":"none","kid":"`+keyA.KID()+`","typ":"flx-envelope+jws"}`, nil)
			}, status: 400, code: federation.CodeUnsupportedAlg},
		{name: "unsupported_alg: HS256 keyed with the public key",
			body: func(t *testing.T) []byte {
				pub, _ := json.Marshal(keyA.Public())
				return forge(t, sign(t, r.claims(t), keyA), `{"alg":"HS256","kid":"`+keyA.KID()+`","typ":"flx-envelope+jws"}`,
					func(in []byte) []byte { h := hmac.New(sha256.New, pub); h.Write(in); return h.Sum(nil) })
			}, status: 400, code: federation.CodeUnsupportedAlg},
		{name: "unknown_key: kid of another member",
			body: func(t *testing.T) []byte { return sign(t, r.claims(t), keyB) }, status: 400, code: federation.CodeUnknownKey},
		{name: "unknown_key: kid of no member",
			body: func(t *testing.T) []byte {
				k, err := jose.GenerateKey(jose.EdDSA)
				if err != nil {
					t.Fatal(err)
				}
				return sign(t, r.claims(t), k)
			}, status: 400, code: federation.CodeUnknownKey},
		{name: "bad_signature: tampered payload",
			body: func(t *testing.T) []byte {
				return tamper(t, sign(t, r.claims(t), keyA), func(p string) string { return strings.Replace(p, `"open"`, `"closed_negative"`, 1) })
			}, status: 400, code: federation.CodeBadSignature},
		{name: "expired",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.IssuedAt, c.ExpiresAt = time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour)
				return sign(t, c, keyA)
			}, status: 400, code: federation.CodeExpired},
		{name: "not_yet_valid",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.IssuedAt, c.ExpiresAt = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
				return sign(t, c, keyA)
			}, status: 400, code: federation.CodeNotYetValid},
		{name: "wrong_audience",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.Audience = "XB-RC"
				return sign(t, c, keyA)
			}, status: 400, code: federation.CodeWrongAudience},
		{name: "schema_invalid",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.Body = patch(t, c.Body, map[string]any{"status": marker})
				return sign(t, c, keyA)
			}, status: 422, code: federation.CodeSchemaInvalid, pointer: "/status"},
		{name: "too_large",
			body: func(*testing.T) []byte { return bytes.Repeat([]byte("a"), 1<<20+1) }, status: 413, code: federation.CodeTooLarge},
		{name: "unsupported_kind: ICRC-CTA does not accept messages",
			body: func(t *testing.T) []byte {
				c := r.claims(t)
				c.Kind = federation.KindMessageDeliver
				c.Body = patch(t, readTestdata(t, "rcm.json"), map[string]any{"case_id": c.CaseID})
				return sign(t, c, keyA)
			}, status: 422, code: federation.CodeUnsupportedKind},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			c, ct := tc.client, tc.ctype
			if c == nil {
				c = xa
			}
			if ct == "" {
				ct = "application/jose"
			}
			a := post(t, c, ct, tc.body(t))
			wantProblem(t, a, tc.status, string(tc.code))
			if tc.pointer != "" {
				var ptrs []string
				for _, e := range a.problem.Errors {
					ptrs = append(ptrs, e.Pointer)
				}
				if !strings.Contains(strings.Join(ptrs, " "), tc.pointer) {
					t.Errorf("errors[].pointer %v, want %s among them", ptrs, tc.pointer)
				}
			}
		})
	}

	t.Run("too_large: chunked, no Content-Length", func(t *testing.T) {
		big := io.MultiReader(strings.NewReader(strings.Repeat("a", 1<<20)), strings.NewReader("a"))
		a, err := send(t, xa, http.MethodPost, r.url, "application/jose", big)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, a, 413, string(federation.CodeTooLarge))
	})

	t.Run("replay: same jti, other bytes", func(t *testing.T) {
		c := r.claims(t)
		first := sign(t, c, keyA)
		if a := post(t, xa, "application/jose", first); a.status != http.StatusAccepted {
			t.Fatalf("first: %d %s", a.status, a.body)
		}
		id := r.caseID()
		c.CaseID, c.Body = id, minimalCase(t, id)
		wantProblem(t, post(t, xa, "application/jose", sign(t, c, keyA)), 409, string(federation.CodeReplay))
	})

	t.Run("refused envelope is not recorded", func(t *testing.T) {
		// FLX-DLV-013: the same refused bytes get the same refusal, and the
		// jti stays usable for a corrected envelope.
		c := r.claims(t)
		good := c.Body
		c.Body = patch(t, c.Body, map[string]any{"status": marker})
		bad := sign(t, c, keyA)
		for range 2 {
			wantProblem(t, post(t, xa, "application/jose", bad), 422, string(federation.CodeSchemaInvalid))
		}
		c.Body = good
		if a := post(t, xa, "application/jose", sign(t, c, keyA)); a.status != http.StatusAccepted {
			t.Fatalf("corrected envelope with the same jti: %d %s", a.status, a.body)
		}
	})

	t.Run("duplicate: same bytes twice", func(t *testing.T) {
		c := r.claims(t)
		raw := sign(t, c, keyA)
		sum := sha256.Sum256(raw)
		want := federation.ExpectedReceipt{Issuer: "ICRC-CTA", Audience: "XA-RC", ReceiptFor: c.JTI, SHA256: hex.EncodeToString(sum[:])}
		receipt := func() federation.ReceiptStatus {
			t.Helper()
			a := post(t, xa, "application/jose", raw)
			if a.status != http.StatusAccepted || a.header.Get("Content-Type") != "application/jose" {
				t.Fatalf("answer %d %q: %s", a.status, a.header.Get("Content-Type"), a.body)
			}
			rc, err := federation.VerifyReceipt(bytes.TrimSpace(a.body), f.Manifest, want, time.Now())
			if err != nil {
				t.Fatalf("receipt: %v", err)
			}
			return rc.Status
		}
		if s := receipt(); s != federation.ReceiptAccepted {
			t.Fatalf("first receipt %s", s)
		}
		waitProcessed(t, cta.Store, c.CaseID, string(c.Kind), 1)
		if s := receipt(); s != federation.ReceiptDuplicate {
			t.Fatalf("second receipt %s, want duplicate", s)
		}
		if err := cta.ProcessInbox(ctx); err != nil { // nothing left to process
			t.Fatal(err)
		}
		rows := allInbox(t, cta.Store, store.InboxFilter{CaseID: c.CaseID})
		if len(rows) != 1 || rows[0].JTI != federation.ReplayKey("XA-RC", c.JTI) {
			t.Fatalf("inbox holds %d rows for the case, want 1", len(rows))
		}
		if n := processCounts(t, cta.Store, c.CaseID)[rows[0].ID]; n != 1 {
			t.Errorf("processed %d times, want once", n)
		}
		if got, err := cta.Store.GetCase(ctx, c.CaseID); err != nil || got.Version != 1 {
			t.Errorf("case at ICRC-CTA: version %d, %v", got.Version, err)
		}
	})

	t.Run("404 and 405", func(t *testing.T) {
		a, err := send(t, xa, http.MethodGet, cta.FedURL+"/flx/v1/nothing-here", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, a, 404, "not_found")
		a, err = send(t, xa, http.MethodGet, r.url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, a, 405, "method_not_allowed")
		if allow := a.header.Get("Allow"); allow != "POST" {
			t.Errorf("Allow %q, want POST", allow)
		}
	})

	// Last: it changes the manifest. A suspended member cannot get as far
	// as suspended_member over mTLS: its certificate pin authenticates no
	// one any more (mtls: MemberBySPKI returns only active members), so an
	// open connection gets 401 unauthenticated_peer at its next request and
	// a new connection fails the handshake. (The envelope check that
	// answers suspended_member needs an authenticated peer equal to iss, an
	// active member by construction.) The code is still the verifier's
	// answer for an envelope checked without a transport identity.
	t.Run("suspended_member", func(t *testing.T) {
		xc := nodetest.Client(t, f, "XC-RC", cta)
		keyC := f.Member(t, "XC-RC").Key
		claims := func() federation.Claims {
			c := r.claims(t)
			c.Issuer = "XC-RC"
			c.CaseID = strings.Replace(c.CaseID, "XA-RC", "XC-RC", 1)
			c.Body = minimalCase(t, c.CaseID)
			return c
		}
		var reused []bool
		trace := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }})
		postXC := func(raw []byte) (answer, error) {
			req, _ := http.NewRequestWithContext(trace, http.MethodPost, r.url, bytes.NewReader(raw))
			req.Header.Set("Content-Type", "application/jose")
			resp, err := xc.Do(req)
			if err != nil {
				return answer{}, err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			a := answer{status: resp.StatusCode, header: resp.Header, body: b}
			_ = json.Unmarshal(b, &a.problem)
			return a, nil
		}
		if a, err := postXC(sign(t, claims(), keyC)); err != nil || a.status != http.StatusAccepted {
			t.Fatalf("XC-RC while active: %v %d %s", err, a.status, a.body)
		}

		f.Member(t, "XC-RC").Status = federation.StatusSuspended
		f.Sign(t)
		cta.UpdateManifest(t, f)

		raw := sign(t, claims(), keyC)
		a, err := postXC(raw)
		if err != nil {
			t.Fatalf("on the open connection: %v", err)
		}
		if len(reused) != 2 || !reused[1] {
			t.Fatalf("the second request did not reuse the connection (%v)", reused)
		}
		wantProblem(t, a, 401, string(federation.CodeUnauthenticatedPeer))

		fresh := nodetest.Client(t, f, "XC-RC", cta)
		if a, err := send(t, fresh, http.MethodPost, r.url, "application/jose", bytes.NewReader(raw)); err == nil {
			t.Errorf("new connection of a suspended member: answered %d %s, want the handshake refused", a.status, a.body)
		}

		_, err = cta.Receive(ctx, "", raw)
		var re *node.Error
		if !errors.As(err, &re) || re.Code != federation.CodeSuspendedMember || re.Code.HTTPStatus() != http.StatusForbidden {
			t.Errorf("Receive without a transport identity: %v, want suspended_member (403)", err)
		}
	})
}

// edSign signs with an Ed25519 key through the standard library (for
// headers jose.Sign refuses to write).
func edSign(t testing.TB, k *jose.PrivateKey) func([]byte) []byte {
	t.Helper()
	j, err := jose.MarshalPrivateJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ D string }
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	seed, err := base64.RawURLEncoding.DecodeString(m.D)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}
