package node

import _ "github.com/familylinks/flx/conformance/variant"
