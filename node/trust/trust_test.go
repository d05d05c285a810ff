package trust_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/dbtest"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+dbtest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRefreshAndRollback(t *testing.T) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	path := filepath.Join(t.TempDir(), "manifest.jws")
	writeFile(t, path, f.Raw)
	st := openStore(t)

	tr, err := trust.New(ctx, trust.Options{Anchor: f.Anchor.Public(), Source: path, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if v := tr.Current().Version; v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	if err := tr.Usable(); err != nil {
		t.Fatal(err)
	}
	held, err := st.LatestManifest(ctx)
	if err != nil || held.Version != 1 {
		t.Fatalf("store holds %v, %v; want version 1", held.Version, err)
	}

	// A new version with XB-RC suspended is adopted and kept.
	v1 := f.Raw
	f.Member(t, "XB-RC").Status = federation.StatusSuspended
	writeFile(t, path, f.Sign(t))
	changed, err := tr.Refresh(ctx)
	if err != nil || !changed || tr.Current().Version != 2 {
		t.Fatalf("refresh: changed=%v err=%v version=%d", changed, err, tr.Current().Version)
	}
	if _, ok := tr.Directory().MemberBySPKI(f.Member(t, "XB-RC").Pin); ok {
		t.Fatal("a suspended member's pin must authenticate no one")
	}
	if id, ok := tr.Directory().MemberBySPKI(f.Member(t, "XA-RC").Pin); !ok || id != "XA-RC" {
		t.Fatalf("XA-RC pin -> %q %v", id, ok)
	}

	// Rolling back to version 1 is refused; version 2 stays.
	writeFile(t, path, v1)
	if _, err := tr.Refresh(ctx); federation.CodeOf(err) != federation.CodeManifestRollback {
		t.Fatalf("rollback refresh error = %v, want manifest_rollback", err)
	}
	if tr.Current().Version != 2 {
		t.Fatal("rollback replaced the held manifest")
	}
	if s := tr.Status(); s.LastError == "" || s.Version != 2 {
		t.Fatalf("status %+v should show version 2 and the refusal", s)
	}

	// A garbage source keeps the last good manifest.
	writeFile(t, path, []byte("not a manifest"))
	if _, err := tr.Refresh(ctx); err == nil {
		t.Fatal("garbage accepted")
	}
	if tr.Current().Version != 2 {
		t.Fatal("garbage replaced the held manifest")
	}

	// A restarted node with the source gone starts from the stored last-good version.
	os.Remove(path)
	tr2, err := trust.New(ctx, trust.Options{Anchor: f.Anchor.Public(), Source: path, Store: st})
	if err != nil {
		t.Fatalf("restart from stored manifest: %v", err)
	}
	if tr2.Current().Version != 2 {
		t.Fatalf("restart holds version %d, want 2", tr2.Current().Version)
	}
}

func TestRefusesForeignAnchor(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society")
	other := fedtest.New(t, "XA-RC:XA:society")
	path := filepath.Join(t.TempDir(), "manifest.jws")
	writeFile(t, path, f.Raw)
	_, err := trust.New(context.Background(), trust.Options{Anchor: other.Anchor.Public(), Source: path, Store: openStore(t)})
	if federation.CodeOf(err) != federation.CodeBadManifest {
		t.Fatalf("manifest signed by another anchor: err = %v, want bad_manifest", err)
	}
}

func TestNoManifestAtAll(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society")
	_, err := trust.New(context.Background(), trust.Options{Anchor: f.Anchor.Public(), Source: filepath.Join(t.TempDir(), "missing"), Store: openStore(t)})
	if err == nil {
		t.Fatal("a node with no manifest must not start")
	}
}

func TestExpiredManifestIsUnusable(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society")
	path := filepath.Join(t.TempDir(), "manifest.jws")
	writeFile(t, path, f.Raw)
	now := time.Now()
	clock := func() time.Time { return now }
	tr, err := trust.New(context.Background(), trust.Options{Anchor: f.Anchor.Public(), Source: path, Store: openStore(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// Within SKEW of expires_at the manifest is still in use (FLX-MAN-006).
	now = tr.Current().ExpiresAt.Add(federation.DefaultSkew - time.Second)
	if err := tr.Usable(); err != nil {
		t.Fatalf("Usable within SKEW of expires_at = %v", err)
	}
	now = now.Add(time.Second)
	if err := tr.Usable(); !errors.Is(err, trust.ErrNoManifest) {
		t.Fatalf("Usable SKEW after expires_at = %v", err)
	}
	now = now.Add(48 * time.Hour)
	if err := tr.Usable(); !errors.Is(err, trust.ErrNoManifest) {
		t.Fatalf("Usable after expiry = %v", err)
	}
	if tr.Directory().RootCAs() != nil {
		t.Fatal("an expired manifest must trust no CA")
	}
}

func TestConfiguredSkewAppliesToTheManifest(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society")
	path := filepath.Join(t.TempDir(), "manifest.jws")
	writeFile(t, path, f.Raw)
	now := time.Now()
	tr, err := trust.New(context.Background(), trust.Options{Anchor: f.Anchor.Public(), Source: path, Store: openStore(t),
		Now: func() time.Time { return now }, Skew: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now = tr.Current().ExpiresAt.Add(5*time.Minute - time.Second)
	if err := tr.Usable(); err != nil {
		t.Fatalf("Usable within the configured skew of expires_at = %v", err)
	}
	now = now.Add(time.Second)
	if err := tr.Usable(); !errors.Is(err, trust.ErrNoManifest) {
		t.Fatalf("Usable at expires_at + the configured skew = %v", err)
	}
}

func TestHTTPSource(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/manifest.jws" {
			http.NotFound(w, r)
			return
		}
		w.Write(f.Raw)
	}))
	t.Cleanup(srv.Close)
	tr, err := trust.New(context.Background(), trust.Options{Anchor: f.Anchor.Public(), Source: srv.URL + "/manifest.jws", Store: openStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Current().Version != 1 {
		t.Fatal("not loaded over HTTP")
	}
	_, err = trust.New(context.Background(), trust.Options{Anchor: f.Anchor.Public(), Source: srv.URL + "/missing", Store: openStore(t)})
	if err == nil {
		t.Fatal("404 source accepted")
	}
}
