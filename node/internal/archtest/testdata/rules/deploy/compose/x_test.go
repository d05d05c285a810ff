package compose

import _ "github.com/familylinks/flx/node/store"
