package mtls

import _ "golang.org/x/crypto/ocsp"
