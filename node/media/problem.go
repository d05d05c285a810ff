package media

import (
	"net/http"

	"github.com/familylinks/flx/federation/problem"
)

// Problem codes of the media wire (SPEC §18.7). They are rows of the one
// code table, federation/problem (status, title, retryability); these names
// are for readers of this package.
var (
	// CodeMediaIncomplete: a message.deliver envelope with attached media
	// arrived before all its media was received and verified. Upload, then
	// send the envelope again.
	CodeMediaIncomplete = problem.MediaIncomplete
	// CodeMediaMismatch: a chunk, the chunk hash list or the whole media does
	// not match the signed reference.
	CodeMediaMismatch = problem.MediaMismatch
	// CodeOffsetMismatch: a PATCH at another offset than the upload's; the
	// answer's Upload-Offset says where to resume.
	CodeOffsetMismatch = problem.OffsetMismatch
	// CodeMediaQuota: the peer has too many uploads open, or too many bytes
	// pending; retry after Retry-After, once some complete or expire.
	CodeMediaQuota = problem.MediaQuotaExceeded
	// CodeInsufficientStorage: the receiver is out of space; retry later.
	CodeInsufficientStorage = problem.InsufficientStorage
	// CodeRequestTimeout: the PATCH body stopped arriving (or broke off)
	// before its end; the answer's Upload-Offset says where to resume.
	CodeRequestTimeout = problem.RequestTimeout
	// CodeBadUpload: a malformed media request (content type, headers, body
	// form, an envelope without attached media).
	CodeBadUpload = problem.BadUpload

	CodeNotFound         = problem.NotFound
	CodeMethodNotAllowed = problem.MethodNotAllowed
	CodeInternal         = problem.Internal
)

// HTTPStatus is the status of a code (the table's).
func HTTPStatus(c problem.Code) int { return c.HTTPStatus() }

// Retryable reports whether a sender tries again after a refusal with code c
// (SPEC §18.7): later, or after resuming from the offset the answer gives.
func Retryable(c problem.Code) bool { return c.Retryable() }

// writeProblem answers with a problem document. detail is public: no
// personal data, no internal detail.
func writeProblem(w http.ResponseWriter, code problem.Code, detail string) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	switch code.HTTPStatus() {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "60")
		}
	}
	problem.New(code, detail).Problem().Write(w)
}
