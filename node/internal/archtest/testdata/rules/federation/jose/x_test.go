package jose

import _ "github.com/familylinks/flx/federation"
