package store_test

import (
	"reflect"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestReadOnlyHoldsNoWrite: the View handed to the HTTP layer has the reads
// and nothing else, whatever its dynamic type is asserted to.
func TestReadOnlyHoldsNoWrite(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		v := store.ReadOnly(b.s)
		if _, ok := v.(store.Queries); ok {
			t.Fatal("the read-only view is a Queries")
		}
		writers := reflect.TypeFor[store.Queries]()
		views := reflect.TypeFor[store.View]()
		dyn := reflect.TypeOf(v)
		for i := range writers.NumMethod() {
			name := writers.Method(i).Name
			_, isRead := views.MethodByName(name)
			if _, has := dyn.MethodByName(name); has != isRead {
				t.Errorf("the read-only view has %s: %t, a read: %t", name, has, isRead)
			}
		}
		if _, err := v.ListCases(t.Context(), store.CaseFilter{}); err != nil {
			t.Errorf("a read through the view: %v", err)
		}
	})
}
