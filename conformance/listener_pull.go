package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
)

// The tester's listener as a member a pull-only candidate pulls from
// (SPEC.md §15): it serves GET /flx/v1/pull and POST /flx/v1/pull/ack to
// the candidate from a queue a check sets, leases what it hands out, and
// can cut acknowledgements (close the connection without answering) to
// see the candidate pull and process the same envelopes again.

// pullServer is the queue the listener serves to a pulling candidate.
type pullServer struct {
	mu    sync.Mutex
	items []*pullItem
	lease time.Duration
	cut   int // acknowledgements still to cut
	// perPull, when positive, is how many envelopes one pull is handed:
	// the answer says more while others wait (FLX-PUL-008).
	perPull int
	acks    []pullAck
	changed chan struct{}
	// extra, when set, is a raw JSON item put after the envelopes of
	// every answer that hands some out (a null: FLX-PUL-005).
	extra string
}

type pullItem struct {
	raw    []byte
	jti    string
	sum    string
	until  time.Time // leased until
	done   bool
	handed time.Time // when a pull first handed it out
	times  int       // how many pulls handed it out
}

// pullAck is one acknowledgement the candidate sent.
type pullAck struct {
	At  time.Time
	Cut bool
	Ack struct {
		Receipts []string `json:"receipts"`
		Refusals []struct {
			JTI    string `json:"jti"`
			SHA256 string `json:"sha256"`
			Code   string `json:"code"`
		} `json:"refusals"`
	}
}

// ServePull sets the envelopes the listener offers to a pulling candidate,
// each leased for lease when pulled; the first cut acknowledgements are
// cut. It replaces any earlier queue.
func (l *Listener) ServePull(envelopes [][]byte, lease time.Duration, cut int) *pullServer {
	return l.servePullEach(envelopes, lease, cut, 0)
}

// servePullEach is ServePull handing out at most perPull envelopes a pull
// (0: all), the answer saying more while others wait.
func (l *Listener) servePullEach(envelopes [][]byte, lease time.Duration, cut, perPull int) *pullServer {
	return l.servePullExtra(envelopes, lease, cut, perPull, "")
}

// servePullExtra is servePullEach with extra (a raw JSON item, "" for
// none) after the envelopes of each answer that hands some out.
func (l *Listener) servePullExtra(envelopes [][]byte, lease time.Duration, cut, perPull int, extra string) *pullServer {
	ps := &pullServer{lease: lease, cut: cut, perPull: perPull, changed: make(chan struct{}, 1), extra: extra}
	for _, e := range envelopes {
		var c Claims
		_ = json.Unmarshal(payloadOf(e), &c)
		ps.items = append(ps.items, &pullItem{raw: e, jti: c.JTI, sum: sha256Hex(e)})
	}
	l.mu.Lock()
	l.pull = ps
	l.mu.Unlock()
	return ps
}

// handedAt returns when each envelope was first handed out, in the order
// they were, leaving out those never handed out.
func (ps *pullServer) handedAt() []time.Time {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []time.Time
	for _, it := range ps.items {
		if !it.handed.IsZero() {
			out = append(out, it.handed)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// Pulls returns when the candidate pulled from the listener so far.
func (l *Listener) Pulls() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.pulls...)
}

// Acks returns the acknowledgements received so far.
func (ps *pullServer) Acks() []pullAck {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]pullAck(nil), ps.acks...)
}

// servePull answers a pull or an acknowledgement; ok is false when the
// request is neither.
func (l *Listener) servePull(w http.ResponseWriter, r *http.Request, peer string) (ok bool) {
	var get bool
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/flx/v1/pull":
		get = true
	case r.Method == http.MethodPost && r.URL.Path == "/flx/v1/pull/ack":
	default:
		return false
	}
	l.mu.Lock()
	ps := l.pull
	l.mu.Unlock()
	now := time.Now()
	if get {
		out := []string{}
		more := false
		until := now.Add(5 * time.Second)
		if peer == l.id.Settings.Candidate.ID {
			l.mu.Lock()
			l.pulls = append(l.pulls, now)
			l.mu.Unlock()
		}
		extra := ""
		if ps != nil && peer == l.id.Settings.Candidate.ID {
			ps.mu.Lock()
			extra = ps.extra
			until = now.Add(ps.lease)
			for _, it := range ps.items {
				if !it.done && !now.Before(it.until) {
					if ps.perPull > 0 && len(out) == ps.perPull {
						more = true
						break
					}
					it.until = until
					if it.handed.IsZero() {
						it.handed = now
					}
					it.times++
					out = append(out, string(it.raw))
				}
			}
			ps.mu.Unlock()
			ps.notify()
		}
		envs, _ := json.Marshal(out)
		if extra != "" && len(out) > 0 {
			envs = append(append(envs[:len(envs)-1], ","+extra...), ']')
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"envelopes":%s,"lease_until":%d,"more":%t}`+"\n", envs, until.Unix()+1, more)
		return true
	}
	var a pullAck
	a.At = now
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if ps == nil || json.Unmarshal(body, &a.Ack) != nil {
		answerProblem(w, http.StatusBadRequest, "bad_envelope")
		return true
	}
	ps.mu.Lock()
	if ps.cut > 0 {
		ps.cut--
		a.Cut = true
		ps.acks = append(ps.acks, a)
		ps.mu.Unlock()
		ps.notify()
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	type result struct {
		JTI    string `json:"jti"`
		Status string `json:"status"`
		Code   string `json:"code,omitempty"`
	}
	res := struct {
		Receipts []result `json:"receipts"`
		Refusals []result `json:"refusals"`
	}{Receipts: []result{}, Refusals: []result{}}
	find := func(jti string) *pullItem {
		for _, it := range ps.items {
			if it.jti == jti {
				return it
			}
		}
		return nil
	}
	for _, rc := range a.Ack.Receipts {
		_, jti, err := federation.PeekReceipt([]byte(rc))
		it := find(jti)
		switch {
		case err != nil || it == nil:
			res.Receipts = append(res.Receipts, result{JTI: jti, Status: "unknown"})
			continue
		}
		if _, err := federation.VerifyReceipt([]byte(rc), l.id.Manifest, federation.ExpectedReceipt{
			Issuer: l.id.Settings.Candidate.ID, Audience: MemberTester, ReceiptFor: jti, SHA256: it.sum,
		}, time.Now()); err != nil {
			res.Receipts = append(res.Receipts, result{JTI: jti, Status: "refused", Code: string(federation.CodeOf(err))})
			continue
		}
		it.done = true
		res.Receipts = append(res.Receipts, result{JTI: jti, Status: "recorded"})
	}
	for _, rf := range a.Ack.Refusals {
		it := find(rf.JTI)
		switch {
		case it == nil || it.sum != rf.SHA256:
			res.Refusals = append(res.Refusals, result{JTI: rf.JTI, Status: "unknown"})
		case federation.Code(rf.Code).Retryable():
			res.Refusals = append(res.Refusals, result{JTI: rf.JTI, Status: "refused", Code: "bad_envelope"})
		default:
			it.done = true
			res.Refusals = append(res.Refusals, result{JTI: rf.JTI, Status: "recorded"})
		}
	}
	ps.acks = append(ps.acks, a)
	ps.mu.Unlock()
	ps.notify()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
	return true
}

func (ps *pullServer) notify() {
	select {
	case ps.changed <- struct{}{}:
	default:
	}
}

// handedTimes returns how many pulls handed out the envelope of jti.
func (ps *pullServer) handedTimes(jti string) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, it := range ps.items {
		if it.jti == jti {
			return it.times
		}
	}
	return 0
}

// doneExcept reports whether every envelope but the one of jti was
// acknowledged.
func (ps *pullServer) doneExcept(jti string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, it := range ps.items {
		if !it.done && it.jti != jti {
			return false
		}
	}
	return true
}
