package jose

import _ "github.com/lestrrat-go/jwx/v2/jws"
