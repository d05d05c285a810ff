package federation

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// The coordinator's part of the protocol (conformance/SPEC.md §14-§17):
// relaying with end-to-end provenance (relay.go), pull for members without
// inbound connectivity (federation/pull), carried bundles
// (federation/bundle) and statistics reports (a kind of its own; the
// document is schema v1's stats_report).

// The coordination kinds. Their bodies are not case documents:
//
//   - relay.forward: a relay envelope (relay.go) whose body carries another
//     member's signed envelope or receipt, unchanged, and the signed hops it
//     travelled; its case_id is the inner envelope's (for an inner receipt:
//     the case of the receipted envelope), so that per-case ordering holds
//     at every hop.
//   - stats.report: a member's activity counts for one period (schema v1
//     document stats_report); its case_id is "<member>:stats-<period>", so
//     that revisions of one period's report are ordered like versions of a
//     case.
const (
	KindRelayForward Kind = "relay.forward"
	KindStatsReport  Kind = "stats.report"
)

// CoordinationKinds lists the coordination kinds.
var CoordinationKinds = []Kind{KindRelayForward, KindStatsReport}

// MaxRelayVia bounds a member's relay_via list.
const MaxRelayVia = 4

// validateRoutes checks relay_via across the manifest: every entry names
// another member of the manifest, once.
func validateRoutes(m *Manifest) []string {
	var probs []string
	ids := make(map[string]bool, len(m.Members))
	for i := range m.Members {
		ids[m.Members[i].ID] = true
	}
	for i := range m.Members {
		mb := &m.Members[i]
		where := fmt.Sprintf("members[%d] (%s)", i, mb.ID)
		if len(mb.RelayVia) > MaxRelayVia {
			probs = append(probs, fmt.Sprintf("%s: relay_via names %d members, at most %d", where, len(mb.RelayVia), MaxRelayVia))
		}
		seen := map[string]bool{}
		for _, r := range mb.RelayVia {
			switch {
			case r == mb.ID:
				probs = append(probs, fmt.Sprintf("%s: relay_via names the member itself", where))
			case !ids[r]:
				probs = append(probs, fmt.Sprintf("%s: relay_via names %q, which is not a member", where, r))
			case seen[r]:
				probs = append(probs, fmt.Sprintf("%s: relay_via names %q twice", where, r))
			}
			seen[r] = true
		}
	}
	return probs
}

// MayRelay reports whether member id may sign a relay hop other than the
// first (FLX-RLY-004): it is active, and its role is coordinator or another
// member names it in relay_via.
func (m *Manifest) MayRelay(id string) bool {
	mb, ok := m.Member(id)
	if !ok || mb.Status != StatusActive {
		return false
	}
	if mb.Role == RoleCoordinator {
		return true
	}
	for i := range m.Members {
		if slices.Contains(m.Members[i].RelayVia, id) {
			return true
		}
	}
	return false
}

// Route says how an envelope for a destination leaves this node.
type Route struct {
	// Via is the member to send a relay.forward to; "" sends directly.
	Via string
	// Pull: the destination is pull-only and this node is where it pulls
	// from: queue the envelope here for GET /flx/v1/pull, dial nobody.
	Pull bool
}

// RouteFor chooses how self sends to dest (FLX-RLY-001, FLX-PUL-002):
//
//  1. a local route (local[dest], from the node's configuration) names a
//     member that may relay: via that member;
//  2. dest names relays in relay_via and self is not one of them: via the
//     first of them that is active and may relay;
//  3. dest is pull-only: queue here for dest to pull;
//  4. otherwise directly.
//
// An error means there is no way: dest is unknown or suspended, or every
// relay it names is unusable (dest does not accept from others directly,
// since it asked for relays), or a local route names a member that may not
// relay.
func (m *Manifest) RouteFor(self, dest string, local map[string]string) (Route, error) {
	d, ok := m.Member(dest)
	if !ok {
		return Route{}, newErr(CodeUnknownKey, fmt.Sprintf("%q is not a member of the federation", dest), nil)
	}
	if d.Status != StatusActive {
		return Route{}, newErr(CodeSuspendedMember, fmt.Sprintf("member %q is suspended", dest), nil)
	}
	if via, ok := local[dest]; ok && via != "" && via != self {
		if via == dest {
			return Route{}, nil
		}
		if !m.MayRelay(via) {
			return Route{}, fmt.Errorf("federation: local route to %s names %s, which may not relay", dest, via)
		}
		return Route{Via: via}, nil
	}
	if len(d.RelayVia) > 0 && !slices.Contains(d.RelayVia, self) {
		for _, r := range d.RelayVia {
			if m.MayRelay(r) {
				return Route{Via: r}, nil
			}
		}
		return Route{}, fmt.Errorf("federation: no usable relay for %s (relay_via %v)", dest, d.RelayVia)
	}
	if d.PullOnly {
		return Route{Pull: true}, nil
	}
	return Route{}, nil
}

// PullSources returns the members a pull-only member self pulls from
// (FLX-PUL-002): its relays when it names some, else every other active
// member.
func (m *Manifest) PullSources(self string) []string {
	mb, ok := m.Member(self)
	if !ok {
		return nil
	}
	var out []string
	if len(mb.RelayVia) > 0 {
		for _, r := range mb.RelayVia {
			if o, ok := m.Member(r); ok && o.Status == StatusActive {
				out = append(out, r)
			}
		}
		return out
	}
	for i := range m.Members {
		o := &m.Members[i]
		if o.ID != self && o.Status == StatusActive && !o.PullOnly {
			out = append(out, o.ID)
		}
	}
	return out
}

// EncKeyFor returns the encryption key of member id to encrypt to at now: the
// valid key with the latest nbf (the newest, during a rotation).
func (m *Manifest) EncKeyFor(id string, now time.Time) (*jose.EncPublicKey, error) {
	mb, ok := m.Member(id)
	if !ok {
		return nil, newErr(CodeUnknownKey, fmt.Sprintf("%q is not a member of the federation", id), nil)
	}
	var best *jose.EncPublicKey
	for _, k := range mb.EncJWKS {
		if k == nil || !k.ValidAt(now, 0) {
			continue
		}
		if best == nil || k.NotBefore().After(best.NotBefore()) {
			best = k
		}
	}
	if best == nil {
		return nil, newErr(CodeUnknownKey, fmt.Sprintf("member %q publishes no encryption key valid now", id), nil)
	}
	return best, nil
}

// shapes caches the strict-decoding shapes of the claim types given to
// VerifySigned.
var shapes sync.Map // reflect.Type -> *shape

func shapeFor(t reflect.Type) *shape {
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s, _ := shapes.LoadOrStore(t, shapeOf(t))
	return s.(*shape)
}

// VerifySigned verifies a compact JWS of type typ signed by a member, for the
// documents built on this package (hops, bundles). claims must be a pointer
// to a struct with a string field tagged json:"iss", the signer. In order:
//
//   - bad_envelope: not a canonical compact JWS with only alg/kid/typ, or
//     another typ; a payload that does not decode strictly into claims (an
//     unknown or misspelt member, a member twice, a wrong type); no iss;
//   - unknown_key, suspended_member, unsupported_alg: as for envelopes: the
//     kid must be a key of iss, valid at keyTime (with skew), and iss must
//     be active;
//   - bad_signature.
//
// The claims are decoded before the signature check only to choose the key;
// trust them only when VerifySigned returns no error.
func (m *Manifest) VerifySigned(raw []byte, typ string, keyTime time.Time, skew time.Duration, claims any) (signer string, key *jose.PublicKey, err error) {
	rv := reflect.ValueOf(claims)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return "", nil, fmt.Errorf("federation: VerifySigned needs a pointer to a struct, got %T", claims)
	}
	issField := -1
	for i, st := 0, rv.Elem().Type(); i < st.NumField(); i++ {
		if name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ","); name == "iss" && st.Field(i).Type.Kind() == reflect.String {
			issField = i
		}
	}
	if issField < 0 {
		return "", nil, fmt.Errorf("federation: VerifySigned: %T has no string field tagged json:\"iss\"", claims)
	}
	if skew <= 0 {
		skew = DefaultSkew
	}
	tok, err := jose.Parse(raw, typ)
	if err != nil {
		return "", nil, joseErr(err)
	}
	if err := decodeStrict(tok.UnverifiedPayload(), shapeFor(rv.Type()), claims); err != nil {
		return "", nil, newErr(CodeBadEnvelope, typ+" claims do not decode strictly (an unknown, misspelt or repeated member, or a member of the wrong type)", err)
	}
	signer = rv.Elem().Field(issField).String()
	if signer == "" {
		return "", nil, newErr(CodeBadEnvelope, typ+": iss is required", nil)
	}
	key, err = senderKey(m, signer, tok.Header().KID, keyTime, skew)
	if err != nil {
		return "", nil, err
	}
	if _, err := tok.Verify(key); err != nil {
		return "", nil, joseErr(err)
	}
	return signer, key, nil
}

// DecodeStrict decodes exactly one JSON value into v (a pointer) with the
// rules this package applies to everything it signs (strictjson.go): no
// member name twice in any object, member names of structs spelt exactly
// (case-sensitive), no unknown members, no trailing data. It is for the wire
// documents built on this package (federation/pull, federation/bundle).
func DecodeStrict(data []byte, v any) error {
	return decodeStrict(data, shapeFor(reflect.TypeOf(v)), v)
}

// PeekReceipt reads a receipt's iss and receipt_for WITHOUT verifying it, to
// find the envelope it claims to be for. Verify it with VerifyReceipt before
// trusting anything.
func PeekReceipt(raw []byte) (iss, receiptFor string, err error) {
	tok, err := jose.Parse(raw, TypReceipt)
	if err != nil {
		return "", "", joseErr(err)
	}
	var w wireReceipt
	if err := decodeStrict(tok.UnverifiedPayload(), receiptShape, &w); err != nil {
		return "", "", newErr(CodeBadEnvelope, "receipt claims do not decode strictly", err)
	}
	return w.Iss, w.ReceiptFor, nil
}

// Code.Retryable (federation/problem) says whether a sender retries after a refusal.
