package dbtest

import _ "github.com/lib/pq"
