package store_test

import (
	_ "github.com/familylinks/flx/federation"
	_ "github.com/familylinks/flx/node/store"
)
