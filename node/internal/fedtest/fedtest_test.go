package fedtest

import (
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
)

func TestFederationSignsVerifiableManifests(t *testing.T) {
	f := New(t, "XA-RC:XA:society", "ICRC-CTA:XC:coordinator")
	if f.Manifest.Version != 1 || len(f.Manifest.Members) != 2 {
		t.Fatalf("manifest %+v", f.Manifest)
	}
	old := f.Member(t, "XA-RC").Key
	f.RotateKey(t, "XA-RC", time.Now().Add(time.Hour))
	raw := f.Sign(t)
	m, err := federation.VerifyManifest(raw, f.Anchor.Public(), time.Now(), nil)
	if err != nil || m.Version != 2 {
		t.Fatalf("v2: %v", err)
	}
	mb, _ := m.Member("XA-RC")
	if mb.JWKS.Key(old.KID()) == nil || mb.JWKS.Key(f.Member(t, "XA-RC").Key.KID()) == nil {
		t.Fatal("rotation must publish both keys")
	}
	env := f.Envelope(t, "XA-RC", "ICRC-CTA", federation.KindCaseCreate, "XA-RC:1", []byte(`{"case_id":"XA-RC:1"}`))
	v := &federation.Verifier{Manifest: federation.StaticManifest(m), Self: "ICRC-CTA"}
	if _, err := v.Verify(t.Context(), env, "XA-RC"); err != nil {
		t.Fatalf("envelope from fedtest does not verify: %v", err)
	}
}
