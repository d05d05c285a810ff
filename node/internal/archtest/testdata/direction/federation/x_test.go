package federation

import _ "github.com/familylinks/flx/policy"
