package node

import (
	"errors"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/schema"
)

// Error is the one error type of FLX (problem.Error): a stable code from
// problem's table, a public message, and for schema_invalid the pointers,
// for policy_denied the decision. Every error the node's operations return
// to the local or the federation API is one (see problem.As).
type Error = problem.Error

// Code is a stable code of problem's table.
type Code = problem.Code

// The codes the node's operations return (statuses and titles are in
// problem's table).
var (
	CodeBadRequest      = problem.BadRequest      // malformed request
	CodeSchemaInvalid   = problem.SchemaInvalid   // document fails schema v1 (Errors set)
	CodeNotFound        = problem.NotFound        // no such case, item or member
	CodeConflict        = problem.Conflict        // version or state conflict
	CodeErased          = problem.Erased          // the case was erased (withdrawn)
	CodePolicyDenied    = problem.PolicyDenied    // the policy refused the transfer (Decision set)
	CodeUnknownMember   = problem.UnknownMember   // destination not in the manifest
	CodeNotOrigin       = problem.NotOrigin       // only the origin may do this to a case
	CodeUnavailable     = problem.Unavailable     // no usable manifest / database down
	CodeInternal        = problem.Internal        // anything else
	CodeForbidden       = problem.Forbidden       // role does not allow the call
	CodeUnauthorized    = problem.Unauthenticated // no or unknown bearer token
	CodeTooLarge        = problem.TooLarge        // the envelope would exceed the destination's limit
	CodeUnsupportedKind = problem.UnsupportedKind // the destination declares it does not accept the kind
)

func errf(c Code, format string, args ...any) *Error { return problem.Errorf(c, format, args...) }

func internal(msg string, err error) *Error { return problem.Wrap(problem.Internal, msg, err) }

// pointers converts schema violations to problem pointers.
func pointers(v []schema.Violation) []problem.Pointer {
	out := make([]problem.Pointer, 0, len(v))
	for _, x := range v {
		out = append(out, problem.Pointer{Pointer: x.Pointer, Keyword: x.Keyword, Message: x.Message})
	}
	return out
}

// schemaErr turns a schema.Validate error into schema_invalid with its
// pointers (or bad_request for what is not even JSON of the right shape).
func schemaErr(err error, msg string) *Error {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		return &Error{Code: problem.SchemaInvalid, Msg: msg, Errors: pointers(ve.Violations)}
	}
	return &Error{Code: problem.BadRequest, Msg: err.Error()}
}
