package schema

import _ "github.com/familylinks/flx/node"
