package node

import (
	"net/http"

	"github.com/familylinks/flx/node/media"
)

// ServeCaseMedia streams media sha256 of case caseID to a person's browser
// with HTTP ranges (media.ServeBlob), after OpenCaseMedia authorised and
// audited the read (media.read). The web console plays recordings through
// it; the error is the node's (not_found, unavailable) and nothing was
// written when it is not nil.
func (n *Node) ServeCaseMedia(w http.ResponseWriter, r *http.Request, a Actor, caseID, sha256 string) error {
	st, sum, mediaType, err := n.OpenCaseMedia(r.Context(), a, caseID, sha256)
	if err != nil {
		return err
	}
	media.ServeBlob(w, r, st, sum, mediaType)
	return nil
}
