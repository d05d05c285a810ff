package media

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/familylinks/flx/federation"
)

// Problem codes of the media wire (SPEC §18.7), beside the federation's
// (federation.Code). They cross the wire in RFC 9457 problem documents like
// every federation refusal; never rename one.
const (
	// CodeMediaIncomplete: a message.deliver envelope with attached media
	// arrived before all its media was received and verified. Upload, then
	// send the envelope again.
	CodeMediaIncomplete federation.Code = "media_incomplete"
	// CodeMediaMismatch: a chunk, the chunk hash list or the whole media does
	// not match the signed reference.
	CodeMediaMismatch federation.Code = "media_mismatch"
	// CodeOffsetMismatch: a PATCH at another offset than the upload's; the
	// answer's Upload-Offset says where to resume.
	CodeOffsetMismatch federation.Code = "offset_mismatch"
	// CodeMediaQuota: the peer has too many uploads open, or too many bytes
	// pending; retry after Retry-After, once some complete or expire.
	CodeMediaQuota federation.Code = "media_quota_exceeded"
	// CodeInsufficientStorage: the receiver is out of space; retry later.
	CodeInsufficientStorage federation.Code = "insufficient_storage"
	// CodeRequestTimeout: the PATCH body stopped arriving (or broke off)
	// before its end; the answer's Upload-Offset says where to resume.
	CodeRequestTimeout federation.Code = "request_timeout"
	// CodeBadUpload: a malformed media request (content type, headers, body
	// form, an envelope without attached media).
	CodeBadUpload federation.Code = "bad_upload"

	CodeNotFound         federation.Code = "not_found"
	CodeMethodNotAllowed federation.Code = "method_not_allowed"
	CodeInternal         federation.Code = "internal_error"
)

// HTTPStatus is the status of a media or federation code.
func HTTPStatus(c federation.Code) int {
	switch c {
	case CodeMediaIncomplete, CodeOffsetMismatch:
		return http.StatusConflict
	case CodeMediaMismatch:
		return http.StatusUnprocessableEntity
	case CodeMediaQuota:
		return http.StatusTooManyRequests
	case CodeInsufficientStorage:
		return http.StatusInsufficientStorage
	case CodeBadUpload:
		return http.StatusBadRequest
	case CodeRequestTimeout:
		return http.StatusRequestTimeout
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	}
	return c.HTTPStatus()
}

// Retryable reports whether a sender tries again after a refusal with code c
// (SPEC §18.7): later, or after resuming from the offset the answer gives.
func Retryable(c federation.Code) bool {
	switch c {
	case CodeMediaIncomplete, CodeOffsetMismatch, CodeMediaQuota, CodeInsufficientStorage, CodeRequestTimeout,
		federation.CodeUnauthenticatedPeer, federation.CodeUnknownKey, federation.CodeUnavailable,
		"rate_limited", CodeInternal:
		return true
	}
	return false
}

var titles = map[federation.Code]string{
	CodeMediaIncomplete:     "Media not yet received",
	CodeMediaMismatch:       "Media does not match its signed reference",
	CodeOffsetMismatch:      "Upload offset mismatch",
	CodeMediaQuota:          "Media quota exceeded",
	CodeInsufficientStorage: "Insufficient storage",
	CodeBadUpload:           "Malformed media request",
	CodeRequestTimeout:      "Request body incomplete",
	CodeNotFound:            "Not found",
	CodeMethodNotAllowed:    "Method not allowed",
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// writeProblem answers with a problem document. detail is public: no
// personal data, no internal detail.
func writeProblem(w http.ResponseWriter, code federation.Code, detail string) {
	status := HTTPStatus(code)
	p := problem{Type: "urn:flx:problem:" + string(code), Title: titles[code], Status: status, Code: string(code), Detail: detail}
	if p.Title == "" {
		p.Title = http.StatusText(status)
	}
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "60")
		}
	}
	w.WriteHeader(status)
	w.Write(b)
}
