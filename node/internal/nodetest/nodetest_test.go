package nodetest

import (
	"context"
	"testing"

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
