package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/familylinks/flx/node"
)

// The recorder: record.js records with the browser's MediaRecorder (or
// takes a chosen file), hashes the recording, starts the node's resumable
// upload (POST .../record/start, a form with the synchronizer token) and
// writes it in pieces (POST .../record/{uid}?offset=N, the raw bytes, the
// token in the X-Flx-Csrf header). The node checks the SHA-256 once every
// byte is in and attaches the recording to the case; the page then opens
// it in the player, from where it is sent as a message.

// recordPiece is the size of the pieces record.js writes (under the
// guard's body limit).
const recordPiece = 512 << 10

func (c *Console) recordPage(w http.ResponseWriter, q *req) {
	id := q.PathValue("id")
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, false)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	// The camera and microphone are allowed on this page only.
	w.Header().Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()")
	base := c.o.Prefix + "/cases/" + url.PathEscape(id)
	c.render(w, q, http.StatusOK, "record", struct {
		*view
		CaseID string
		Erased bool
		Start  string
		Upload string
		Player string
		Piece  int
	}{c.newView(q, "record.title", id), id, cv.Case.Erased(), base + "/record/start", base + "/record/", base + "/media/", recordPiece})
}

// uploadAnswer is what the recorder's script reads.
type uploadAnswer struct {
	Upload   string `json:"upload,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Offset   int64  `json:"offset"`
	Complete bool   `json:"complete"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

func (c *Console) answerUpload(w http.ResponseWriter, q *req, up node.MediaUpload, err error) {
	a := uploadAnswer{Upload: up.Upload, SHA256: up.SHA256, Offset: up.Offset, Complete: up.Complete}
	status := http.StatusOK
	if err != nil {
		fl := failureOf(err)
		a.Code, a.Message, status = fl.Code, fl.Msg, fl.Status
		if fl.Code == string(node.CodeInternal) || status == 0 {
			c.log.Error("console: recording upload failed", "err", err.Error())
			a.Message, status = q.lc.T("code.internal_error"), http.StatusInternalServerError
		}
	}
	b, _ := json.Marshal(a)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (c *Console) startRecordingUpload(w http.ResponseWriter, q *req) {
	size, err := strconv.ParseInt(q.PostForm.Get("size"), 10, 64)
	if err != nil {
		size = 0 // the node refuses it with its own message
	}
	up, err := c.o.Backend.StartMediaUpload(q.Context(), q.actor(), q.PathValue("id"),
		node.MediaUploadRequest{SHA256: q.PostForm.Get("sha256"), SizeBytes: size, MediaType: q.PostForm.Get("type")})
	c.answerUpload(w, q, up, err)
}

func (c *Console) writeRecordingUpload(w http.ResponseWriter, q *req) {
	off, err := strconv.ParseInt(q.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		c.answerUpload(w, q, node.MediaUpload{}, &node.Error{Code: node.CodeBadRequest, Msg: "offset must be a whole number"})
		return
	}
	// The upload must be one of this case's (the node checks it is this
	// person's).
	st, err := c.o.Backend.MediaUploadState(q.Context(), q.actor(), q.PathValue("uid"))
	if err == nil && st.CaseID != q.PathValue("id") {
		err = &node.Error{Code: node.CodeNotFound, Msg: "no such upload"}
	}
	if err != nil {
		c.answerUpload(w, q, node.MediaUpload{}, err)
		return
	}
	up, err := c.o.Backend.WriteMediaUpload(q.Context(), q.actor(), q.PathValue("uid"), off, q.Body)
	// A piece is shorter than the whole: the node reports the body ending
	// before the last byte (request_timeout) with the offset reached, which
	// here is success.
	var ne *node.Error
	if errors.As(err, &ne) && string(ne.Code) == "request_timeout" && up.Offset > off {
		err = nil
	}
	c.answerUpload(w, q, up, err)
}
