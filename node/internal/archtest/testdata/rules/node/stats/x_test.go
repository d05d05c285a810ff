package stats_test

import (
	_ "github.com/familylinks/flx/federation"
)
