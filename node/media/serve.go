package media

import (
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
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
	if zeroSuffixRange(r.Header.Get("Range")) {
		// net/http answers "bytes=-0" with an empty 206 whose Content-Range
		// names no byte; RFC 9110 §14.1.2 makes it unsatisfiable.
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(b.Size(), 10))
		h.Del("Content-Type")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, ctxSeeker{r.Context(), b})
}

// zeroSuffixRange reports whether a bytes Range header asks for a suffix of
// length 0, which satisfies nothing.
func zeroSuffixRange(h string) bool {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return false
	}
	for _, r := range strings.Split(spec, ",") {
		// Spaces around the parts as net/http's parseRange allows them.
		start, end, ok := strings.Cut(textproto.TrimString(r), "-")
		end = textproto.TrimString(end)
		if !ok || textproto.TrimString(start) != "" || end == "" || end[0] == '-' {
			continue
		}
		if n, err := strconv.ParseInt(end, 10, 64); err == nil && n == 0 {
			return true
		}
	}
	return false
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
