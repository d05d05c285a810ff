package bundle

import (
	_ "github.com/familylinks/flx/federation"
	_ "github.com/familylinks/flx/federation/mtls"
)
