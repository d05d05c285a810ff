package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
)

// TestAdmittedBounded: an entry is taken once, by its key; a full handoff
// keeps what it holds and refuses new entries (processing reads the oldest
// next) until entries are taken; entries never taken leave after
// admittedMaxAge; the refs of taken entries do not pile up.
func TestAdmittedBounded(t *testing.T) {
	var a admittedEnvelopes
	claims := func(i int) federation.Claims {
		return federation.Claims{JTI: fmt.Sprint(i), Body: []byte(`{"case_id":"XA-RC:1"}`)}
	}
	a.put("k0", claims(0), nil)
	a.put("k0", claims(1), nil) // the same envelope again: the first stays
	if e, ok := a.take("k0"); !ok || e.claims.JTI != "0" {
		t.Fatalf("take: %+v %t", e, ok)
	}
	if _, ok := a.take("k0"); ok {
		t.Fatal("taken twice")
	}
	for i := range admittedSize + 10 {
		a.put(fmt.Sprint("k", i), claims(i), nil)
	}
	if len(a.m) != admittedSize {
		t.Fatalf("%d entries held, bound %d", len(a.m), admittedSize)
	}
	if _, ok := a.take(fmt.Sprint("k", admittedSize+5)); ok {
		t.Fatal("an entry put while full was kept")
	}
	if e, ok := a.take("k0"); !ok || e.claims.JTI != "0" {
		t.Fatal("the oldest entry was not kept")
	}
	a.put("new", claims(-1), nil) // room again
	if _, ok := a.take("new"); !ok {
		t.Fatal("no room after a take")
	}
	// Taken and put many times over: refs stay bounded.
	for i := range 10 * admittedSize {
		k := fmt.Sprint("again", i)
		a.put(k, claims(i), nil)
		a.take(k)
	}
	if len(a.order) > 4*admittedSize+1 {
		t.Fatalf("%d refs held for %d entries", len(a.order), len(a.m))
	}
	if a.bytes != len(a.m)*3*len(claims(0).Body) {
		t.Fatalf("bytes %d for %d entries", a.bytes, len(a.m))
	}
	// Never taken: they leave after admittedMaxAge.
	a.mu.Lock()
	a.roomLocked(0, time.Now().Add(admittedMaxAge+time.Second))
	n, b := len(a.m), a.bytes
	a.mu.Unlock()
	if n != 0 || b != 0 {
		t.Fatalf("%d entries (%d bytes) held after their age", n, b)
	}
	big := federation.Claims{Body: make([]byte, admittedMaxBytes+1)}
	a.put("big", big, nil)
	if _, ok := a.take("big"); ok {
		t.Fatal("an envelope over the bound was kept")
	}
}
