package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// TestCaseworkCommands: inbox, read, thread and search over a real local
// API, on a case received from another member.
func TestCaseworkCommands(t *testing.T) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	tn := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
	sum := sha256.Sum256([]byte("cw-token"))
	h := httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	api := []string{"case", "--api", srv.URL, "--token", "cw-token"}

	ex, _ := schema.ExampleNamed("case.tracing_request")
	if _, err := tn.Receive(ctx, "XA-RC", f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:TR-2024-0117", ex.Doc)); err != nil {
		t.Fatal(err)
	}
	if err := tn.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inbox", "--kind", "case.create"}, `"iss": "XA-RC"`},
		{[]string{"read", "1"}, `"local_ref": "XA/RFL/2024/0117"`},
		{[]string{"thread", "XA-RC:TR-2024-0117"}, `"type": "received"`},
		{[]string{"search", "Samir", "--born", "1986"}, `"case_id": "XA-RC:TR-2024-0117"`},
		{[]string{"search", "--name", "سامر", "--status", "tracing_in_progress,open"}, `"case_id": "XA-RC:TR-2024-0117"`},
	} {
		out, err := runCLI(t, append(api, tc.args...)...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Fatalf("%v: %v\n%s", tc.args, err, out)
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("%v: not JSON:\n%s", tc.args, out)
		}
	}
	out, err := runCLI(t, append(api, "search", "--born", "86")...)
	if err == nil || !strings.Contains(out, "query parameter born") {
		t.Fatalf("bad search: %v\n%s", err, out)
	}
}
