package deploy

import (
	_ "github.com/familylinks/flx/deploy/internal/runtest"
	_ "github.com/familylinks/flx/node/config"
)
