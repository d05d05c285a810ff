package federation_test

import (
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// The manifest plugs into the TLS layer as is.
var _ mtls.Directory = federation.TLSDirectory{}

func TestTLSDirectory(t *testing.T) {
	active := federation.Member{ID: "XA-RC", Status: federation.StatusActive, TLSSPKISHA256: []string{"aa"}}
	suspended := federation.Member{ID: "XC-RC", Status: federation.StatusSuspended, TLSSPKISHA256: []string{"cc"}}
	m := &federation.Manifest{Members: []federation.Member{active, suspended}}
	d := m.TLSDirectory()
	if id, ok := d.MemberBySPKI("aa"); !ok || id != "XA-RC" {
		t.Fatalf("active member: %q %v", id, ok)
	}
	if _, ok := d.MemberBySPKI("cc"); ok {
		t.Fatal("a suspended member's pin authenticated")
	}
	if _, ok := d.MemberBySPKI("zz"); ok {
		t.Fatal("unknown pin authenticated")
	}
	if d.RootCAs() == nil {
		t.Fatal("nil pool")
	}
}
