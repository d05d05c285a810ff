package node

import _ "encoding/base64"
