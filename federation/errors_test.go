package federation

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestCodes(t *testing.T) {
	want := map[Code]int{
		"unauthenticated_peer": 401, "sender_mismatch": 403, "bad_envelope": 400, "unsupported_alg": 400,
		"unknown_key": 400, "bad_signature": 400, "expired": 400, "not_yet_valid": 400, "wrong_audience": 400,
		"replay": 409, "schema_invalid": 422, "too_large": 413, "unsupported_kind": 422, "suspended_member": 403,
		"unavailable": 503, "bad_relay": 400, "relay_refused": 403, "bad_bundle": 400, "bad_manifest": 400, "manifest_expired": 400, "manifest_not_yet_valid": 400, "manifest_rollback": 409,
	}
	if len(Codes) != len(want) {
		t.Fatalf("Codes has %d entries, the contract %d", len(Codes), len(want))
	}
	for _, c := range Codes {
		status, ok := want[c]
		if !ok {
			t.Errorf("code %q is not in the contract", c)
		}
		if got := c.HTTPStatus(); got != status {
			t.Errorf("%s.HTTPStatus() = %d, want %d", c, got, status)
		}
		err := fmt.Errorf("wrapped: %w", newErr(c, "public text", errors.New("internal detail")))
		if CodeOf(err) != c || !errors.Is(err, ErrCode(c)) {
			t.Errorf("%s: CodeOf/errors.Is do not see through wrapping", c)
		}
	}
	if Code("").HTTPStatus() != http.StatusInternalServerError || Code("nope").HTTPStatus() != 500 {
		t.Error("unknown codes must be 500")
	}
	if CodeOf(nil) != "" || CodeOf(errors.New("x")) != "" {
		t.Error("CodeOf of a code-less error")
	}
	if errors.Is(newErr(CodeExpired, "", nil), ErrNotYetValid) || !errors.Is(newErr(CodeExpired, "x", nil), ErrExpired) {
		t.Error("errors.Is matches by code only")
	}
	e := newErr(CodeBadSignature, "signature does not verify", errors.New("jwx: secret detail"))
	if e.Public() != "signature does not verify" || e.Error() != "bad_signature: signature does not verify: jwx: secret detail" {
		t.Errorf("Public %q Error %q", e.Public(), e.Error())
	}
	if newErr(CodeReplay, "", nil).Public() != "replay" {
		t.Error("Public without a message")
	}
	sentinels := []error{ErrUnauthenticatedPeer, ErrSenderMismatch, ErrBadEnvelope, ErrUnsupportedAlg, ErrUnknownKey,
		ErrBadSignature, ErrExpired, ErrNotYetValid, ErrWrongAudience, ErrReplay, ErrSchemaInvalid, ErrTooLarge,
		ErrUnsupportedKind, ErrSuspendedMember, ErrUnavailable, ErrBadRelay, ErrRelayRefused, ErrBadBundle, ErrBadManifest, ErrManifestExpired, ErrManifestNotYetValid, ErrManifestRollback}
	for i, s := range sentinels {
		if CodeOf(s) != Codes[i] {
			t.Errorf("sentinel %d has code %q, want %q", i, CodeOf(s), Codes[i])
		}
	}
}
