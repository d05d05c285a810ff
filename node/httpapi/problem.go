package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/familylinks/flx/schema"
)

// Problem is an RFC 9457 problem document with FLX's stable code.
type Problem struct {
	Type     string           `json:"type"`
	Title    string           `json:"title"`
	Status   int              `json:"status"`
	Code     string           `json:"code"`
	Detail   string           `json:"detail,omitempty"`
	Errors   []problemPointer `json:"errors,omitempty"`
	Decision any              `json:"decision,omitempty"` // policy_denied: the decision with its reasons
}

type problemPointer struct {
	Pointer string `json:"pointer"`
	Keyword string `json:"keyword,omitempty"`
	Message string `json:"message"`
}

var titles = map[string]string{
	"unauthenticated_peer": "Peer not authenticated",
	"sender_mismatch":      "Sender is not allowed to send this",
	"bad_envelope":         "Malformed envelope",
	"unsupported_alg":      "Signature algorithm not allowed",
	"unknown_key":          "Unknown signing key",
	"bad_signature":        "Signature does not verify",
	"expired":              "Envelope expired",
	"not_yet_valid":        "Envelope not yet valid",
	"wrong_audience":       "Envelope addressed to another member",
	"replay":               "jti already used with other content",
	"schema_invalid":       "Body does not match its schema",
	"too_large":            "Body too large",
	"unsupported_kind":     "Kind not accepted",
	"suspended_member":     "Sender is suspended",
	"unavailable":          "Temporarily unavailable",
	"not_found":            "Not found",
	"method_not_allowed":   "Method not allowed",
	"internal_error":       "Internal error",
	"bad_request":          "Bad request",
	"conflict":             "Conflict",
	"erased":               "Erased",
	"policy_denied":        "Refused by the data-protection policy",
	"unknown_member":       "Unknown member",
	"not_origin":           "Only the case's origin may do this",
	"forbidden":            "Role not allowed",
	"unauthenticated":      "Bearer token required",
}

// writeProblem writes a problem document. detail must hold no personal data.
func writeProblem(w http.ResponseWriter, status int, code, detail string, viol []schema.Violation, decision any) {
	p := Problem{Type: "urn:flx:problem:" + code, Title: titles[code], Status: status, Code: code, Detail: detail, Decision: decision}
	if p.Title == "" {
		p.Title = http.StatusText(status)
	}
	for _, v := range viol {
		p.Errors = append(p.Errors, problemPointer{Pointer: v.Pointer, Keyword: v.Keyword, Message: v.Message})
	}
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal_error", "", nil, nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}
