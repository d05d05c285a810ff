package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Audit-head witnessing (conformance/SPEC.md §20): a member signs the head
// of its hash-chained audit log (the hash of its last entry and the number
// of entries) into an audit.head envelope and sends it to its witnesses
// (the coordinators, unless it names others). A witness keeps the heads it
// receives, so that a member's log that was cut short or rewritten after a
// head was witnessed no longer matches it.
//
// The body is not a case document: {"member": sender, "count": entries,
// "head": lowercase hex SHA-256 of the last entry ("" when count is 0),
// "signed_at": RFC 3339 time}, and nothing else. Its case_id is
// "<member>:audit-head", so that heads travel in order like the versions of
// a case.
const KindAuditHead Kind = "audit.head"

// WitnessKinds lists the kinds of audit-head witnessing.
var WitnessKinds = []Kind{KindAuditHead}

// AuditHead is the body of an audit.head envelope.
type AuditHead struct {
	Member   string    `json:"member"`
	Count    int64     `json:"count"`
	Head     string    `json:"head"`
	SignedAt time.Time `json:"signed_at"`
}

var auditHeadHashRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// AuditHeadCaseID is the case_id of member's audit.head envelopes.
func AuditHeadCaseID(member string) string { return member + ":audit-head" }

// ErrAuditHead is wrapped by every error of ParseAuditHead.
var ErrAuditHead = errors.New("federation: bad audit.head body")

// ParseAuditHead decodes an audit.head body strictly: an object with
// exactly the four members, a count of at least 0, a head of 64 lowercase
// hex digits (empty only for count 0), a signed_at time.
func ParseAuditHead(body []byte) (AuditHead, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return AuditHead{}, fmt.Errorf("%w: not a JSON object", ErrAuditHead)
	}
	for k := range raw {
		switch k {
		case "member", "count", "head", "signed_at":
		default:
			return AuditHead{}, fmt.Errorf("%w: unknown member %q", ErrAuditHead, k)
		}
	}
	if len(raw) != 4 {
		return AuditHead{}, fmt.Errorf("%w: member, count, head and signed_at are required", ErrAuditHead)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var h AuditHead
	if err := dec.Decode(&h); err != nil {
		return AuditHead{}, fmt.Errorf("%w: %v", ErrAuditHead, err)
	}
	switch {
	case !ValidMemberID(h.Member):
		return AuditHead{}, fmt.Errorf("%w: member is not a member id", ErrAuditHead)
	case h.Count < 0:
		return AuditHead{}, fmt.Errorf("%w: count is negative", ErrAuditHead)
	case h.Count == 0 && h.Head != "", h.Count > 0 && !auditHeadHashRe.MatchString(h.Head):
		return AuditHead{}, fmt.Errorf("%w: head must be 64 lowercase hex digits (empty for count 0)", ErrAuditHead)
	case h.SignedAt.IsZero():
		return AuditHead{}, fmt.Errorf("%w: signed_at is required", ErrAuditHead)
	}
	return h, nil
}
