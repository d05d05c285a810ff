package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/media"
)

// Media of recorded video and voice messages on the local API: a
// caseworker system uploads a recording resumably (declare it with POST
// /api/v1/cases/{id}/media, then PATCH the bytes from the offset, HEAD to
// learn where to resume after a cut, as in tus), attaches it to a message
// by its sha256, lists a case's media and streams one with HTTP range
// requests (a browser plays it from the URL).

// mediaIdle bounds the wait for each piece of an upload or a stream: a
// recording takes longer than the listener's timeouts, a stalled client
// does not hold the connection for ever.
const mediaIdle = 2 * time.Minute

type mediaUploadBody node.MediaUploadRequest

func (mediaUploadBody) check() error { return nil }

func uploadPath(id string) string { return "/api/v1/media/uploads/" + id }

func setUploadHeaders(w http.ResponseWriter, up node.MediaUpload) {
	h := w.Header()
	h.Set(media.HeaderOffset, strconv.FormatInt(up.Offset, 10))
	h.Set(media.HeaderLength, strconv.FormatInt(up.Length, 10))
	h.Set("Cache-Control", "no-store")
}

type uploadAnswer struct {
	node.MediaUpload
	URL string `json:"url"`
}

func (l *localAPI) startMediaUpload(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok {
		return
	}
	var body mediaUploadBody
	if !l.readWrapper(w, r, &body) {
		return
	}
	up, err := l.n.StartMediaUpload(r.Context(), a, id, node.MediaUploadRequest(body))
	if err != nil {
		l.fail(w, r, err)
		return
	}
	setUploadHeaders(w, up)
	w.Header().Set("Location", uploadPath(up.Upload))
	status := http.StatusCreated
	if up.Complete {
		status = http.StatusOK
	}
	writeJSON(w, status, uploadAnswer{up, uploadPath(up.Upload)})
}

func (l *localAPI) mediaUploadState(w http.ResponseWriter, r *http.Request, a node.Actor) {
	up, err := l.n.MediaUploadState(r.Context(), a, mux.Vars(r)["uid"])
	if err != nil {
		l.fail(w, r, err)
		return
	}
	setUploadHeaders(w, up)
	writeJSON(w, http.StatusOK, uploadAnswer{up, uploadPath(up.Upload)})
}

func (l *localAPI) writeMediaUpload(w http.ResponseWriter, r *http.Request, a node.Actor) {
	if mt := r.Header.Get("Content-Type"); mt != media.ContentTypeChunks {
		writeProblem(w, problem.UnsupportedMediaType, "Content-Type must be "+media.ContentTypeChunks)
		return
	}
	off, err := media.ParseOffset(r.Header.Get(media.HeaderOffset))
	if err != nil {
		l.fail(w, r, badRequest("%s must be a non-negative decimal integer", media.HeaderOffset))
		return
	}
	rc := http.NewResponseController(w)
	touch := func() {
		_ = rc.SetReadDeadline(time.Now().Add(mediaIdle))
		_ = rc.SetWriteDeadline(time.Now().Add(mediaIdle))
	}
	up, err := l.n.WriteMediaUpload(r.Context(), a, mux.Vars(r)["uid"], off, r.Body, touch)
	if up.Upload != "" {
		setUploadHeaders(w, up)
	}
	if err != nil {
		l.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, uploadAnswer{up, uploadPath(up.Upload)})
}

func (l *localAPI) listCaseMedia(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.noQuery(w, r) {
		return
	}
	items, err := l.n.ListCaseMedia(r.Context(), id)
	l.reply(w, r, http.StatusOK, map[string]any{"case_id": id, "media": items}, err)
}

// streamWriter moves the write deadline on with every write, so a long
// video streams to a slow player while a stalled one is cut.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (s streamWriter) Write(b []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(mediaIdle))
	return s.ResponseWriter.Write(b)
}

func (s streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (l *localAPI) streamCaseMedia(w http.ResponseWriter, r *http.Request, a node.Actor) {
	id, ok := l.pathCaseID(w, r)
	if !ok || !l.noQuery(w, r) {
		return
	}
	sum, err := url.PathUnescape(mux.Vars(r)["sha256"])
	if err != nil {
		l.fail(w, r, problem.New(problem.NotFound, "no such media"))
		return
	}
	st, d, mediaType, err := l.n.OpenCaseMedia(r.Context(), a, id, sum)
	if err != nil {
		l.fail(w, r, err)
		return
	}
	media.ServeBlob(streamWriter{w, http.NewResponseController(w)}, r, st, d, mediaType)
}
