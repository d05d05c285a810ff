package nodetest

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/fedtest"
)

func TestStartServesMetadataOverMTLS(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	ln := Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xb := Start(t, f, "XB-RC", ln, Options{})
	if err := xb.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := Client(t, f, "XA-RC", xb).Get(xb.FedURL + "/.well-known/flx")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metadata: %s", resp.Status)
	}
}

// TestStopDoesNotWaitForIdlePeers: a peer's idle HTTP/2 connection does
// not hold Stop (net/http's Shutdown alone waits a second for each, and
// every test stops each of its nodes).
func TestStopDoesNotWaitForIdlePeers(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	ln := Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	xb := Start(t, f, "XB-RC", ln, Options{})
	resp, err := Client(t, f, "XA-RC", xb).Get(xb.FedURL + "/.well-known/flx")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("the peer's connection is %s, want HTTP/2", resp.Proto)
	}
	start := time.Now()
	xb.Stop()
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("Stop took %s with a peer's idle connection open", d)
	}
}
