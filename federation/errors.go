package federation

import (
	"github.com/familylinks/flx/federation/problem"
)

// Code is a stable, machine-readable refusal code: a code of the one table
// in federation/problem, which gives its HTTP status and title.
type Code = problem.Code

// Error is a refusal with a stable code (problem.Error, the one error
// type). Msg is public: it may be sent to the peer and must not carry
// secrets or internal detail. Err is internal detail for logs (it may be
// nil).
type Error = problem.Error

// The codes of the federation contract this package refuses with (their
// statuses and titles are in problem's table, SPEC.md §8.2).
var (
	CodeUnauthenticatedPeer = problem.UnauthenticatedPeer // no client certificate, or one matching no member pin
	CodeSenderMismatch      = problem.SenderMismatch      // iss is not the member authenticated by mTLS
	CodeBadEnvelope         = problem.BadEnvelope         // malformed JWS or claims; forbidden header; missing claim
	CodeUnsupportedAlg      = problem.UnsupportedAlg      // alg not EdDSA/ES256, or not the alg pinned on the key
	CodeUnknownKey          = problem.UnknownKey          // kid not a key of the sender, or outside its nbf/exp
	CodeBadSignature        = problem.BadSignature        // signature does not verify
	CodeExpired             = problem.Expired             // exp passed (beyond skew)
	CodeNotYetValid         = problem.NotYetValid         // iat in the future (beyond skew)
	CodeWrongAudience       = problem.WrongAudience       // aud is not this node's member id
	CodeReplay              = problem.Replay              // jti already seen with other bytes
	CodeSchemaInvalid       = problem.SchemaInvalid       // body fails its schema (set by the node)
	CodeTooLarge            = problem.TooLarge            // body over the size limit (set by the node)
	CodeUnsupportedKind     = problem.UnsupportedKind     // kind unknown (or not accepted, set by the node)
	CodeSuspendedMember     = problem.SuspendedMember     // sender is suspended in the manifest
	// CodeUnavailable: the node cannot take envelopes now, and the sender
	// should retry later (SPEC §8.2, FLX-DLV-006). This package uses it when
	// the manifest held has expired and no newer one was adopted
	// (FLX-MAN-006): every envelope is refused until a fresh manifest is
	// held. The node answers it with a Retry-After header. Nodes may also use
	// it for overload and maintenance.
	CodeUnavailable = problem.Unavailable

	// CodeBadRelay: a relay.forward envelope whose relay chain does not
	// hold (relay.go): a hop that does not bind the inner token (the inner
	// was altered or swapped), a hop dropped or out of order, a hop by a
	// member that may not relay, a loop, too many hops, or an outer envelope
	// that is not the last hop.
	CodeBadRelay = problem.BadRelay
	// CodeRelayRefused: a relay will not forward a relay.forward envelope
	// whose chain holds: its data-protection policy refuses the inner
	// envelope (a relay cannot redact it: it would break the origin's
	// signature), or it has no route to the final recipient.
	CodeRelayRefused = problem.RelayRefused
	// CodeBadBundle: a carried bundle file that is malformed, truncated or
	// does not decrypt (federation/bundle). Bundles are imported by an
	// operator, not received on the federation API.
	CodeBadBundle = problem.BadBundle

	CodeBadManifest         = problem.BadManifest         // bad signature, wrong key, malformed or invalid content
	CodeManifestExpired     = problem.ManifestExpired     // expires_at passed
	CodeManifestNotYetValid = problem.ManifestNotYetValid // issued_at in the future
	CodeManifestRollback    = problem.ManifestRollback    // lower version than held, or same version other content
)

// Codes lists every code of this package, in the order above.
var Codes = []Code{
	CodeUnauthenticatedPeer, CodeSenderMismatch, CodeBadEnvelope, CodeUnsupportedAlg, CodeUnknownKey,
	CodeBadSignature, CodeExpired, CodeNotYetValid, CodeWrongAudience, CodeReplay, CodeSchemaInvalid,
	CodeTooLarge, CodeUnsupportedKind, CodeSuspendedMember, CodeUnavailable, CodeBadRelay, CodeRelayRefused, CodeBadBundle,
	CodeBadManifest, CodeManifestExpired, CodeManifestNotYetValid, CodeManifestRollback,
}

func newErr(c Code, msg string, err error) *Error { return &Error{Code: c, Msg: msg, Err: err} }

// NewError returns a refusal with code c, public message msg and internal
// detail err (which may be nil), for packages that build on this one
// (federation/bundle, federation/pull).
func NewError(c Code, msg string, err error) *Error { return newErr(c, msg, err) }

// Sentinels for errors.Is, one per code.
var (
	ErrUnauthenticatedPeer = ErrCode(CodeUnauthenticatedPeer)
	ErrSenderMismatch      = ErrCode(CodeSenderMismatch)
	ErrBadEnvelope         = ErrCode(CodeBadEnvelope)
	ErrUnsupportedAlg      = ErrCode(CodeUnsupportedAlg)
	ErrUnknownKey          = ErrCode(CodeUnknownKey)
	ErrBadSignature        = ErrCode(CodeBadSignature)
	ErrExpired             = ErrCode(CodeExpired)
	ErrNotYetValid         = ErrCode(CodeNotYetValid)
	ErrWrongAudience       = ErrCode(CodeWrongAudience)
	ErrReplay              = ErrCode(CodeReplay)
	ErrSchemaInvalid       = ErrCode(CodeSchemaInvalid)
	ErrTooLarge            = ErrCode(CodeTooLarge)
	ErrUnsupportedKind     = ErrCode(CodeUnsupportedKind)
	ErrSuspendedMember     = ErrCode(CodeSuspendedMember)
	ErrUnavailable         = ErrCode(CodeUnavailable)
	ErrBadRelay            = ErrCode(CodeBadRelay)
	ErrRelayRefused        = ErrCode(CodeRelayRefused)
	ErrBadBundle           = ErrCode(CodeBadBundle)
	ErrBadManifest         = ErrCode(CodeBadManifest)
	ErrManifestExpired     = ErrCode(CodeManifestExpired)
	ErrManifestNotYetValid = ErrCode(CodeManifestNotYetValid)
	ErrManifestRollback    = ErrCode(CodeManifestRollback)
)

// ErrCode returns an error that matches, with errors.Is, every *Error with
// code c: errors.Is(err, federation.ErrCode("replay")).
func ErrCode(c Code) error { return &Error{Code: c} }

// CodeOf returns the code of the first *Error in err's chain, or "" when
// there is none (an internal failure; HTTPStatus gives 500).
func CodeOf(err error) Code { return problem.CodeOf(err) }
