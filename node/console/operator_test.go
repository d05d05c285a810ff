package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// TestKeysPageShowsWhatExpires: the operator sees this node's certificate
// (and that its key is the one pinned), the federation's CA, the manifest
// and every member's signing keys with the one in use marked; and the same
// page, years later, says they expired.
func TestKeysPageShowsWhatExpires(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	op := e.browser()
	op.signIn(console.RoleOperator)
	p := op.get("/console/operator/keys")
	if p.status != 200 {
		t.Fatalf("keys page: %d", p.status)
	}
	for _, want := range []string{"This node&#39;s TLS certificate", "pinned in the manifest", "Federation CA certificate", "Federation manifest", "Signing key", "in use", "XB-RC", "ICRC-CTA"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "not pinned") || strings.Contains(p.body, `role="alert"`) {
		t.Errorf("a fresh federation shows a problem:\n%s", p.body)
	}
	if n := strings.Count(p.body, "(in use)"); n != 1 {
		t.Errorf("%d keys marked in use, want 1", n)
	}

	later := startEnv(t, envOptions{console: console.Options{Now: func() time.Time { return time.Now().Add(20 * 365 * 24 * time.Hour) }}})
	op = later.browser()
	op.signIn(console.RoleOperator)
	p = op.get("/console/operator/keys")
	if !strings.Contains(p.body, `role="alert"`) || !strings.Contains(p.body, "expired: peers will refuse") {
		t.Errorf("twenty years on, nothing is reported expired:\n%s", p.body)
	}
}

// TestPeersPageShowsBackoff: a peer that delivery rests after failures
// (the backoff kept in the store across restarts) is shown resting, with
// its failed rounds and the reason, until the time has passed.
func TestPeersPageShowsBackoff(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	op := e.browser()
	op.signIn(console.RoleOperator)
	if p := op.get("/console/operator/peers"); p.status != 200 || strings.Contains(p.body, "resting after") {
		t.Fatalf("peers page before any failure: %d\n%s", p.status, p.body)
	}
	if err := e.xa.Store.SavePeerBackoff(t.Context(), store.PeerBackoff{Destination: "XB-RC", Failures: 4,
		NextAttemptAt: time.Now().Add(10 * time.Minute), LastError: "http_503"}); err != nil {
		t.Fatal(err)
	}
	p := op.get("/console/operator/peers")
	if !strings.Contains(p.body, "resting after 4 failed rounds until") || !strings.Contains(p.body, "http_503") {
		t.Fatalf("peers page does not show XB-RC resting:\n%s", p.body)
	}
	// A rest that has ended is not shown.
	if err := e.xa.Store.SavePeerBackoff(t.Context(), store.PeerBackoff{Destination: "XB-RC", Failures: 4,
		NextAttemptAt: time.Now().Add(-time.Minute), LastError: "http_503"}); err != nil {
		t.Fatal(err)
	}
	if p := op.get("/console/operator/peers"); strings.Contains(p.body, "resting after") {
		t.Fatalf("an ended rest is still shown:\n%s", p.body)
	}
}
