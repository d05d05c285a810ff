package problem

import "net/http"

// Code is a stable, machine-readable code. Codes cross the wire in problem
// documents: never rename one.
type Code string

// API says on which of the node's APIs a code is answered.
type API string

// The APIs.
const (
	Federation API = "federation" // the federation API (SPEC.md §8.2)
	Local      API = "local"      // the local API of caseworkers, operators and auditors
	Both       API = "both"       // either
	Media      API = "media"      // the media transfer resources of the federation listener (SPEC.md §18)
	Logs       API = "logs"       // never answered: for the operator's logs (refused manifests, bundles)
)

// Def is one row of the code table.
type Def struct {
	Code   Code
	Status int
	Title  string
	API    API
}

var (
	table = map[Code]Def{}
	order []Code
)

// def adds a row to the table; a code defined twice is a programming error.
func def(api API, code string, status int, title string) Code {
	c := Code(code)
	if _, dup := table[c]; dup || code == "" || title == "" || status < 400 || status > 599 {
		panic("problem: bad or duplicated code " + code)
	}
	table[c] = Def{Code: c, Status: status, Title: title, API: api}
	order = append(order, c)
	return c
}

// The code table: one line per code, its HTTP status and title.
var (
	// The federation API (conformance/SPEC.md §8.2).
	UnauthenticatedPeer = def(Federation, "unauthenticated_peer", http.StatusUnauthorized, "Peer not authenticated")
	SenderMismatch      = def(Federation, "sender_mismatch", http.StatusForbidden, "Sender is not allowed to send this")
	SuspendedMember     = def(Federation, "suspended_member", http.StatusForbidden, "Sender is suspended")
	BadEnvelope         = def(Federation, "bad_envelope", http.StatusBadRequest, "Malformed envelope")
	UnsupportedAlg      = def(Federation, "unsupported_alg", http.StatusBadRequest, "Signature algorithm not allowed")
	UnknownKey          = def(Federation, "unknown_key", http.StatusBadRequest, "Unknown signing key")
	BadSignature        = def(Federation, "bad_signature", http.StatusBadRequest, "Signature does not verify")
	Expired             = def(Federation, "expired", http.StatusBadRequest, "Envelope expired")
	NotYetValid         = def(Federation, "not_yet_valid", http.StatusBadRequest, "Envelope not yet valid")
	WrongAudience       = def(Federation, "wrong_audience", http.StatusBadRequest, "Envelope addressed to another member")
	Replay              = def(Federation, "replay", http.StatusConflict, "jti already used with other content")
	UnsupportedKind     = def(Federation, "unsupported_kind", http.StatusUnprocessableEntity, "Kind not accepted")
	RateLimited         = def(Federation, "rate_limited", http.StatusTooManyRequests, "Too many requests")
	BadRelay            = def(Federation, "bad_relay", http.StatusBadRequest, "Relay chain does not hold")
	RelayRefused        = def(Federation, "relay_refused", http.StatusForbidden, "Relay refused to forward")

	// Both APIs.
	SchemaInvalid    = def(Both, "schema_invalid", http.StatusUnprocessableEntity, "Body does not match its schema")
	TooLarge         = def(Both, "too_large", http.StatusRequestEntityTooLarge, "Body too large")
	NotFound         = def(Both, "not_found", http.StatusNotFound, "Not found")
	MethodNotAllowed = def(Both, "method_not_allowed", http.StatusMethodNotAllowed, "Method not allowed")
	Unavailable      = def(Both, "unavailable", http.StatusServiceUnavailable, "Temporarily unavailable")
	Internal         = def(Both, "internal_error", http.StatusInternalServerError, "Internal error")

	// The local API.
	BadRequest           = def(Local, "bad_request", http.StatusBadRequest, "Bad request")
	DuplicateKey         = def(Local, "duplicate_key", http.StatusBadRequest, "JSON object member given twice")
	Unauthenticated      = def(Local, "unauthenticated", http.StatusUnauthorized, "Bearer token required")
	Forbidden            = def(Local, "forbidden", http.StatusForbidden, "Role not allowed")
	Conflict             = def(Local, "conflict", http.StatusConflict, "Conflict")
	NotOrigin            = def(Local, "not_origin", http.StatusConflict, "Only the case's origin may do this")
	IdempotencyKeyReused = def(Local, "idempotency_key_reused", http.StatusConflict, "Idempotency-Key used for another request")
	Erased               = def(Local, "erased", http.StatusGone, "Erased")
	PolicyDenied         = def(Local, "policy_denied", http.StatusForbidden, "Refused by the data-protection policy")
	UnknownMember        = def(Local, "unknown_member", http.StatusNotFound, "Unknown member")
	UnsupportedMediaType = def(Local, "unsupported_media_type", http.StatusUnsupportedMediaType, "Unsupported media type")
	// Attached media whose container the node cannot clean of metadata (an
	// unknown media_type, malformed or truncated bytes): never sent as is.
	MediaNotCleanable = def(Local, "media_not_cleanable", http.StatusUnprocessableEntity, "Media cannot be cleaned of metadata")

	// Media transfer (SPEC.md §18.7).
	MediaIncomplete     = def(Media, "media_incomplete", http.StatusConflict, "Media not yet received")
	MediaMismatch       = def(Media, "media_mismatch", http.StatusUnprocessableEntity, "Media does not match its signed reference")
	OffsetMismatch      = def(Media, "offset_mismatch", http.StatusConflict, "Upload offset mismatch")
	MediaQuotaExceeded  = def(Media, "media_quota_exceeded", http.StatusTooManyRequests, "Media quota exceeded")
	InsufficientStorage = def(Media, "insufficient_storage", http.StatusInsufficientStorage, "Insufficient storage")
	RequestTimeout      = def(Media, "request_timeout", http.StatusRequestTimeout, "Request body incomplete")
	BadUpload           = def(Media, "bad_upload", http.StatusBadRequest, "Malformed media request")

	// Carried bundles are imported by an operator, not received.
	BadBundle = def(Logs, "bad_bundle", http.StatusBadRequest, "Bundle refused")

	// Refused manifests: logged, never answered (SPEC.md §8.2).
	BadManifest         = def(Logs, "bad_manifest", http.StatusBadRequest, "Manifest refused")
	ManifestExpired     = def(Logs, "manifest_expired", http.StatusBadRequest, "Manifest expired")
	ManifestNotYetValid = def(Logs, "manifest_not_yet_valid", http.StatusBadRequest, "Manifest not yet valid")
	ManifestRollback    = def(Logs, "manifest_rollback", http.StatusConflict, "Manifest older than the one held")
)

// Lookup returns the table row of c.
func Lookup(c Code) (Def, bool) {
	d, ok := table[c]
	return d, ok
}

// Codes returns every code of the table, in table order.
func Codes() []Code { return append([]Code(nil), order...) }

// HTTPStatus is the status a refusal with code c is answered with; 500 for
// the empty or an unknown code (an internal failure).
func (c Code) HTTPStatus() int {
	if d, ok := table[c]; ok {
		return d.Status
	}
	return http.StatusInternalServerError
}

// Title is the short, fixed title of c (for an unknown code, the status text
// of 500).
func (c Code) Title() string {
	if d, ok := table[c]; ok {
		return d.Title
	}
	return http.StatusText(http.StatusInternalServerError)
}

// Retryable reports whether a sender retries an envelope refused with c
// (SPEC.md §8.2): unauthenticated_peer and unknown_key (the two nodes may
// hold different manifest versions), rate_limited, internal_error,
// unavailable, and the empty code (a failure without an answer); of the
// media codes (SPEC.md §18.7), those a sender retries later or resumes
// from the offset the answer gives. Every other code is final.
func (c Code) Retryable() bool {
	switch c {
	case "", UnauthenticatedPeer, UnknownKey, RateLimited, Internal, Unavailable,
		MediaIncomplete, OffsetMismatch, MediaQuotaExceeded, InsufficientStorage, RequestTimeout:
		return true
	}
	return false
}
