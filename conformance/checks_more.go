package conformance

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation"
)

// More checks of requirements that earlier revisions left unchecked,
// seen from outside the candidate (SPEC.md §11, §19.2).

// checkRewithdrawSent checks that withdrawing a case a second time, while
// the tester (which received the first case.withdraw) has not confirmed it,
// is answered 202 and sends the tester the withdrawal again (FLX-WDR-008).
func checkRewithdrawSent(t *T) {
	caseID := t.sendCase(func(*Arrival) Action { return Action{} })
	if len(t.listener.Wait(forCase(caseID), 1, t.patience)) == 0 {
		t.Fatalf("no case.create arrived within %s of the forward", t.patience)
	}
	isWithdraw := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseWithdraw) }
	withdraw := func(n int) {
		w, err := t.trigger.withdraw(caseID, "consent_withdrawn")
		if err != nil {
			t.Abortf("trigger: withdraw: %v", err)
		}
		if w.Status != http.StatusAccepted {
			t.Fatalf("withdraw call %d: want 202, got %s", n, w)
		}
	}
	withdraw(1)
	first := t.listener.Wait(isWithdraw, 1, t.patience)
	if len(first) == 0 {
		t.Fatalf("no case.withdraw arrived within %s of the withdraw call", t.patience)
	}
	// The tester accepted it and never confirms: the case is withdrawn
	// again, and the tester must receive the withdrawal again. Until the
	// candidate has taken the tester's receipt, the first withdrawal is
	// still on its way and rightly not sent again: the call is repeated
	// every few seconds, and each must be answered 202.
	again := func(a *Arrival) bool { return isWithdraw(a) && a.JTI != first[0].JTI }
	deadline := time.Now().Add(t.patience)
	for n := 2; ; n++ {
		withdraw(n)
		if len(t.listener.Wait(again, 1, rewithdrawEvery)) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("withdrawing the case again (%d calls; the tester had not confirmed) sent no new case.withdraw within %s", n-1, t.patience)
			return
		}
	}
}

// rewithdrawEvery is how long FLX-WDR-008/rewithdraw waits for a new
// case.withdraw after each repeated withdraw call.
const rewithdrawEvery = 3 * time.Second

// slowBodyWait is how long the tester waits for the answer to a body that
// stops arriving, beyond the patience: the candidate's read timeout is its
// own (this project's node: federation.read_timeout, which conformance init
// sets to 5 s so that the check is quick).
const slowBodyWait = 15 * time.Second

// slowPost writes a POST to path by hand on a fresh mTLS connection,
// announcing all of body with Content-Length but sending only its first
// half, then waits up to timeout for the answer.
func (t *T) slowPost(path string, contentType string, body []byte, timeout time.Duration) (*Answer, error) {
	cfg := t.client(certTester).Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", t.target.Host, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, t.target.Host, contentType, len(body))
	w.Write(body[:len(body)/2])
	if err := w.Flush(); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, fmt.Errorf("no answer within %s: %w", timeout.Round(time.Second), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, At: time.Now()}, nil
}

// checkSlowBodyTimedOut checks that an envelope and a batch whose bodies
// stop arriving halfway are answered 408 request_timeout (retried by the
// sender), not bad_envelope, and that neither is stored: the whole
// envelope sent afterwards is accepted, not a duplicate (FLX-BAT-006).
func checkSlowBodyTimedOut(t *T) {
	raw, c := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	braw, bc := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	probes := []struct {
		what, path, contentType string
		body                    []byte
	}{
		{"an envelope", "/flx/v1/envelopes", "application/jose", raw},
		{"a batch", federation.BatchesPath, "application/json", batchBody(braw)},
	}
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ans, err := t.slowPost(p.path, p.contentType, p.body, t.patience+slowBodyWait)
			if err != nil {
				t.Errorf("%s whose body stopped halfway: %v", p.what, err)
				return
			}
			if _, err := shouldRefuse(ans, "request_timeout"); err != nil {
				t.Errorf("%s whose body stopped halfway: %v", p.what, err)
				return
			}
			t.Logf("%s: 408 after %s", p.what, time.Since(start).Round(100*time.Millisecond))
		}()
	}
	wg.Wait()
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	t.mustAccept(t, t.post(t, braw), braw, bc, federation.ReceiptAccepted)
}

// endpointSpy listens at another member's manifest endpoint with that
// member's certificate and counts the envelopes the candidate sends there
// (answered 503, so that a sender keeps trying). Its metadata is not
// served (404): what a member accepts is then known only from the
// manifest.
type endpointSpy struct {
	srv       *http.Server
	envelopes atomic.Int64
}

func (t *T) spyEndpoint(member, cert string) *endpointSpy {
	mb, ok := t.id.Manifest.Member(member)
	if !ok {
		t.Abortf("%s is not in the conformance manifest", member)
	}
	u, err := url.Parse(mb.Endpoint)
	if err != nil {
		t.Abortf("%s's endpoint: %v", member, err)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Abortf("the tester cannot listen at %s's endpoint %s (conformance init puts it at the tester's port + 1 to + 4): %v", member, u.Host, err)
	}
	sp := &endpointSpy{}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{t.id.Certs[cert]}, ClientAuth: tls.RequestClientCert}
	sp.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			http.NotFound(w, r)
			return
		}
		sp.envelopes.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "", http.StatusServiceUnavailable)
	})}
	go func() { _ = sp.srv.Serve(tls.NewListener(ln, cfg)) }()
	return sp
}

// checkNotDeliverable checks that the candidate delivers nothing to a
// member the manifest suspends (XD-SUSPENDED) nor a case.create to a member
// whose accepts leave it out (XD-PEER): the forward is refused by the local
// API or stays queued, and no envelope reaches those members' endpoints
// within the quiet period (FLX-MAN-007).
func checkNotDeliverable(t *T) {
	spies := map[string]*endpointSpy{
		MemberSuspended: t.spyEndpoint(MemberSuspended, certSuspended),
		MemberPeer:      t.spyEndpoint(MemberPeer, certPeer),
	}
	defer func() {
		for _, sp := range spies {
			_ = sp.srv.Close()
		}
	}()
	for _, to := range []string{MemberSuspended, MemberPeer} {
		// The consent covers the member: only its status or its accepts
		// may keep the case from it.
		caseID := newCaseID(t.candidate)
		var doc map[string]any
		_ = json.Unmarshal(outboundCase(t.candidate, caseID), &doc)
		doc["consents"].([]any)[0].(map[string]any)["scope"].(map[string]any)["members"] = []string{MemberTester, MemberPeer, MemberSuspended}
		body, _ := json.Marshal(doc)
		ans, err := t.trigger.createCase(body)
		if err != nil {
			t.Abortf("trigger: create case: %v", err)
		}
		if ans.Status != http.StatusCreated {
			t.Abortf("create case refused: %s", ans)
		}
		fw, err := t.trigger.forward(caseID, to)
		if err != nil {
			t.Abortf("trigger: forward: %v", err)
		}
		t.Logf("forward to %s: %s", to, fw)
	}
	time.Sleep(t.quiet)
	if n := spies[MemberSuspended].envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) with an envelope reached %s, which the manifest suspends", n, MemberSuspended)
	}
	if n := spies[MemberPeer].envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) with a case.create reached %s, whose accepts in the manifest leave it out", n, MemberPeer)
	}
}
