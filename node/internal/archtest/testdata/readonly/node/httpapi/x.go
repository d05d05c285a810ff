package httpapi

import "github.com/familylinks/flx/node/store"

func write(st store.Store, tx store.Tx) {}

type view struct{ v store.View } // reads are fine
