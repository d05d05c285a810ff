package conformance

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// inflightProbe is how many stalled requests checkInFlightBounded holds:
// past FLX-LIM-005's largest bound (256).
const inflightProbe = 300

// checkInFlightBounded (FLX-LIM-005): the tester holds inflightProbe
// envelope requests whose bodies never come, over as many HTTP/2
// connections as they need. At least one must be refused at once with 429
// rate_limited and Retry-After, none answered otherwise while the bodies
// are held; once they are cancelled the tester is served again.
func checkInFlightBounded(t *T) {
	tr := mtls.NewTransport(t.id.Certs[certTester], t.dir, t.candidate)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(t.ctx)
	type answer struct {
		ans *Answer
		err error
	}
	answers := make(chan answer, inflightProbe)
	var bodies []*io.PipeWriter
	defer func() {
		cancel()
		for _, pw := range bodies {
			pw.CloseWithError(context.Canceled)
		}
	}()
	for range inflightProbe {
		pr, pw := io.Pipe()
		bodies = append(bodies, pw)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.target.String()+federation.EnvelopesPath, pr)
		if err != nil {
			t.Abortf("request: %v", err)
		}
		req.Header.Set("Content-Type", "application/jose")
		go func() {
			resp, err := c.Do(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			answers <- answer{ans: &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, At: time.Now()}}
		}()
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case a := <-answers:
		switch {
		case a.err != nil:
			t.Errorf("a request whose body is held failed: %v", a.err)
		case a.ans.Status != http.StatusTooManyRequests:
			t.Errorf("none of %d requests from one member was refused with rate_limited before a held one was answered %s", inflightProbe, a.ans)
		default:
			if _, err := shouldRefuse(a.ans, "rate_limited"); err != nil {
				t.Errorf("the request past the bound: %v", err)
			} else if a.ans.Header.Get("Retry-After") == "" {
				t.Errorf("the request past the bound was refused with rate_limited without Retry-After")
			}
		}
	case <-deadline.C:
		t.Errorf("%d envelope requests from one member held open, none refused with rate_limited within 10 s", inflightProbe)
	}
	cancel()
	for _, pw := range bodies {
		pw.CloseWithError(context.Canceled)
	}
	// The slots free as the held requests end.
	var last string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
		if err == nil && ans.Status == http.StatusOK {
			return
		}
		last = ans.String()
		if err != nil {
			last = err.Error()
		}
	}
	t.Errorf("once its held requests were cancelled, the tester was still not served 10 s later: %s", last)
}
