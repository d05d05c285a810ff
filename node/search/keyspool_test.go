package search

import (
	"testing"

	"github.com/familylinks/flx/schema"
)

// TestKeysWithKeepsNoKeys: the buffer KeysWith builds a case's keys in
// is kept for the next case (keySets), wiped: no name or place of the
// case is left in memory the node reuses. The keys returned are their
// own string, not the kept buffer.
func TestKeysWithKeepsNoKeys(t *testing.T) {
	c := &schema.Case{CaseID: "XA-RC:POOL-1", Persons: []schema.Person{{ID: "p1",
		Names: []schema.Name{{Value: "Mira Testova", Part: schema.PartFull}}}}}
	keys := KeysWith(c, nil)
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	want := append([]string(nil), keys...)
	k := keySets.Get().(*keySet)
	if cap(k.buf) == 0 {
		t.Fatal("no buffer kept: the test tests nothing")
	}
	for i, b := range k.buf[:cap(k.buf)] {
		if b != 0 {
			t.Fatalf("byte %d of the kept buffer is %q: a key outlived the call", i, b)
		}
	}
	// Another case built in the same buffer leaves the first one's keys
	// as they were.
	keySets.Put(k)
	KeysWith(&schema.Case{CaseID: "XA-RC:POOL-2", Persons: []schema.Person{{ID: "p1",
		Names: []schema.Name{{Value: "Illia Zzzzzz", Part: schema.PartFull}}}}}, nil)
	for i := range keys {
		if keys[i] != want[i] {
			t.Fatalf("key %d changed from %q to %q", i, want[i], keys[i])
		}
	}
}
