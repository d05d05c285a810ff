package nodetest

import (
	_ "github.com/familylinks/flx/node"
	_ "github.com/familylinks/flx/node/internal/dbtest"
)
