package schema

import _ "encoding/json"
