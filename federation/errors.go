package federation

import (
	"errors"
	"net/http"
)

// Code is a stable, machine-readable refusal code. Codes cross the wire in
// RFC 9457 problem documents; never rename one.
type Code string

// Every code of the federation contract.
const (
	CodeUnauthenticatedPeer Code = "unauthenticated_peer" // no client certificate, or one matching no member pin
	CodeSenderMismatch      Code = "sender_mismatch"      // iss is not the member authenticated by mTLS
	CodeBadEnvelope         Code = "bad_envelope"         // malformed JWS or claims; forbidden header; missing claim
	CodeUnsupportedAlg      Code = "unsupported_alg"      // alg not EdDSA/ES256, or not the alg pinned on the key
	CodeUnknownKey          Code = "unknown_key"          // kid not a key of the sender, or outside its nbf/exp
	CodeBadSignature        Code = "bad_signature"        // signature does not verify
	CodeExpired             Code = "expired"              // exp passed (beyond skew)
	CodeNotYetValid         Code = "not_yet_valid"        // iat in the future (beyond skew)
	CodeWrongAudience       Code = "wrong_audience"       // aud is not this node's member id
	CodeReplay              Code = "replay"               // jti already seen with other bytes
	CodeSchemaInvalid       Code = "schema_invalid"       // body fails its schema (set by the node)
	CodeTooLarge            Code = "too_large"            // body over the size limit (set by the node)
	CodeUnsupportedKind     Code = "unsupported_kind"     // kind unknown (or not accepted, set by the node)
	CodeSuspendedMember     Code = "suspended_member"     // sender is suspended in the manifest
	// CodeUnavailable: the node cannot take envelopes now, and the sender
	// should retry later (SPEC §8.2, FLX-DLV-006). This package uses it when
	// the manifest held has expired and no newer one was adopted
	// (FLX-MAN-006): every envelope is refused until a fresh manifest is
	// held. The node answers it with a Retry-After header. Nodes may also use
	// it for overload and maintenance.
	CodeUnavailable Code = "unavailable"

	// CodeBadRelay: a relay.forward envelope whose relay chain does not
	// hold (relay.go): a hop that does not bind the inner token (the inner
	// was altered or swapped), a hop dropped or out of order, a hop by a
	// member that may not relay, a loop, too many hops, or an outer envelope
	// that is not the last hop.
	CodeBadRelay Code = "bad_relay"
	// CodeRelayRefused: a relay will not forward a relay.forward envelope
	// whose chain holds: its data-protection policy refuses the inner
	// envelope (a relay cannot redact it: it would break the origin's
	// signature), or it has no route to the final recipient.
	CodeRelayRefused Code = "relay_refused"
	// CodeBadBundle: a carried bundle file that is malformed, truncated or
	// does not decrypt (federation/bundle). Bundles are imported by an
	// operator, not received on the federation API.
	CodeBadBundle Code = "bad_bundle"

	CodeBadManifest         Code = "bad_manifest"           // bad signature, wrong key, malformed or invalid content
	CodeManifestExpired     Code = "manifest_expired"       // expires_at passed
	CodeManifestNotYetValid Code = "manifest_not_yet_valid" // issued_at in the future
	CodeManifestRollback    Code = "manifest_rollback"      // lower version than held, or same version other content
)

// Codes lists every code, in the order above.
var Codes = []Code{
	CodeUnauthenticatedPeer, CodeSenderMismatch, CodeBadEnvelope, CodeUnsupportedAlg, CodeUnknownKey,
	CodeBadSignature, CodeExpired, CodeNotYetValid, CodeWrongAudience, CodeReplay, CodeSchemaInvalid,
	CodeTooLarge, CodeUnsupportedKind, CodeSuspendedMember, CodeUnavailable, CodeBadRelay, CodeRelayRefused, CodeBadBundle,
	CodeBadManifest, CodeManifestExpired, CodeManifestNotYetValid, CodeManifestRollback,
}

// HTTPStatus is the status a refusal with this code is answered with:
//
//	401 unauthenticated_peer
//	403 sender_mismatch, suspended_member, relay_refused
//	409 replay, manifest_rollback (conflicts with what the node holds)
//	413 too_large
//	422 schema_invalid, unsupported_kind (a well-formed, authentic envelope
//	    whose content this node cannot take)
//	400 every other code (the request itself is malformed, unauthentic or
//	    out of date: bad_envelope, unsupported_alg, unknown_key,
//	    bad_signature, expired, not_yet_valid, wrong_audience, bad_relay,
//	    bad_bundle, bad_manifest, manifest_expired, manifest_not_yet_valid)
//	503 unavailable (retry later; send Retry-After)
//	500 the empty or an unknown code (an internal failure)
func (c Code) HTTPStatus() int {
	switch c {
	case CodeUnauthenticatedPeer:
		return http.StatusUnauthorized
	case CodeSenderMismatch, CodeSuspendedMember, CodeRelayRefused:
		return http.StatusForbidden
	case CodeReplay, CodeManifestRollback:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeSchemaInvalid, CodeUnsupportedKind:
		return http.StatusUnprocessableEntity
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeBadEnvelope, CodeUnsupportedAlg, CodeUnknownKey, CodeBadSignature, CodeExpired, CodeNotYetValid,
		CodeWrongAudience, CodeBadRelay, CodeBadBundle, CodeBadManifest, CodeManifestExpired, CodeManifestNotYetValid:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// Error is a refusal with a stable code. Msg is public: it may be sent to the
// peer and must not carry secrets or internal detail. Err is internal detail
// for logs (it may be nil).
type Error struct {
	Code Code
	Msg  string
	Err  error
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

// Is matches any *Error with the same code, so errors.Is(err, ErrExpired)
// holds for every expired refusal, whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Public returns what may be shown to the peer: the code's message without
// the internal detail.
func (e *Error) Public() string {
	if e.Msg == "" {
		return string(e.Code)
	}
	return e.Msg
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
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
