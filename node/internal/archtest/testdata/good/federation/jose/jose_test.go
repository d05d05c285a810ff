package jose_test

import (
	_ "github.com/familylinks/flx/federation/jose"
	_ "github.com/lestrrat-go/jwx/v2/jwk"
)
