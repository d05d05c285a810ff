package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// IdempotencyKeyHeader makes a local API POST or PUT idempotent: the first answer
// to a key is kept 24 hours per caller (token) and given again, unchanged,
// to every retry with the same key and the same request; the same key with
// another request (method, path, query or body) is 409
// idempotency_key_reused, and a retry while the first still runs is 409
// conflict. A server error (5xx) is not kept: a retry runs again.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader marks an answer given again for an Idempotency-Key.
const ReplayedHeader = "Idempotent-Replayed"

// maxIdempotencyKey bounds a key (visible ASCII).
const maxIdempotencyKey = 255

// keptHeaders are the answer headers kept with the first answer.
var keptHeaders = []string{"Content-Type", "Location"}

func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent runs h at most once per (scope, Idempotency-Key), scope being
// the caller's credential, and answers retries with the first answer.
func (l *localAPI) idempotent(w http.ResponseWriter, r *http.Request, scope string, a node.Actor, h handlerFunc) {
	key := r.Header.Get(IdempotencyKeyHeader)
	if !validIdempotencyKey(key) {
		writeProblem(w, problem.BadRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters")
		return
	}
	if r.ContentLength > l.maxBody {
		writeProblem(w, problem.TooLarge, "body larger than "+strconv.FormatInt(l.maxBody, 10)+" bytes")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, l.maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeProblem(w, problem.TooLarge, "body larger than "+strconv.FormatInt(l.maxBody, 10)+" bytes")
		return
	case err != nil:
		writeProblem(w, problem.BadRequest, "could not read the body")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	for _, part := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery} {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	sum.Write(body)
	hash := hex.EncodeToString(sum.Sum(nil))

	rec, fresh, err := l.n.BeginIdempotent(r.Context(), scope, key, hash)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	if !fresh {
		switch {
		case rec.RequestHash != hash:
			writeProblem(w, problem.IdempotencyKeyReused, "this Idempotency-Key was used for another request (method, path or body) within 24 hours: use a new key")
		case rec.Status == 0:
			writeProblem(w, problem.Conflict, "a request with this Idempotency-Key is still running: retry later")
		default:
			var hdr map[string]string
			_ = json.Unmarshal([]byte(rec.Headers), &hdr)
			for _, k := range keptHeaders {
				if v, ok := hdr[k]; ok {
					w.Header().Set(k, v)
				}
			}
			w.Header().Set(ReplayedHeader, "true")
			w.WriteHeader(rec.Status)
			w.Write(rec.Body)
		}
		return
	}
	ctx := context.WithoutCancel(r.Context())
	rw := &recorder{ResponseWriter: w}
	kept := false
	defer func() { // a panic or a server error: the key may be used again
		if !kept {
			if err := l.n.AbandonIdempotent(ctx, scope, key); err != nil {
				l.log.Warn("local api: idempotency key not released", "err", err)
			}
		}
	}()
	h(rw, r, a)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if rw.status >= 500 {
		return
	}
	hdr := map[string]string{}
	for _, k := range keptHeaders {
		if v := w.Header().Get(k); v != "" {
			hdr[k] = v
		}
	}
	hb, _ := json.Marshal(hdr)
	if err := l.n.FinishIdempotent(ctx, scope, key, store.IdempotentAnswer{Status: rw.status, Headers: string(hb), Body: rw.body.Bytes()}); err != nil {
		l.log.Warn("local api: idempotency answer not kept", "err", err)
		return
	}
	kept = true
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
