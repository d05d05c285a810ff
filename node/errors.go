package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// Code is a stable error code of the local API (the federation API uses
// federation.Code).
type Code string

// Local API error codes.
const (
	CodeBadRequest    Code = "bad_request"     // malformed request
	CodeSchemaInvalid Code = "schema_invalid"  // document fails schema v1 (Violations set)
	CodeNotFound      Code = "not_found"       // no such case, item or member
	CodeConflict      Code = "conflict"        // version or state conflict
	CodeErased        Code = "erased"          // the case was erased (withdrawn)
	CodePolicyDenied  Code = "policy_denied"   // the policy refused the transfer (Decision set)
	CodeUnknownMember Code = "unknown_member"  // destination not in the manifest
	CodeNotOrigin     Code = "not_origin"      // only the origin may do this to a case
	CodeUnavailable   Code = "unavailable"     // no usable manifest / database down
	CodeInternal      Code = "internal_error"  // anything else
	CodeForbidden     Code = "forbidden"       // role does not allow the call
	CodeUnauthorized  Code = "unauthenticated" // no or unknown bearer token
)

// HTTPStatus maps a code to its HTTP status.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeSchemaInvalid:
		return http.StatusUnprocessableEntity
	case CodeNotFound, CodeUnknownMember:
		return http.StatusNotFound
	case CodeConflict, CodeNotOrigin:
		return http.StatusConflict
	case CodeErased:
		return http.StatusGone
	case CodePolicyDenied:
		return http.StatusForbidden
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeForbidden:
		return http.StatusForbidden
	case CodeUnauthorized:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}

// Error is a local API error: a stable code, a message safe to show the
// caller (no personal data), and optional detail.
type Error struct {
	Code       Code
	Msg        string
	Violations []schema.Violation // schema_invalid
	Decision   *policy.Decision   // policy_denied
	Err        error              // internal cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

func errf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

func internal(msg string, err error) *Error { return &Error{Code: CodeInternal, Msg: msg, Err: err} }

// schemaErr turns a schema.Validate error into a node or federation error.
func schemaErr(err error) *Error {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		return &Error{Code: CodeSchemaInvalid, Msg: "document does not conform to schema v1", Violations: ve.Violations}
	}
	return &Error{Code: CodeBadRequest, Msg: err.Error()}
}

// ReceiveError is a refusal on the federation API: a federation code, a
// public message, and schema violations for schema_invalid.
type ReceiveError struct {
	Code       federation.Code
	Msg        string
	Violations []schema.Violation
	Err        error
}

func (e *ReceiveError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Msg) }
func (e *ReceiveError) Unwrap() error { return e.Err }

func refuse(c federation.Code, format string, args ...any) *ReceiveError {
	return &ReceiveError{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// AsReceiveError converts any error from Receive into a ReceiveError.
func AsReceiveError(err error) *ReceiveError {
	var re *ReceiveError
	if errors.As(err, &re) {
		return re
	}
	var fe *federation.Error
	if errors.As(err, &fe) {
		return &ReceiveError{Code: fe.Code, Msg: fe.Public(), Err: err}
	}
	return &ReceiveError{Code: "internal_error", Msg: "internal error", Err: err}
}
