package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/familylinks/flx/node"
)

// openapiJSON is the hand-written OpenAPI 3.1 description of the local API.
// TestOpenAPICoversRouter keeps it and the router in step.
//
//go:embed openapi.json
var openapiJSON []byte

// OpenAPI returns the local API's OpenAPI 3.1 document.
func OpenAPI() []byte { return append([]byte(nil), openapiJSON...) }

func (l *localAPI) openapi(w http.ResponseWriter, _ *http.Request, _ node.Actor) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	w.Write(openapiJSON)
}
