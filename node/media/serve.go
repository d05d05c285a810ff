package media

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ServeBlob streams blob sum to a caseworker's browser or system with
// http.ServeContent: Range and If-Range requests (206, multipart ranges,
// 416 for unsatisfiable ranges), HEAD, and ETag (the sha256, which names
// the bytes exactly). Media is personal data: the answer is never cached by
// shared caches and never sniffed into another type. mediaType comes from
// the signed reference (schema-checked form type/subtype). The caller (the
// local API) authenticates, authorises and audits the read first; 404 when
// the blob is not here (not yet received, or erased).
func ServeBlob(w http.ResponseWriter, r *http.Request, s Store, sum Digest, mediaType string) {
	b, err := s.Open(r.Context(), sum)
	if errors.Is(err, ErrNotFound) {
		writeProblem(w, CodeNotFound, "no such media")
		return
	}
	if err != nil {
		writeProblem(w, CodeInternal, "internal error")
		return
	}
	defer b.Close()
	h := w.Header()
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	h.Set("Content-Type", mediaType)
	h.Set("ETag", `"sha256-`+sum.String()+`"`)
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", "inline")
	http.ServeContent(w, r, "", time.Time{}, ctxSeeker{r.Context(), b})
}

// ctxSeeker stops serving when the client goes.
type ctxSeeker struct {
	ctx context.Context
	b   Blob
}

func (c ctxSeeker) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.b.Read(p)
}

func (c ctxSeeker) Seek(off int64, whence int) (int64, error) { return c.b.Seek(off, whence) }
