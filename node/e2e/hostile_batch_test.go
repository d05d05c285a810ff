package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// hostileEntry is one envelope of a hostile batch: its bytes and, for a
// refused one, the status and code it must get. A valid one (code "") is
// accepted the first time its jti is seen, a duplicate when the same bytes
// come again, and a replay when other bytes come under that jti.
type hostileEntry struct {
	name   string
	raw    []byte
	jti    string // valid ones
	status int
	code   problem.Code
}

// hostileKit builds the entries of hostile batches from XA-RC (the
// authenticated peer) to XB-RC.
// hostileXB starts XB-RC on d in a federation of XA-RC and XB-RC, and the
// kit that makes XA-RC's envelopes, good and bad.
func hostileXB(t *testing.T, d nodetest.Dialect) (*fedtest.Federation, *nodetest.Node, *hostileKit) {
	t.Helper()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d})
	return f, xb, &hostileKit{t: t, f: f}
}

type hostileKit struct {
	t      testing.TB
	f      *fedtest.Federation
	n      int
	stray  *jose.PrivateKey // a key no manifest lists
	maxEnv int64
}

func (k *hostileKit) next() (jti, caseID string) {
	k.n++
	return fmt.Sprintf("hostile-%d-%s", k.n, federation.NewJTI()), fmt.Sprintf("XA-RC:H-%d", k.n)
}

// claims is a valid case.create from XA-RC to XB-RC.
func (k *hostileKit) claims() federation.Claims {
	jti, id := k.next()
	now := time.Now()
	return federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: jti, Kind: federation.KindCaseCreate, CaseID: id, Body: minimalCase(k.t, id)}
}

func (k *hostileKit) sign(c federation.Claims, key *jose.PrivateKey) []byte {
	k.t.Helper()
	raw, err := federation.Sign(c, key)
	if err != nil {
		k.t.Fatal(err)
	}
	return raw
}

// signPayload signs raw claims bytes as an envelope with XA-RC's key.
func (k *hostileKit) signPayload(payload []byte) []byte {
	k.t.Helper()
	raw, err := jose.Sign(payload, federation.TypEnvelope, k.f.Member(k.t, "XA-RC").Key)
	if err != nil {
		k.t.Fatal(err)
	}
	return raw
}

// payloadOf returns the claims bytes of a compact JWS.
func payloadOf(t testing.TB, raw []byte) []byte {
	t.Helper()
	parts := bytes.Split(raw, []byte("."))
	p, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (k *hostileKit) valid(name string, c federation.Claims, raw []byte) hostileEntry {
	return hostileEntry{name: name, raw: raw, jti: c.JTI, status: http.StatusAccepted}
}

func (k *hostileKit) refused(name string, raw []byte, code problem.Code) hostileEntry {
	return hostileEntry{name: name, raw: raw, status: code.HTTPStatus(), code: code}
}

// builders: each makes a fresh entry of one kind.
func (k *hostileKit) builders() map[string]func() hostileEntry {
	xa := k.f.Member(k.t, "XA-RC").Key
	return map[string]func() hostileEntry{
		"valid": func() hostileEntry { c := k.claims(); return k.valid("valid", c, k.sign(c, xa)) },
		// Claims written in another order with whitespace, and a member id
		// and the jti written with escapes: the same JSON values, accepted;
		// the receipt binds these exact bytes.
		"valid, claims not canonical": func() hostileEntry {
			c := k.claims()
			p := fmt.Sprintf(` { "body" : %s , "case_id":"%s", "kind":"case.create","jti" : "%s",
				"exp": %d, "iat": %d, "aud":"XB\u002dRC", "iss" : "XA-RC" } `,
				c.Body, c.CaseID, strings.ReplaceAll(c.JTI, "-", `\u002d`), c.ExpiresAt.Unix(), c.IssuedAt.Unix())
			return k.valid("valid, claims not canonical", c, k.signPayload([]byte(p)))
		},
		// A jti holding a quote and a backslash (U+0021..U+007E): the
		// receipt carries them escaped.
		"valid, jti with quote and backslash": func() hostileEntry {
			c := k.claims()
			c.JTI = c.JTI[:20] + `"\` + `q`
			return k.valid("valid, jti with quote and backslash", c, k.sign(c, xa))
		},
		"forged signature": func() hostileEntry {
			raw := k.sign(k.claims(), xa)
			at := bytes.LastIndexByte(raw, '.') + 10
			raw[at] = map[bool]byte{true: 'B', false: 'A'}[raw[at] == 'A']
			return k.refused("forged signature", raw, problem.BadSignature)
		},
		"payload changed under the signature": func() hostileEntry {
			c := k.claims()
			raw := k.sign(c, xa)
			parts := bytes.Split(raw, []byte("."))
			p := bytes.Replace(payloadOf(k.t, raw), []byte(c.CaseID), []byte(c.CaseID+"0"), -1)
			parts[1] = []byte(base64.RawURLEncoding.EncodeToString(p))
			return k.refused("payload changed under the signature", bytes.Join(parts, []byte(".")), problem.BadSignature)
		},
		"key no manifest lists": func() hostileEntry {
			return k.refused("key no manifest lists", k.sign(k.claims(), k.stray), problem.UnknownKey)
		},
		"another member's key": func() hostileEntry {
			return k.refused("another member's key", k.sign(k.claims(), k.f.Member(k.t, "XC-RC").Key), problem.UnknownKey)
		},
		// XA-RC (the mTLS identity) passes on an envelope XC-RC signed.
		"another member's issuer": func() hostileEntry {
			c := k.claims()
			c.Issuer, c.CaseID = "XC-RC", strings.Replace(c.CaseID, "XA-RC", "XC-RC", 1)
			c.Body = minimalCase(k.t, c.CaseID)
			return k.refused("another member's issuer", k.sign(c, k.f.Member(k.t, "XC-RC").Key), problem.SenderMismatch)
		},
		"wrong audience": func() hostileEntry {
			c := k.claims()
			c.Audience = "XC-RC"
			return k.refused("wrong audience", k.sign(c, xa), problem.WrongAudience)
		},
		"expired": func() hostileEntry {
			c := k.claims()
			c.IssuedAt, c.ExpiresAt = time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour)
			return k.refused("expired", k.sign(c, xa), problem.Expired)
		},
		"not yet valid": func() hostileEntry {
			c := k.claims()
			c.IssuedAt, c.ExpiresAt = time.Now().Add(2*time.Hour), time.Now().Add(3*time.Hour)
			return k.refused("not yet valid", k.sign(c, xa), problem.NotYetValid)
		},
		"schema invalid": func() hostileEntry {
			c := k.claims()
			c.Body = []byte(`{"case_id":"` + c.CaseID + `"}`)
			return k.refused("schema invalid", k.sign(c, xa), problem.SchemaInvalid)
		},
		"duplicated claim": func() hostileEntry {
			c := k.claims()
			p := payloadOf(k.t, k.sign(c, xa))
			p = append([]byte(`{"jti":"`+c.JTI+`x",`), p[1:]...)
			return k.refused("duplicated claim", k.signPayload(p), problem.BadEnvelope)
		},
		"unknown claim": func() hostileEntry {
			p := payloadOf(k.t, k.sign(k.claims(), xa))
			p = append([]byte(`{"x5u":"https://evil.test/",`), p[1:]...)
			return k.refused("unknown claim", k.signPayload(p), problem.BadEnvelope)
		},
		"claim in other case": func() hostileEntry {
			p := payloadOf(k.t, k.sign(k.claims(), xa))
			p = bytes.Replace(p, []byte(`"kind"`), []byte(`"Kind"`), 1)
			return k.refused("claim in other case", k.signPayload(p), problem.BadEnvelope)
		},
		"HS256 header": func() hostileEntry {
			raw := k.sign(k.claims(), xa)
			parts := bytes.Split(raw, []byte("."))
			h := fmt.Sprintf(`{"alg":"HS256","kid":"%s","typ":"flx-envelope+jws"}`, xa.Public().KID())
			parts[0] = []byte(base64.RawURLEncoding.EncodeToString([]byte(h)))
			return k.refused("HS256 header", bytes.Join(parts, []byte(".")), problem.UnsupportedAlg)
		},
		"not a JWS": func() hostileEntry { return k.refused("not a JWS", []byte("not.a-jws"), problem.BadEnvelope) },
		"trailing newline": func() hostileEntry {
			return k.refused("trailing newline", append(k.sign(k.claims(), xa), '\n'), problem.BadEnvelope)
		},
		"empty string": func() hostileEntry { return k.refused("empty string", []byte{}, problem.BadEnvelope) },
		"larger than max_body_bytes": func() hostileEntry {
			return k.refused("larger than max_body_bytes", bytes.Repeat([]byte("A"), int(k.maxEnv)+1), problem.TooLarge)
		},
	}
}

// TestHostileBatches: an authenticated peer sends batches mixing valid
// envelopes with every kind of bad one, generated and shuffled (the seed is
// logged), along with copies of earlier envelopes and other bytes under
// earlier jtis, within a batch and across batches. Each envelope must get
// exactly the answer it would get alone; what was accepted is stored once,
// with the bytes its receipt binds; nothing else is stored.
func TestHostileBatches(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
		f.Sign(t)
		xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d})
		stray, err := jose.GenerateKey(jose.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		k := &hostileKit{t: t, f: f, stray: stray, maxEnv: xb.MaxBodyBytes()}
		builders := k.builders()
		names := make([]string, 0, len(builders))
		for n := range builders {
			names = append(names, n)
		}
		slices.Sort(names)

		stored := map[string][]byte{} // jti -> the bytes accepted under it
		var sent [][]byte             // valid envelopes sent so far (for copies and replays)
		var sentJTI []string
		xa := f.Member(t, "XA-RC").Key
		for round := range 5 {
			var batch []hostileEntry
			// Every kind once in the first round, then a random draw.
			if round == 0 {
				for _, n := range names {
					batch = append(batch, builders[n]())
				}
			} else {
				for range 4 + rng.IntN(12) {
					batch = append(batch, builders[names[rng.IntN(len(names))]]())
				}
			}
			// Copies and other bytes under a jti: of earlier batches, and
			// of this one (before or after the first copy).
			for range 1 + rng.IntN(3) {
				if len(sent) > 0 {
					i := rng.IntN(len(sent))
					batch = append(batch, hostileEntry{name: "copy of an earlier envelope", raw: sent[i], jti: sentJTI[i], status: 202})
					c := k.claims()
					c.JTI = sentJTI[i]
					batch = append(batch, hostileEntry{name: "other bytes under an earlier jti", raw: k.sign(c, xa), jti: c.JTI, status: 202})
				}
			}
			var inBatch []hostileEntry
			for _, e := range batch {
				if e.jti != "" && e.code == "" {
					inBatch = append(inBatch, e)
				}
			}
			for _, e := range inBatch[:min(len(inBatch), 2)] {
				batch = append(batch, hostileEntry{name: "copy in the same batch", raw: e.raw, jti: e.jti, status: 202})
				c := k.claims()
				c.JTI = e.jti
				batch = append(batch, hostileEntry{name: "other bytes under a jti of the same batch", raw: k.sign(c, xa), jti: c.JTI, status: 202})
			}
			rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			if len(batch) > xb.MaxBatchEnvelopes() {
				batch = batch[:xb.MaxBatchEnvelopes()]
			}
			raws := make([][]byte, len(batch))
			for i, e := range batch {
				raws[i] = e.raw
			}
			status, body := postBatch(t, f, xb, "application/json", batchOf(t, raws...))
			if status != http.StatusOK {
				t.Fatalf("round %d: batch answered %d: %s", round, status, body)
			}
			res, err := federation.ParseBatchAnswer(body, len(batch))
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			for i, e := range batch {
				r := res[i]
				what := fmt.Sprintf("round %d envelope %d (%s)", round, i, e.name)
				if e.code != "" {
					if r.Status != e.status || r.Problem == nil || r.Problem.Code != e.code {
						t.Errorf("%s: %d %+v, want %d %s", what, r.Status, r.Problem, e.status, e.code)
					}
					continue
				}
				// A valid envelope: accepted, duplicate or replay by what
				// was stored under its jti before it.
				prev, seen := stored[e.jti]
				wantStatus, wantReceipt := 202, federation.ReceiptAccepted
				switch {
				case seen && bytes.Equal(prev, e.raw):
					wantReceipt = federation.ReceiptDuplicate
				case seen:
					wantStatus = http.StatusConflict
				}
				if r.Status != wantStatus {
					t.Errorf("%s: %d %+v, want %d %s", what, r.Status, r.Problem, wantStatus, wantReceipt)
					continue
				}
				if wantStatus == http.StatusConflict {
					if r.Problem.Code != problem.Replay {
						t.Errorf("%s: code %s, want replay", what, r.Problem.Code)
					}
					continue
				}
				c, err := federation.ClaimsOf(e.raw)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				rc, err := federation.VerifyReceipt([]byte(r.Receipt), f.Manifest, federation.ExpectReceipt(e.raw, c), time.Now())
				switch {
				case err != nil:
					t.Errorf("%s: receipt: %v", what, err)
				case rc.Status != wantReceipt:
					t.Errorf("%s: receipt %s, want %s", what, rc.Status, wantReceipt)
				}
				if !seen {
					stored[e.jti] = e.raw
					sent, sentJTI = append(sent, e.raw), append(sentJTI, e.jti)
				}
			}
		}
		// What was accepted is stored once, with the bytes the receipt
		// bound; nothing else is stored.
		rows := allInbox(t, xb.Store, store.InboxFilter{})
		got := map[string]int{}
		for _, r := range rows {
			got[r.JTI]++
			var jti string
			for j := range stored {
				if federation.ReplayKey("XA-RC", j) == r.JTI {
					jti = j
				}
			}
			raw, ok := stored[jti]
			if !ok {
				t.Errorf("inbox row %s (%s) was never accepted", r.JTI, r.Iss)
				continue
			}
			sum := sha256.Sum256(raw)
			if r.SHA256 != hex.EncodeToString(sum[:]) || (r.Envelope != nil && !bytes.Equal(r.Envelope, raw)) {
				t.Errorf("inbox row %s holds other bytes than the accepted ones", r.JTI)
			}
		}
		for j := range stored {
			if n := got[federation.ReplayKey("XA-RC", j)]; n != 1 {
				t.Errorf("jti %q stored %d times", j, n)
			}
		}
		if len(rows) != len(stored) {
			t.Errorf("%d inbox rows, %d envelopes accepted", len(rows), len(stored))
		}
	})
}

// TestHostileBatchesRacing: the same envelopes sent in two batches at once,
// in opposite orders, and alone: every answer is a receipt (accepted or
// duplicate) or, for a batch as a whole, 503 (sent again later), each jti
// is accepted once at most over all the answers, and stored once.
func TestHostileBatchesRacing(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		f, xb, k := hostileXB(t, d)
		xa := f.Member(t, "XA-RC").Key
		var envs [][]byte
		for range 12 {
			envs = append(envs, k.sign(k.claims(), xa))
		}
		rev := make([][]byte, len(envs))
		for i, e := range envs {
			rev[len(envs)-1-i] = e
		}
		var mu sync.Mutex
		accepted := map[string]int{}
		answered := map[string]bool{}
		record := func(raw []byte, r federation.BatchResult) {
			c, _ := federation.ClaimsOf(raw)
			if r.Status != 202 {
				t.Errorf("jti %s: %d %+v", c.JTI, r.Status, r.Problem)
				return
			}
			rc, err := federation.VerifyReceipt([]byte(r.Receipt), f.Manifest, federation.ExpectReceipt(raw, c), time.Now())
			if err != nil {
				t.Errorf("jti %s: receipt: %v", c.JTI, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			answered[c.JTI] = true
			if rc.Status == federation.ReceiptAccepted {
				accepted[c.JTI]++
			}
		}
		var wg sync.WaitGroup
		for round := range 3 {
			for _, b := range [][][]byte{envs, rev, envs} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, body := postBatch(t, f, xb, "application/json", batchOf(t, b...))
					if status == http.StatusServiceUnavailable {
						return // the batch as a whole, sent again later
					}
					res, err := federation.ParseBatchAnswer(body, len(b))
					if status != 200 || err != nil {
						t.Errorf("round %d: %d %s (%v)", round, status, body, err)
						return
					}
					for i, r := range res {
						record(b[i], r)
					}
				}()
			}
			for _, e := range envs[:3] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, body := postBatch(t, f, xb, "application/json", batchOf(t, e))
					if status == http.StatusServiceUnavailable {
						return
					}
					res, err := federation.ParseBatchAnswer(body, 1)
					if status != 200 || err != nil {
						t.Errorf("round %d: %d %s (%v)", round, status, body, err)
						return
					}
					record(e, res[0])
				}()
			}
			wg.Wait()
		}
		for j, n := range accepted {
			if n > 1 {
				t.Errorf("jti %s accepted %d times", j, n)
			}
		}
		rows := allInbox(t, xb.Store, store.InboxFilter{})
		if len(rows) != len(answered) {
			t.Errorf("%d inbox rows, %d jtis receipted", len(rows), len(answered))
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if seen[r.JTI] {
				t.Errorf("jti %s stored twice", r.JTI)
			}
			seen[r.JTI] = true
		}
	})
}

// TestHostileBatchBodies: batch bodies malformed at each level of nesting,
// with duplicated or other-cased members, truncated, or followed by more,
// around a valid envelope: each is refused as a whole with bad_envelope,
// before any envelope is stored; the envelope sent afterwards is accepted
// (not a duplicate: nothing of the refused batches was kept).
func TestHostileBatchBodies(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		f, xb, k := hostileXB(t, d)
		c := k.claims()
		e := string(k.sign(c, f.Member(t, "XA-RC").Key))
		for _, body := range []string{
			``, ` `, `{`, `{"envelopes"`, `{"envelopes":`, `{"envelopes":[`, `{"envelopes":["` + e,
			`{"envelopes":["` + e + `"`, `{"envelopes":["` + e + `"]`, `{"envelopes":["` + e + `",]}`, `{"envelopes":[,"` + e + `"]}`,
			`{"envelopes":["` + e + `"],"envelopes":["` + e + `"]}`, `{"envelopes":["` + e + `"],"Envelopes":[]}`,
			`{"ENVELOPES":["` + e + `"]}`, `{"envelopes":["` + e + `"],"extra":{"a":[1,{"b":}]}}`,
			`{"envelopes":[["` + e + `"]]}`, `{"envelopes":[{"jws":"` + e + `"}]}`, `{"envelopes":"` + e + `"}`,
			`{"envelopes":["` + e + `",null]}`, `{"envelopes":["` + e + `",1]}`, `{"envelopes":null}`, `{"envelopes":{}}`,
			`{"envelopes":["` + e + `"]}{"envelopes":["` + e + `"]}`, `{"envelopes":["` + e + `"]}]`, `{"envelopes":["` + e + `"]}` + "\x00",
			`["` + e + `"]`, `"` + e + `"`, e, `{"envelopes":["` + e + `"] /* comment */}`, `{'envelopes':['` + e + `']}`,
			"\ufeff" + `{"envelopes":["` + e + `"]}`,
		} {
			status, ans := postBatch(t, f, xb, "application/json", []byte(body))
			p, err := problem.Parse(ans)
			if status != http.StatusBadRequest || err != nil || p.Code != problem.BadEnvelope {
				t.Errorf("%.60q...: answered %d %s, want 400 bad_envelope", body, status, ans)
			}
		}
		// Over max_batch_bytes without a length announced (streamed over
		// HTTP/2): too_large once the limit is passed, nothing stored.
		{
			big := []byte(`{"envelopes":["` + e + `","` + strings.Repeat("A", int(xb.MaxBatchBytes())) + `"]}`)
			pr, pw := io.Pipe()
			go func() { pw.Write(big); pw.Close() }()
			req, _ := http.NewRequest(http.MethodPost, xb.FedURL+federation.BatchesPath, pr)
			req.Header.Set("Content-Type", "application/json")
			resp, err := nodetest.Client(t, f, "XA-RC", xb).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			ans, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pr.CloseWithError(io.ErrClosedPipe)
			if p, err := problem.Parse(ans); resp.StatusCode != http.StatusRequestEntityTooLarge || err != nil || p.Code != problem.TooLarge || resp.ProtoMajor != 2 {
				t.Errorf("a streamed batch over max_batch_bytes: HTTP/%d %d %.200s, want HTTP/2 413 too_large", resp.ProtoMajor, resp.StatusCode, ans)
			}
		}
		if rows := allInbox(t, xb.Store, store.InboxFilter{}); len(rows) != 0 {
			t.Fatalf("%d rows stored from refused batches", len(rows))
		}
		status, ans := postBatch(t, f, xb, "application/json", batchOf(t, []byte(e)))
		res, err := federation.ParseBatchAnswer(ans, 1)
		if status != 200 || err != nil {
			t.Fatalf("the envelope in a good batch: %d %s", status, ans)
		}
		rc, err := federation.VerifyReceipt([]byte(res[0].Receipt), f.Manifest, federation.ExpectReceipt([]byte(e), c), time.Now())
		if err != nil || rc.Status != federation.ReceiptAccepted {
			t.Fatalf("the envelope in a good batch: %v %+v", err, rc)
		}
	})
}
