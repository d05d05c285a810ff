package node

import (
	_ "github.com/familylinks/flx/conformance/variant"
	_ "github.com/familylinks/flx/node/internal/nodetest"
)
