package console

import "github.com/familylinks/flx/node/store"

func requeue(o store.Outbox) {}

type row struct{ d store.Decision } // read types are fine
