package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// MediaType is the Content-Type of a problem document.
const MediaType = "application/problem+json"

// TypePrefix starts the type URI of every problem: TypePrefix + code.
const TypePrefix = "urn:flx:problem:"

// Problem is an RFC 9457 problem document with FLX's stable code (SPEC.md
// §8.1): what both APIs answer with.
type Problem struct {
	Type   string    `json:"type"`
	Title  string    `json:"title"`
	Status int       `json:"status"`
	Code   Code      `json:"code"`
	Detail string    `json:"detail,omitempty"`
	Errors []Pointer `json:"errors,omitempty"`
	// Decision is the policy decision of a policy_denied refusal (local API).
	Decision any `json:"decision,omitempty"`
}

// Pointer locates one violation in a refused document (schema_invalid).
type Pointer struct {
	Pointer string `json:"pointer"`
	Keyword string `json:"keyword,omitempty"`
	Message string `json:"message"`
}

// Error is the one error type: a refusal with a stable code. Msg is public
// (it becomes the problem's detail) and must hold no personal data, secret or
// internal detail; Err is the internal cause, for logs only.
type Error struct {
	Code     Code
	Msg      string
	Errors   []Pointer // schema_invalid: where the document is wrong
	Decision any       // policy_denied: the policy decision
	Err      error
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches any *Error with the same code, so errors.Is(err,
// &Error{Code: Expired}) holds for every expired refusal.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Public returns what may be shown to the caller: the message, or the code
// when there is none.
func (e *Error) Public() string {
	if e.Msg == "" {
		return string(e.Code)
	}
	return e.Msg
}

// New returns an error with code c and a public message.
func New(c Code, msg string) *Error { return &Error{Code: c, Msg: msg} }

// Errorf returns an error with code c and a formatted public message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code c, a public message and an internal cause.
func Wrap(c Code, msg string, err error) *Error { return &Error{Code: c, Msg: msg, Err: err} }

// CodeOf returns the code of the first *Error in err's chain, or "" when
// there is none (an internal failure: HTTPStatus gives 500).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// As returns the first *Error in err's chain or, when there is none, an
// internal_error whose cause is err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Err: err}
}

// Problem returns the document for e. The detail of an internal error is
// left out: its cause goes to the log, not on the wire.
func (e *Error) Problem() *Problem {
	p := Of(e.Code, e.Msg)
	if e.Code == Internal || p.Status == http.StatusInternalServerError {
		p.Detail = ""
	}
	p.Errors, p.Decision = e.Errors, e.Decision
	return p
}

// Of returns the problem document of code c with a detail.
func Of(c Code, detail string) *Problem {
	return &Problem{Type: TypePrefix + string(c), Title: c.Title(), Status: c.HTTPStatus(), Code: c, Detail: detail}
}

// Write writes p with its status. Problems are never cached.
func (p *Problem) Write(w http.ResponseWriter) {
	b, err := json.Marshal(p)
	if err != nil { // only a Decision that does not encode
		p = Of(Internal, "")
		b, _ = json.Marshal(p)
	}
	h := w.Header()
	h.Set("Content-Type", MediaType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(p.Status)
	w.Write(b)
}

// Write writes err as a problem document (see As and Error.Problem).
func Write(w http.ResponseWriter, err error) { As(err).Problem().Write(w) }

// Parse reads a problem document as a peer answered it: a JSON object whose
// code is a non-empty string. It does not require the peer's status or title
// to match this table (a peer may be older or newer); the conformance suite
// checks that.
func Parse(body []byte) (*Problem, error) {
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("problem: not a problem document: %w", err)
	}
	if strings.TrimSpace(string(p.Code)) == "" {
		return nil, errors.New("problem: no code")
	}
	return &p, nil
}
