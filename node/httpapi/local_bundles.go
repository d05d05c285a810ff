package httpapi

import (
	"net/http"

	"github.com/familylinks/flx/node"
)

// Carried bundles on the local API (conformance/SPEC.md §16 and the optional
// trigger calls of §12): what `flx bundle export|import` does on the node's
// database, for a caseworker system or the conformance tester while the
// node runs.

// BundleExportRequest is the body of POST /api/v1/bundles/export.
type BundleExportRequest struct {
	To string `json:"to"`
}

func (req *BundleExportRequest) check() error { return checkMember(req.To) }

// BundleExport answers POST /api/v1/bundles/export.
type BundleExport struct {
	To        string `json:"to"`
	JTI       string `json:"jti"`
	Envelopes int    `json:"envelopes"`
	// Bundle is the bundle file: one compact JWE, signed by this member and
	// encrypted to the recipient's key from the manifest.
	Bundle string `json:"bundle"`
}

// BundleImportRequest is the body of POST /api/v1/bundles/import.
type BundleImportRequest struct {
	Bundle string `json:"bundle"`
}

func (req *BundleImportRequest) check() error {
	if req.Bundle == "" {
		return badRequest(`"bundle" must be a bundle file (one compact JWE)`)
	}
	return nil
}

// BundleImport answers POST /api/v1/bundles/import.
type BundleImport struct {
	From       string `json:"from"`
	JTI        string `json:"jti"`
	Stored     int    `json:"stored"`
	Duplicates int    `json:"duplicates"`
	Refused    int    `json:"refused"`
	Receipts   int    `json:"receipts"`
	Unmatched  int    `json:"unmatched"`
	// Return is the bundle of receipts and refusals to carry back to From
	// (absent when there is nothing to return).
	Return string `json:"return,omitempty"`
}

func (l *localAPI) exportBundle(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	var req BundleExportRequest
	if !l.readWrapper(w, r, &req) {
		return
	}
	exp, err := l.n.ExportBundle(r.Context(), req.To)
	l.reply(w, r, http.StatusOK, BundleExport{To: req.To, JTI: exp.JTI, Envelopes: exp.Envelopes, Bundle: string(exp.File)}, err)
}

func (l *localAPI) importBundle(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	var req BundleImportRequest
	if !l.readWrapper(w, r, &req) {
		return
	}
	res, err := l.n.ImportBundle(r.Context(), []byte(req.Bundle))
	l.reply(w, r, http.StatusOK, BundleImport{
		From: res.From, JTI: res.JTI, Stored: res.Stored, Duplicates: res.Duplicates, Refused: res.Refused,
		Receipts: res.Receipts, Unmatched: res.Unmatched, Return: string(res.Return),
	}, err)
}
