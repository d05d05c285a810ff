package e2e

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestEscapedPathsNotFound: paths are compared as sent (FLX-API-004). A
// valid envelope POSTed by a member to a federation path spelt with
// percent escapes (an escaped letter, an encoded slash) gets 404 not_found
// and nothing is stored; the router, which matches the decoded path, took
// them for /flx/v1/envelopes and stored the envelope.
func TestEscapedPathsNotFound(t *testing.T) {
	t.Parallel()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	ln := nodetest.Listen(t, f.Member(t, "XB-RC"))
	xb := nodetest.Start(t, f, "XB-RC", ln, nodetest.Options{Dialect: nodetest.SQLite, NoRun: true})
	c := nodetest.Client(t, f, "XA-RC", xb)
	good := readTestdata(t, "case.json")
	for _, p := range []string{"/flx/v1/%65nvelopes", "/flx%2Fv1/envelopes", "/flx/v1/envelope%73", "/%66lx/v1/envelopes", "/flx/v1/%62atches", "/.well-known/%66lx", "/flx/v1/pul%6C"} {
		env := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, demoCase, good)
		req, err := http.NewRequest(http.MethodPost, xb.FedURL+p, bytes.NewReader(env))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/jose")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pr, _ := problem.Parse(body)
		if resp.StatusCode != http.StatusNotFound || pr == nil || pr.Code != problem.NotFound {
			t.Errorf("POST %s: %d %+v, want 404 not_found", p, resp.StatusCode, pr)
		}
	}
	if in := allInbox(t, xb.Store, store.InboxFilter{}); len(in) != 0 {
		t.Errorf("%d envelopes stored from escaped paths", len(in))
	}
}
