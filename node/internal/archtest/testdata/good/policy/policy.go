package policy

import (
	_ "github.com/familylinks/flx/schema"
	_ "github.com/google/cel-go/cel"
)
