package httpapi_test

import (
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestExpiryMetrics: a running node reports the seconds left on its TLS
// certificate and on the manifest, and its failed inbox rows.
func TestExpiryMetrics(t *testing.T) {
	f, lns := newFederation(t, "XA-RC")
	m := node.NewMetrics(nil)
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{NoRun: true, Metrics: m})
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.Metric) == 1 && mf.Metric[0].Gauge != nil {
			got[mf.GetName()] = mf.Metric[0].Gauge.GetValue()
		}
	}
	cert := a.Node.Certificate()
	if cert == nil {
		t.Fatal("no certificate")
	}
	want := time.Until(cert.NotAfter).Seconds()
	if v, ok := got["flx_certificate_expiry_seconds"]; !ok || v <= 0 || v > want+60 || v < want-60 {
		t.Errorf("flx_certificate_expiry_seconds %v (present %v), want about %v", v, ok, want)
	}
	want = time.Until(f.Manifest.ExpiresAt).Seconds()
	if v, ok := got["flx_manifest_expiry_seconds"]; !ok || v <= 0 || v > want+60 || v < want-60 {
		t.Errorf("flx_manifest_expiry_seconds %v (present %v), want about %v", v, ok, want)
	}
	if v, ok := got["flx_inbox_failed"]; !ok || v != 0 {
		t.Errorf("flx_inbox_failed %v (present %v), want 0", v, ok)
	}
}
