package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// A response moves the status of the case it answers, on the case's origin,
// the way a caseworker expects:
//
//	outcome                  status
//	located                  located_contact_restored (the sought person agreed to contact)
//	located_pending_consent  located_pending_consent
//	declined_contact         located_declined_contact
//	deceased                 deceased
//	tracing_in_progress      tracing_in_progress
//	not_found, closed        closed_negative, once every recipient of the case answered
//
// A status never moves back (a late tracing_in_progress does not undo a
// located): statuses rank open, transmitted, acknowledged < tracing_in_progress
// < closed_negative < located_pending_consent < located_contact_restored,
// located_declined_contact, deceased; among the last three the latest
// answer wins (the person changed their mind). reunified and
// closed_withdrawn are the caseworker's to set and never moved. The move
// is a new version of the case whose source is the response
// (CaseVersion.Source "inbox:<jti>"), audited as case.status.
var outcomeStatus = map[schema.Outcome]schema.CaseStatus{
	schema.OutcomeLocated:               schema.StatusLocatedContactRestored,
	schema.OutcomeLocatedPendingConsent: schema.StatusLocatedPendingConsent,
	schema.OutcomeDeclinedContact:       schema.StatusLocatedDeclinedContact,
	schema.OutcomeDeceased:              schema.StatusDeceased,
	schema.OutcomeTracingInProgress:     schema.StatusTracingInProgress,
	schema.OutcomeNotFound:              schema.StatusClosedNegative,
	schema.OutcomeClosed:                schema.StatusClosedNegative,
}

var statusRank = map[schema.CaseStatus]int{
	schema.StatusOpen: 0, schema.StatusTransmitted: 0, schema.StatusAcknowledged: 0,
	schema.StatusTracingInProgress:      1,
	schema.StatusClosedNegative:         2,
	schema.StatusLocatedPendingConsent:  3,
	schema.StatusLocatedContactRestored: 4, schema.StatusLocatedDeclinedContact: 4, schema.StatusDeceased: 4,
	schema.StatusReunified: 9, schema.StatusClosedWithdrawn: 9,
}

// NextStatus returns the status a case at cur takes on a response with
// outcome, and whether it moves at all (see the table above; allAnswered:
// every recipient of the case has answered).
func NextStatus(cur schema.CaseStatus, outcome schema.Outcome, allAnswered bool) (schema.CaseStatus, bool) {
	next, ok := outcomeStatus[outcome]
	if !ok || next == cur {
		return cur, false
	}
	if next == schema.StatusClosedNegative && !allAnswered {
		return cur, false
	}
	rc, known := statusRank[cur]
	if !known {
		return cur, false
	}
	rn := statusRank[next]
	if rc == 9 || rn < rc || (rn == rc && rn != 4) {
		return cur, false
	}
	return next, true
}

// applyResponse moves the status of one of our cases on a received
// response. A response about a case we do not hold, or hold for another
// origin, changes nothing; one from a member that never received the case
// is kept but moves nothing (process error). Database failures come back
// as dbFailure.
func (n *Node) applyResponse(ctx context.Context, tx store.Tx, it store.InboxItem, p federation.Claims) error {
	r, err := schema.ParseResponse(p.Body)
	if err != nil {
		return fmt.Errorf("response body: %w", err)
	}
	if r.Responder != it.Iss || r.CaseID != it.CaseID {
		return fmt.Errorf("response names responder %s and case %s: status unchanged", r.Responder, r.CaseID)
	}
	cur, err := tx.GetCase(ctx, r.CaseID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return dbErr(err)
	case cur.Erased() || cur.Origin != n.o.Self:
		return nil
	}
	recipients, err := tx.ListRecipients(ctx, r.CaseID)
	if err != nil {
		return dbErr(err)
	}
	isRecipient := false
	for _, rc := range recipients {
		isRecipient = isRecipient || rc.Member == it.Iss
	}
	if !isRecipient {
		// Our receipt for the case may not be recorded yet (the answer
		// overtook it): retry later while a send to that member is under way.
		underway, err := sendUnderway(ctx, tx, r.CaseID, it.Iss)
		if err != nil {
			return dbErr(err)
		}
		if underway {
			return dbErr(fmt.Errorf("node: response from %s came before our receipt was recorded: %w", it.Iss, store.ErrConflict))
		}
		return fmt.Errorf("response from %s, which never received the case: status unchanged", it.Iss)
	}
	allAnswered := true
	if outcomeStatus[r.Outcome] == schema.StatusClosedNegative {
		if allAnswered, err = everyRecipientAnswered(ctx, tx, r.CaseID, recipients); err != nil {
			return dbErr(err)
		}
	}
	next, move := NextStatus(schema.CaseStatus(cur.Status), r.Outcome, allAnswered)
	if !move {
		return nil
	}
	now := n.o.Now()
	doc, c, err := withStatus(cur.Document, next, cur.Version+1, now)
	if err != nil {
		return fmt.Errorf("case %s cannot take status %s: %w", r.CaseID, next, err)
	}
	if _, err := tx.UpdateCase(ctx, store.CaseUpdate{
		ID: cur.ID, ExpectedVersion: cur.Version, Status: string(next), Document: doc, At: now,
		SearchKeys: search.Keys(c), Source: "inbox:" + it.JTI,
	}); err != nil {
		return dbErr(err)
	}
	n.log.Info("case status moved by a response", "case_id", cur.ID, "from", cur.Status, "to", next, "outcome", r.Outcome)
	return dbOrNil(n.audit(ctx, tx, it.Iss, "case.status", cur.ID, map[string]any{
		"from": cur.Status, "to": next, "outcome": r.Outcome, "version": cur.Version + 1, "inbox_id": it.ID, "jti": it.JTI,
	}))
}

// withStatus returns doc at a new version with another status and
// updated_at, checked against schema v1.
func withStatus(doc []byte, status schema.CaseStatus, version int64, at time.Time) ([]byte, *schema.Case, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, nil, err
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	set("status", status)
	set("version", version)
	set("updated_at", at.UTC().Format(time.RFC3339))
	out, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	c, err := schema.ParseCase(out)
	if err != nil {
		return nil, nil, err
	}
	return out, c, nil
}

// everyRecipientAnswered reports whether every recipient of a case sent at
// least one response (the one being processed, inbox row self, included).
func everyRecipientAnswered(ctx context.Context, q store.Queries, caseID string, recipients []store.Recipient) (bool, error) {
	rows, err := q.ListInbox(ctx, store.InboxFilter{CaseID: caseID, Kind: string(federation.KindCaseResponse), Limit: 1000})
	if err != nil {
		return false, err
	}
	answered := map[string]bool{}
	for _, r := range rows {
		answered[r.Iss] = true
	}
	for _, rc := range recipients {
		if !answered[rc.Member] {
			return false, nil
		}
	}
	return true, nil
}

// sendUnderway reports whether a case.create or case.update of caseID to
// member is queued or in flight.
func sendUnderway(ctx context.Context, q store.Queries, caseID, member string) (bool, error) {
	rows, err := q.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Destination: member, Limit: 1000})
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		k := federation.Kind(r.Kind)
		if (k == federation.KindCaseCreate || k == federation.KindCaseUpdate) && (r.State == store.Queued || r.State == store.InFlight) {
			return true, nil
		}
	}
	return false, nil
}
