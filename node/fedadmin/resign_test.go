package fedadmin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/config"
)

// TestResign runs each change on a fresh federation and checks what every
// re-signing must do: version+1, accepted against the old manifest, the old
// one refused against the new (rollback), copies in every member folder.
func TestResign(t *testing.T) {
	tests := map[string]func(t *testing.T, a *Admin) (*Change, error){
		"add-member": func(t *testing.T, a *Admin) (*Change, error) {
			spec, err := ParseMemberSpec("XD-RC:XD:society:https://127.0.0.1:18463")
			if err != nil {
				t.Fatal(err)
			}
			return a.AddMember(spec)
		},
		"rotate-key": func(t *testing.T, a *Admin) (*Change, error) {
			r, err := a.RotateKey("XA-RC", RotateOptions{})
			if r == nil {
				return nil, err
			}
			return r.Change, err
		},
		"suspend": func(t *testing.T, a *Admin) (*Change, error) {
			return a.SetStatus("XB-RC", federation.StatusSuspended)
		},
		"renew": func(t *testing.T, a *Admin) (*Change, error) { return a.Renew() },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			dir, _, _ := newFederation(t)
			now := time.Now()
			old, oldRaw := readManifest(t, dir, now)
			a, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := change(t, a)
			if err != nil {
				t.Fatal(err)
			}
			m, raw := readManifest(t, dir, now)
			if m.Version != old.Version+1 || ch.Manifest.Version != m.Version || a.Manifest().Version != m.Version {
				t.Errorf("version %d (change %d, admin %d), want %d", m.Version, ch.Manifest.Version, a.Manifest().Version, old.Version+1)
			}
			if _, err := federation.VerifyManifest(raw, anchorPub(t, dir), now, old); err != nil {
				t.Errorf("new manifest against the old: %v", err)
			}
			if _, err := federation.VerifyManifest(oldRaw, anchorPub(t, dir), now, m); !errors.Is(err, federation.ErrManifestRollback) {
				t.Errorf("old manifest against the new: %v, want manifest_rollback", err)
			}
			if m.IssuedAt.Before(old.IssuedAt) || m.ExpiresAt.Sub(m.IssuedAt) != DefaultManifestValidity {
				t.Errorf("issued %s expires %s", m.IssuedAt, m.ExpiresAt)
			}
			if len(ch.Distributed) != len(m.Members) || len(ch.Missing) != 0 {
				t.Errorf("distributed %v missing %v", ch.Distributed, ch.Missing)
			}
			checkDistributed(t, dir, m)

			// A second Open sees the new manifest as current.
			b, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if b.Manifest().Version != m.Version {
				t.Errorf("reopened at version %d", b.Manifest().Version)
			}
		})
	}
}

func TestAddMember(t *testing.T) {
	dir, _, _ := newFederation(t)
	a, err := Open(dir, WithManifestValidity(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ParseMemberSpec("XD-RC:XD:society:https://xd-rc.example:9443")
	if err != nil {
		t.Fatal(err)
	}
	spec.Hosts = []string{"xd-rc"}
	ch, err := a.AddMember(spec)
	if err != nil {
		t.Fatal(err)
	}
	if got := ch.Manifest.ExpiresAt.Sub(ch.Manifest.IssuedAt); got != 48*time.Hour {
		t.Errorf("manifest validity %s, want the override 48h", got)
	}
	mb, ok := ch.Manifest.Member("XD-RC")
	if !ok || mb.Status != federation.StatusActive || len(mb.JWKS) != 1 || len(mb.TLSSPKISHA256) != 1 {
		t.Fatalf("new member %+v", mb)
	}
	sk, err := jose.LoadPrivateKey(MemberPath(dir, "XD-RC", MemberSigningKeyFile))
	if err != nil || sk.KID() != mb.JWKS[0].KID() {
		t.Errorf("signing key %v, %v", sk, err)
	}
	c, err := config.Load(MemberPath(dir, "XD-RC", MemberConfigFile), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(); err != nil {
		t.Fatal(err)
	}
	if c.Federation.Listen != "0.0.0.0:9443" {
		t.Errorf("federation.listen %q", c.Federation.Listen)
	}
	// Its local API port differs from every other member's.
	for _, id := range []string{"XA-RC", "XB-RC", "ICRC-CTA"} {
		oc, err := config.Load(MemberPath(dir, id, MemberConfigFile), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if oc.LocalAPI.Listen == c.LocalAPI.Listen {
			t.Errorf("XD-RC and %s share local API %s", id, c.LocalAPI.Listen)
		}
	}
	s, err := loadSettings(dir)
	if err != nil || s.Members["XD-RC"].LocalAPIListen != c.LocalAPI.Listen {
		t.Errorf("federation.json: %+v, %v", s.Members["XD-RC"], err)
	}

	// Refusals leave no folder behind and do not re-sign.
	refusals := []struct{ name, spec, want string }{
		{"existing member", "XA-RC:XA:society:https://xa2.example:8443", "already in the federation"},
		{"endpoint clash", "XE-RC:XE:society:https://localhost:18443", "same address"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := ParseMemberSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			before := a.Manifest().Version
			_, err = a.AddMember(sp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AddMember = %v, want %q", err, tc.want)
			}
			if a.Manifest().Version != before {
				t.Error("a refused add-member re-signed the manifest")
			}
			if sp.ID != "XA-RC" {
				if _, err := os.Stat(MemberDir(dir, sp.ID)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a refused add-member left %s", MemberDir(dir, sp.ID))
				}
			}
		})
	}
}

func TestRotateKey(t *testing.T) {
	clk := &clock{t: time.Now()}
	dir, _, _ := newFederation(t, WithClock(clk.now))
	a, err := Open(dir, WithClock(clk.now))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := a.Manifest().Member("XA-RC")
	firstKID := first.JWKS[0].KID()

	r1, err := a.RotateKey("XA-RC", RotateOptions{Overlap: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := r1.Manifest.Member("XA-RC")
	if r1.OldKID != firstKID || len(mb.JWKS) != 2 {
		t.Fatalf("rotation %+v, jwks %d keys", r1, len(mb.JWKS))
	}
	oldK, newK := mb.JWKS.Key(firstKID), mb.JWKS.Key(r1.NewKID)
	if oldK == nil || newK == nil {
		t.Fatal("the manifest lacks the old or the new kid")
	}
	if !oldK.Expires().Equal(newK.NotBefore().Add(time.Hour)) || !newK.Expires().IsZero() || newK.NotBefore().After(clk.t) {
		t.Errorf("old key exp %s, new key nbf %s exp %s", oldK.Expires(), newK.NotBefore(), newK.Expires())
	}
	if got := a.Manifest().KeysAt("XA-RC", clk.t); len(got) != 2 {
		t.Errorf("%d keys valid during the overlap, want 2", len(got))
	}
	// The key files: signing.jwk is the new key, the old one is kept by kid.
	cur, err := jose.LoadPrivateKey(MemberPath(dir, "XA-RC", MemberSigningKeyFile))
	if err != nil || cur.KID() != r1.NewKID || !cur.Public().SameKey(newK) {
		t.Fatalf("signing.jwk: %v %v, want the new key %s", cur, err, r1.NewKID)
	}
	kept := MemberPath(dir, "XA-RC", oldSigningKeyFile(firstKID))
	prev, err := jose.LoadPrivateKey(kept)
	if err != nil || prev.KID() != firstKID || !prev.Public().SameKey(oldK) {
		t.Fatalf("kept key: %v %v", prev, err)
	}
	if mode(t, kept) != 0o600 {
		t.Errorf("kept key mode %04o", mode(t, kept))
	}
	if _, err := os.Stat(MemberPath(dir, "XA-RC", oldSigningKeyFile(r1.NewKID))); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the new key is also left under its kid")
	}
	if k, err := CurrentSigningKey(MemberPath(dir, "XA-RC", MemberSigningKeyFile), mb, clk.t); err != nil || k.KID() != r1.NewKID {
		t.Errorf("CurrentSigningKey = %v, %v; want %s", k, err, r1.NewKID)
	}

	// Two hours later the first key has expired: a second rotation with a
	// future nbf drops it (and its file) and keeps the second until the
	// third's nbf + overlap.
	clk.t = clk.t.Add(2 * time.Hour)
	nbf := clk.t.Add(10 * time.Minute).Truncate(time.Second)
	r2, err := a.RotateKey("XA-RC", RotateOptions{NotBefore: nbf, Overlap: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Dropped) != 1 || r2.Dropped[0] != firstKID {
		t.Errorf("dropped %v, want [%s]", r2.Dropped, firstKID)
	}
	if _, err := os.Stat(kept); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the expired key's file was not deleted")
	}
	mb, _ = r2.Manifest.Member("XA-RC")
	if len(mb.JWKS) != 2 || mb.JWKS.Key(firstKID) != nil {
		t.Fatalf("jwks after the second rotation: %d keys", len(mb.JWKS))
	}
	k2, k3 := mb.JWKS.Key(r1.NewKID), mb.JWKS.Key(r2.NewKID)
	if !k3.NotBefore().Equal(nbf) || !k2.Expires().Equal(nbf.Add(24*time.Hour)) {
		t.Errorf("second key exp %s, third key nbf %s; want %s and nbf+24h", k2.Expires(), k3.NotBefore(), nbf)
	}
	// Before the third key's nbf the node signs with the second; after, the third.
	sp := MemberPath(dir, "XA-RC", MemberSigningKeyFile)
	if k, err := CurrentSigningKey(sp, mb, clk.t); err != nil || k.KID() != r1.NewKID {
		t.Errorf("before nbf: CurrentSigningKey = %v, %v; want %s", k, err, r1.NewKID)
	}
	if k, err := CurrentSigningKey(sp, mb, nbf.Add(time.Minute)); err != nil || k.KID() != r2.NewKID {
		t.Errorf("after nbf: CurrentSigningKey = %v, %v; want %s", k, err, r2.NewKID)
	}
	entries, err := os.ReadDir(filepath.Dir(sp))
	if err != nil || len(entries) != 3 {
		t.Errorf("data/keys holds %d files, want signing.jwk, the second key's and bundle.jwk", len(entries))
	}

	// Refusals.
	if _, err := a.RotateKey("XZ-RC", RotateOptions{}); err == nil || !strings.Contains(err.Error(), "no member XZ-RC") {
		t.Errorf("rotating an unknown member: %v", err)
	}
	if _, err := a.RotateKey("XB-RC", RotateOptions{Overlap: -time.Hour}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative overlap: %v", err)
	}
}

func TestSuspend(t *testing.T) {
	dir, _, _ := newFederation(t)
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		status  federation.Status
		wantErr string
	}{
		{federation.StatusSuspended, ""},
		{federation.StatusSuspended, "already suspended"},
		{federation.StatusActive, ""},
		{federation.StatusActive, "already active"},
		{"banned", "is not active or suspended"},
	}
	for _, st := range steps {
		before := a.Manifest().Version
		ch, err := a.SetStatus("XB-RC", st.status)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("SetStatus(%s) = %v, want %q", st.status, err, st.wantErr)
			}
			if a.Manifest().Version != before {
				t.Error("a refused status change re-signed the manifest")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		mb, _ := ch.Manifest.Member("XB-RC")
		if mb.Status != st.status || ch.Manifest.Version != before+1 {
			t.Errorf("status %s version %d, want %s %d", mb.Status, ch.Manifest.Version, st.status, before+1)
		}
		checkDistributed(t, dir, ch.Manifest)
	}
	if _, err := a.SetStatus("XZ-RC", federation.StatusSuspended); err == nil || !strings.Contains(err.Error(), "no member XZ-RC") {
		t.Errorf("suspending an unknown member: %v", err)
	}
}

// TestExpiredRenew: an expired manifest can still be opened (and shown) and
// renewed; nodes then accept the renewed one.
func TestExpiredRenew(t *testing.T) {
	dir, _, _ := newFederation(t)
	later := time.Now().Add(DefaultManifestValidity + time.Hour)
	a, err := Open(dir, WithClock(func() time.Time { return later }))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Expired() {
		t.Error("Expired() = false for an expired manifest")
	}
	ch, err := a.Renew()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(fpath(dir, ManifestFile))
	if _, err := federation.VerifyManifest(raw, anchorPub(t, dir), later, nil); err != nil || ch.Manifest.Version != 2 {
		t.Errorf("renewed manifest v%d: %v", ch.Manifest.Version, err)
	}
	if a.Expired() {
		t.Error("still expired after Renew")
	}
}

func TestOpenRefusals(t *testing.T) {
	dir, _, _ := newFederation(t)
	other, _, _ := newFederation(t)
	if _, err := Open(dir, WithAnchorKey(fpath(other, AnchorKeyFile))); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Open with another federation's anchor: %v", err)
	}
	if _, err := Open(dir, WithAnchorKey(filepath.Join(t.TempDir(), "missing.jwk"))); err == nil || !strings.Contains(err.Error(), "--anchor-key") {
		t.Errorf("Open without the anchor key: %v", err)
	}
	// A manifest signed by another anchor is refused.
	raw, _ := os.ReadFile(fpath(other, ManifestFile))
	if err := os.WriteFile(fpath(dir, ManifestFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, federation.ErrBadManifest) {
		t.Errorf("Open with a foreign manifest: %v, want bad_manifest", err)
	}
	// The anchor key offline (moved out of the directory) still works with WithAnchorKey.
	dir2, _, _ := newFederation(t)
	offline := filepath.Join(t.TempDir(), "anchor.jwk")
	if err := os.Rename(fpath(dir2, AnchorKeyFile), offline); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir2, WithAnchorKey(offline))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Renew(); err != nil {
		t.Error(err)
	}
}

func TestMissingMemberFolder(t *testing.T) {
	dir, _, _ := newFederation(t)
	// The operator handed ICRC-CTA its folder and removed it here.
	if err := os.RemoveAll(MemberDir(dir, "ICRC-CTA")); err != nil {
		t.Fatal(err)
	}
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.SetStatus("XA-RC", federation.StatusSuspended)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Missing) != 1 || ch.Missing[0] != "ICRC-CTA" || len(ch.Distributed) != 2 {
		t.Errorf("distributed %v missing %v", ch.Distributed, ch.Missing)
	}
}
