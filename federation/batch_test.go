package federation_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
)

func TestParseBatchRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int          // envelopes, when accepted
		code problem.Code // refusal
	}{
		{"two envelopes", `{"envelopes":["a.b.c","d.e.f"]}`, 2, ""},
		{"at the limit", `{"envelopes":["a","b","c"]}`, 3, ""},
		{"over the limit", `{"envelopes":["a","b","c","d"]}`, 0, problem.TooLarge},
		{"empty", `{"envelopes":[]}`, 0, problem.BadEnvelope},
		{"no envelopes member", `{}`, 0, problem.BadEnvelope},
		{"null envelopes", `{"envelopes":null}`, 0, problem.BadEnvelope},
		{"unknown member", `{"envelopes":["a"],"more":true}`, 0, problem.BadEnvelope},
		{"member in other case", `{"Envelopes":["a"]}`, 0, problem.BadEnvelope},
		{"duplicated member", `{"envelopes":["a"],"envelopes":["b"]}`, 0, problem.BadEnvelope},
		{"not strings", `{"envelopes":[1]}`, 0, problem.BadEnvelope},
		{"a null envelope", `{"envelopes":["a",null]}`, 0, problem.BadEnvelope},
		{"only null", `{"envelopes":[null]}`, 0, problem.BadEnvelope},
		{"an empty string", `{"envelopes":[""]}`, 1, ""}, // a string: refused alone, as an envelope
		{"trailing data", `{"envelopes":["a"]} {}`, 0, problem.BadEnvelope},
		{"an array", `["a"]`, 0, problem.BadEnvelope},
		{"a compact JWS", `a.b.c`, 0, problem.BadEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := federation.ParseBatchRequest([]byte(tc.body), 3)
			if tc.code != "" {
				if problem.CodeOf(err) != tc.code {
					t.Fatalf("ParseBatchRequest = %d envelopes, %v; want %s", len(got), err, tc.code)
				}
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("ParseBatchRequest = %d envelopes, %v; want %d", len(got), err, tc.want)
			}
		})
	}
}

func TestParseBatchAnswer(t *testing.T) {
	ok := `{"status":202,"receipt":"r.r.r"}`
	refused := `{"status":400,"problem":{"type":"urn:flx:problem:bad_signature","title":"t","status":400,"code":"bad_signature","instance":"/x"}}`
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"one of each", `{"results":[` + ok + `,` + refused + `]}`, true},
		{"one result short", `{"results":[` + ok + `]}`, false},
		{"202 without receipt", `{"results":[{"status":202},` + refused + `]}`, false},
		{"refusal without code", `{"results":[` + ok + `,{"status":400,"problem":{"status":400}}]}`, false},
		{"refusal with receipt", `{"results":[` + ok + `,{"status":409,"receipt":"r.r.r","problem":{"code":"replay"}}]}`, false},
		{"a 3xx", `{"results":[` + ok + `,{"status":301,"problem":{"code":"x"}}]}`, false},
		{"not JSON", `a.b.c`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := federation.ParseBatchAnswer([]byte(tc.body), 2)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseBatchAnswer: %v, want ok %t", err, tc.ok)
			}
		})
	}
}

// batchAnswer answers a batch as a receiver would: each envelope through
// one, which returns a result.
func batchAnswer(t *testing.T, one func(i int, raw []byte) federation.BatchResult) func(http.ResponseWriter, []byte, string) {
	return func(w http.ResponseWriter, body []byte, _ string) {
		raws, err := federation.ParseBatchRequest(body, 100)
		if err != nil {
			t.Errorf("the peer got a malformed batch: %v", err)
			problem.Write(w, err)
			return
		}
		var a federation.BatchAnswer
		for i, raw := range raws {
			a.Results = append(a.Results, one(i, raw))
		}
		w.Header().Set("Content-Type", federation.BatchMediaType)
		json.NewEncoder(w).Encode(a)
	}
}

// receiptFor is XB-RC's receipt accepting the envelope raw, as edit
// changes it, signed with key's key.
func (in *integration) receiptFor(t *testing.T, raw []byte, edit func(*federation.ReceiptClaims), key string) string {
	t.Helper()
	cl, err := federation.ClaimsOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	rc := federation.ReceiptClaims{Issuer: "XB-RC", Audience: cl.Issuer, IssuedAt: time.Now(), ReceiptFor: cl.JTI,
		SHA256: sha256Hex(raw), Status: federation.ReceiptAccepted}
	if edit != nil {
		edit(&rc)
	}
	b, err := federation.SignReceipt(rc, in.keys[key])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClientSendBatch(t *testing.T) {
	in, p, c := newClientFixture(t)
	receipt := func(t *testing.T, raw []byte, edit func(*federation.ReceiptClaims)) string {
		return in.receiptFor(t, raw, edit, "XB-RC")
	}
	envs := func(n int) [][]byte {
		var out [][]byte
		for range n {
			out = append(out, in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"]))
		}
		return out
	}

	t.Run("each envelope its own verdict", func(t *testing.T) {
		p.set(in.receipt(t, nil))
		p.batch.Store(nil)
		f := batchAnswer(t, func(i int, raw []byte) federation.BatchResult {
			switch i {
			case 1:
				pd := problem.Of(problem.BadSignature, "no")
				return federation.BatchResult{Status: pd.Status, Problem: pd}
			case 2:
				pd := problem.Of(problem.Unavailable, "later")
				return federation.BatchResult{Status: pd.Status, Problem: pd}
			case 3: // a receipt for other bytes
				return federation.BatchResult{Status: 202, Receipt: receipt(t, raw, func(rc *federation.ReceiptClaims) { rc.SHA256 = strings.Repeat("0", 64) })}
			}
			return federation.BatchResult{Status: 202, Receipt: receipt(t, raw, nil)}
		})
		p.batch.Store(&f)
		before, singles := p.batches.Load(), p.calls.Load()
		got := c.SendBatch(t.Context(), "XB-RC", envs(5))
		want := []federation.Outcome{federation.Delivered, federation.Permanent, federation.Retry, federation.Retry, federation.Delivered}
		for i, r := range got {
			if r.Outcome != want[i] {
				t.Errorf("envelope %d: %v (%s), want %v", i, r.Outcome, r.Reason, want[i])
			}
		}
		if got[1].Code != problem.BadSignature || !strings.HasPrefix(got[3].Reason, "bad_receipt") {
			t.Errorf("codes: %q, %q", got[1].Code, got[3].Reason)
		}
		if got[0].Receipt == nil || len(got[0].Receipt.Raw()) == 0 {
			t.Error("a delivered envelope has no receipt to keep")
		}
		if p.batches.Load()-before != 1 || p.calls.Load() != singles {
			t.Errorf("%d batch requests and %d single ones, want one batch", p.batches.Load()-before, p.calls.Load()-singles)
		}
	})

	t.Run("503 for the batch: every envelope retried after Retry-After", func(t *testing.T) {
		f := refuse(problem.Unavailable, 503, "7")
		p.batch.Store(&f)
		for i, r := range c.SendBatch(t.Context(), "XB-RC", envs(3)) {
			if r.Outcome != federation.Retry || r.RetryAfter != 7*time.Second {
				t.Errorf("envelope %d: %v after %s", i, r.Outcome, r.RetryAfter)
			}
		}
	})

	t.Run("a batch answer that does not parse is retried", func(t *testing.T) {
		f := func(w http.ResponseWriter, _ []byte, _ string) { w.WriteHeader(200); w.Write([]byte(`{"results":[]}`)) }
		p.batch.Store(&f)
		for i, r := range c.SendBatch(t.Context(), "XB-RC", envs(2)) {
			if r.Outcome != federation.Retry || !strings.HasPrefix(r.Reason, "bad_receipt") {
				t.Errorf("envelope %d: %v %s", i, r.Outcome, r.Reason)
			}
		}
	})

	t.Run("an envelope not of this member is not sent", func(t *testing.T) {
		f := batchAnswer(t, func(_ int, raw []byte) federation.BatchResult {
			return federation.BatchResult{Status: 202, Receipt: receipt(t, raw, nil)}
		})
		p.batch.Store(&f)
		batch := append(envs(2), in.envelope(t, "XC-RC", "XB-RC", in.keys["XC-RC"]))
		got := c.SendBatch(t.Context(), "XB-RC", batch)
		if got[0].Outcome != federation.Delivered || got[1].Outcome != federation.Delivered || got[2].Outcome != federation.Permanent {
			t.Fatalf("outcomes %v %v %v", got[0].Outcome, got[1].Outcome, got[2].Outcome)
		}
	})

	// A link cut under requests in flight: the client sends the same bytes
	// again at once on a new connection, once (the receiver answers what it
	// had stored as a duplicate); cut again, it is the backoff's business.
	for _, tc := range []struct {
		name  string
		cuts  int32
		want  federation.Outcome
		tries int32
	}{
		{"the connection broken under a batch: sent again at once", 1, federation.Delivered, 2},
		{"broken twice: sent again once, then retried later", 2, federation.Retry, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			answer := batchAnswer(t, func(_ int, raw []byte) federation.BatchResult {
				return federation.BatchResult{Status: 202, Receipt: receipt(t, raw, nil)}
			})
			f := func(w http.ResponseWriter, body []byte, who string) {
				if n.Add(1) <= tc.cuts {
					panic(http.ErrAbortHandler) // the connection is closed without an answer
				}
				answer(w, body, who)
			}
			p.batch.Store(&f)
			for i, r := range c.SendBatch(t.Context(), "XB-RC", envs(3)) {
				if r.Outcome != tc.want {
					t.Errorf("envelope %d: %v (%s), want %v", i, r.Outcome, r.Reason, tc.want)
				}
			}
			if n.Load() != tc.tries {
				t.Errorf("%d requests, want %d", n.Load(), tc.tries)
			}
		})
	}

	t.Run("a peer without batches gets single envelopes, and keeps getting them", func(t *testing.T) {
		p.batch.Store(nil) // 404
		p.set(in.receipt(t, nil))
		before, singles := p.batches.Load(), p.calls.Load()
		for i, r := range c.SendBatch(t.Context(), "XB-RC", envs(3)) {
			if r.Outcome != federation.Delivered {
				t.Errorf("envelope %d: %v %s", i, r.Outcome, r.Reason)
			}
		}
		for _, r := range c.SendBatch(t.Context(), "XB-RC", envs(2)) {
			if r.Outcome != federation.Delivered {
				t.Errorf("second batch: %v %s", r.Outcome, r.Reason)
			}
		}
		if b, s := p.batches.Load()-before, p.calls.Load()-singles; b != 1 || s != 5 {
			t.Errorf("%d batch requests and %d single ones; want 1 (then none) and 5", b, s)
		}
	})
}

func FuzzParseBatchRequest(f *testing.F) {
	for _, s := range []string{`{"envelopes":["a.b.c"]}`, `{"envelopes":[]}`, `{"envelopes":["a"],"envelopes":["b"]}`, `[]`, `{"envelopes":[1,{"x":[]}]}`, `{"envelopes":["a",null]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := federation.ParseBatchRequest(body, 10)
		if err != nil {
			if c := problem.CodeOf(err); c != problem.BadEnvelope && c != problem.TooLarge {
				t.Fatalf("refused with %q", c)
			}
			return
		}
		if len(got) == 0 || len(got) > 10 {
			t.Fatalf("accepted %d envelopes", len(got))
		}
		// Each envelope read is a JSON string of the array (not a null
		// read as "", not a number): checked with encoding/json alone.
		var raw struct{ Envelopes []json.RawMessage }
		if err := json.Unmarshal(body, &raw); err != nil || len(raw.Envelopes) != len(got) {
			t.Fatalf("accepted %d envelopes of %q: %v", len(got), body, err)
		}
		for i, e := range raw.Envelopes {
			var s string
			if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &s) != nil || s != string(got[i]) {
				t.Fatalf("envelope %d read as %q from %s", i, got[i], e)
			}
		}
	})
}

func FuzzParseBatchAnswer(f *testing.F) {
	f.Add([]byte(`{"results":[{"status":202,"receipt":"a.b.c"},{"status":400,"problem":{"code":"x"}}]}`), 2)
	f.Add([]byte(`{"results":[]}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		got, err := federation.ParseBatchAnswer(body, n)
		if err != nil {
			return
		}
		if len(got) != n {
			t.Fatalf("%d results for %d", len(got), n)
		}
		for _, r := range got {
			if (r.Status == 202) != (r.Receipt != "") || (r.Status != 202 && (r.Problem == nil || r.Problem.Code == "")) {
				t.Fatalf("result %+v passed", r)
			}
		}
	})
}
