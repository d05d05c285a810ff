package httpapi

import "github.com/familylinks/flx/node/store"

var _ store.Store // tests may
