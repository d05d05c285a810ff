package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"

	"github.com/familylinks/flx/node"
)

// openapiJSON is the hand-written OpenAPI 3.1 description of the local API.
// TestOpenAPICoversRouter keeps it and the router in step.
//
//go:embed openapi.json
var openapiJSON []byte

// openapiDocuments are the document schemas (case, response, message)
// generated from schema/v1 by TestOpenAPIDocumentSchemasGenerated, with
// their definitions: the bodies the node validates, in full.
//
//go:embed openapi_documents.json
var openapiDocuments []byte

// servedOpenAPI is openapi.json with openapiDocuments overlaid on its
// components.
var servedOpenAPI = mergeOpenAPI(openapiJSON, openapiDocuments)

func mergeOpenAPI(doc, schemas []byte) []byte {
	var d map[string]any
	var s map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		panic("httpapi: openapi.json: " + err.Error())
	}
	if err := json.Unmarshal(schemas, &s); err != nil {
		panic("httpapi: openapi_documents.json: " + err.Error())
	}
	comps := d["components"].(map[string]any)["schemas"].(map[string]any)
	for k, v := range s {
		comps[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		panic("httpapi: openapi: " + err.Error())
	}
	return buf.Bytes()
}

// OpenAPI returns the local API's OpenAPI 3.1 document, as served.
func OpenAPI() []byte { return append([]byte(nil), servedOpenAPI...) }

func (l *localAPI) openapi(w http.ResponseWriter, _ *http.Request, _ node.Actor) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	w.Write(servedOpenAPI)
}
