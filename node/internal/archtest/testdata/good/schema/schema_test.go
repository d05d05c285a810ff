package schema_test

import _ "github.com/familylinks/flx/schema"
