package node

import (
	_ "github.com/familylinks/flx/federation/jose"
	_ "github.com/familylinks/flx/policy"
)
