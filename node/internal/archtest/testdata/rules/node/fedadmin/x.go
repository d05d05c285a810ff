package fedadmin

import _ "github.com/familylinks/flx/node/store"
