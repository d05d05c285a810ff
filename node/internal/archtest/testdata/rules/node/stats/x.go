package stats

import (
	_ "github.com/familylinks/flx/node/store"
	_ "github.com/familylinks/flx/schema"
)
