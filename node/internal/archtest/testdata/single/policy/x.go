package policy

import _ "github.com/gorilla/mux"
