package mtls

import _ "crypto/tls"
