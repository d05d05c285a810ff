package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/match/pprl"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// Cross-border matching (conformance/SPEC.md §20): a member asks a peer or
// the coordinator whether it holds a likely match for one sought person,
// sending only a keyed, hardened Bloom-filter encoding (node/match/pprl);
// the holder compares it with encodings of its own persons and answers
// with random handles and scores. Neither side sends a name.

// DefaultQueryTTL is how long the encoding of a match query is valid.
const DefaultQueryTTL = 72 * time.Hour

// maxAnswers caps the candidates of one answer (the schema's maxItems).
const maxAnswers = 20

// encodingKey names one encoding of one person at one version of its case.
type encodingKey struct {
	caseID, personID string
	person           *match.Person // the prepared person (a new version is a new one)
}

// encodingOf returns the encoding of p, made once and reused until it
// expires: a fresh encoding per query would let a curious holder average
// the random bit flips away. Called with the matcher locked.
func (n *Node) encodingOfLocked(p *match.Person, ttl time.Duration) (*pprl.Encoding, error) {
	m := n.matcher
	k := encodingKey{p.CaseID, p.PersonID, p}
	now := n.o.Now()
	if e, ok := m.encs[k]; ok && now.Add(ttl/2).Before(e.Expires) {
		return e, nil
	}
	e, err := pprl.Encode(p, *n.o.Match.Secret, pprl.DefaultParams, now.Add(ttl), rand.Reader)
	if err != nil {
		return nil, err
	}
	m.encs[k] = e
	m.pprlDirty = true
	return e, nil
}

// SendMatchQuery asks member to whether it holds a likely match for the
// sought person personID of this Society's case caseID. The data-protection
// policy runs first on the case for that destination, as for a forward: a
// decision that does not allow the case, or that withholds the person's
// names, refuses the query (policy_denied). The decision is stored, the
// query queued and audited.
func (n *Node) SendMatchQuery(ctx context.Context, a Actor, caseID, personID, to string) (SendResult, error) {
	if n.matcher == nil || n.o.Match.Secret == nil {
		return SendResult{}, errf(CodeUnavailable, "cross-border matching is not configured on this node (match.secret_file)")
	}
	c, err := n.caseForSending(ctx, caseID)
	if err != nil {
		return SendResult{}, err
	}
	if c.Origin != n.o.Self {
		return SendResult{}, errf(CodeNotOrigin, "case %s belongs to %s: only the origin asks about it", caseID, c.Origin)
	}
	dst, _, err := n.destination(to)
	if err != nil {
		return SendResult{}, err
	}
	doc, err := schema.ParseCase(c.Document)
	if err != nil {
		return SendResult{}, internal("parse case", err)
	}
	idx := -1
	for i := range doc.Persons {
		if doc.Persons[i].ID == personID {
			idx = i
		}
	}
	if idx < 0 {
		return SendResult{}, errf(CodeNotFound, "case %s has no person %q", caseID, personID)
	}
	p, ok := match.Prepare(caseID, doc.Type, &doc.Persons[idx], n.o.Now())
	if !ok || p.Side != match.SideSought {
		return SendResult{}, errf(CodeBadRequest, "person %q of case %s is not a sought person with a name", personID, caseID)
	}
	kind := federation.KindMatchQuery
	d := n.o.Policy.Evaluate(ctx, c.Document, string(federation.KindCaseCreate), dst, n.o.Now(), policy.CurrentVersion(c.Version))
	d.Kind = string(kind)
	if d.Allowed() && namesWithheld(d, idx) {
		d.Effect = policy.Deny
		d.Fired = append(d.Fired, policy.Fired{RuleID: "FLX-MAT-POLICY", Effect: policy.RuleDeny,
			Reason: "the policy withholds the sought person's names from this destination: their encoding is withheld too"})
	}
	res := SendResult{Decision: d, Kind: kind, To: to, State: stateOf(d)}
	if !d.Allowed() {
		res.State = "denied" // a query is never held for review: ask again once the case allows it
	}
	var body []byte
	if d.Allowed() {
		m := n.matcher
		m.mu.Lock()
		for _, held := range m.byCase[caseID] {
			if held.PersonID == personID {
				p = held // the same version's person: its encoding is reused
			}
		}
		enc, err := n.encodingOfLocked(p, n.queryTTL())
		m.mu.Unlock()
		if err != nil {
			return SendResult{}, internal("encode", err)
		}
		q := map[string]any{"schema": "flx/v1/match_query", "case_id": caseID, "person_id": personID, "encoding": enc}
		if body, err = json.Marshal(q); err != nil {
			return SendResult{}, internal("encode query", err)
		}
		if _, err := schema.ParseMatchQuery(body); err != nil {
			return SendResult{}, internal("match query does not conform to schema v1", err)
		}
	}
	dj, err := json.Marshal(d)
	if err != nil {
		return SendResult{}, internal("encode decision", err)
	}
	n.metrics.decisions.WithLabelValues(string(d.Effect)).Inc()
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		rec, err := tx.RecordDecision(ctx, store.Decision{CaseID: caseID, Destination: to, Effect: string(d.Effect), Decision: dj})
		if err != nil {
			return err
		}
		res.DecisionID = rec.ID
		details := map[string]any{"to": to, "kind": kind, "person_id": personID, "effect": d.Effect, "decision_id": rec.ID, "policy_hash": d.PolicyHash}
		if d.Allowed() {
			item, err := n.enqueue(ctx, tx, to, kind, caseID, 0, body)
			if err != nil {
				return err
			}
			res.OutboxID, res.JTI = item.ID, item.JTI
			details["outbox_id"] = item.ID
		}
		return n.audit(ctx, tx, a.Name, "match.query."+res.State, caseID, details)
	})
	if err != nil {
		return SendResult{}, internal("record match query", err)
	}
	if !d.Allowed() {
		return res, &Error{Code: CodePolicyDenied, Msg: fmt.Sprintf("the data-protection policy refuses sending an encoding of this person to %s", to), Decision: &res.Decision}
	}
	n.deliverer.Kick()
	n.log.Info("match query", "case_id", caseID, "to", to)
	return res, nil
}

// namesWithheld reports whether decision d withholds the names of the
// person at index idx of the case (the person, or all persons, or their
// names): then neither their encoding nor a candidate for them may go.
func namesWithheld(d policy.Decision, idx int) bool {
	pp := fmt.Sprintf("/persons/%d", idx)
	for _, r := range d.Redactions {
		if r == "/persons" || r == pp || r == pp+"/names" || strings.HasPrefix(r, pp+"/names/") {
			return true
		}
	}
	return false
}

// personIndex is the index of person id in a case document, -1 when it has
// none (or the document does not parse).
func personIndex(doc []byte, id string) int {
	var c struct {
		Persons []struct {
			ID string `json:"id"`
		} `json:"persons"`
	}
	if err := json.Unmarshal(doc, &c); err != nil {
		return -1
	}
	for i, p := range c.Persons {
		if p.ID == id {
			return i
		}
	}
	return -1
}

func (n *Node) queryTTL() time.Duration {
	if n.o.Match.QueryTTL > 0 {
		return n.o.Match.QueryTTL
	}
	return DefaultQueryTTL
}

// answerQuery answers a match.query received from another member (in the
// inbox transaction): the query's encoding was compared with encodings of
// the persons this node holds (not those of the asker's own cases) before
// the transaction (compareQueries); each
// candidate whose case the policy would not let go to the asker is left
// out (fail closed); the answer, with random handles and scores, is queued
// to the asker and the handles' persons written to the audit log, so that
// a caseworker here can follow up. The query's bytes are then dropped: the
// inbox row keeps its sha256 and receipt only. An empty answer says no likely match was found among the
// persons this node could compare (none when it holds no matching secret
// or another key epoch).
func (n *Node) answerQuery(ctx context.Context, tx store.Tx, it store.InboxItem, p federation.Claims) (error, *confirmation, error) {
	q, err := schema.ParseMatchQuery(p.Body)
	if err != nil {
		return fmt.Errorf("match query body: %w", err), nil, nil
	}
	now := n.o.Now()
	if _, err := pprl.Parse(encodingBytes(p.Body), now); err != nil {
		return fmt.Errorf("match query encoding: %w", err), nil, nil
	}
	var results []pprl.Result
	handles := map[string]match.Ref{}
	if n.matcher != nil && n.o.Match.Secret != nil {
		h, ok := comparedQuery(ctx, it.ID)
		if !ok {
			// Comparing here would take the matcher's lock inside tx
			// (see compareQueries): roll back, the row is retried.
			return nil, nil, fmt.Errorf("node: match query (inbox row %d) not compared before its transaction", it.ID)
		}
		results, handles = h.results, h.handles
	}
	dst, _, derr := n.destination(it.Iss)
	answer := schema.MatchAnswer{Schema: "flx/v1/match_answer", CaseID: q.CaseID, PersonID: q.PersonID,
		InReplyTo: p.JTI, Responder: n.o.Self, Candidates: []schema.MatchCandidate{}}
	var audited []map[string]any
	for _, r := range results {
		if len(answer.Candidates) == maxAnswers || derr != nil {
			break
		}
		ref := handles[r.Handle]
		c, err := tx.GetCase(ctx, ref.CaseID)
		if err != nil || c.Erased() {
			continue
		}
		// A candidate tells the asker that this member knows the person:
		// not for a case the policy keeps from the asker, nor for a person
		// whose names it withholds (a child's carer), as for a query.
		d := n.o.Policy.Evaluate(ctx, c.Document, string(federation.KindCaseCreate), dst, now, policy.CurrentVersion(c.Version))
		if i := personIndex(c.Document, ref.PersonID); !d.Allowed() || i < 0 || namesWithheld(d, i) {
			continue
		}
		answer.Candidates = append(answer.Candidates, schema.MatchCandidate{Handle: r.Handle, Score: float64(int(r.Score*1000)) / 1000})
		audited = append(audited, map[string]any{"handle": r.Handle, "case_id": ref.CaseID, "person_id": ref.PersonID, "score": r.Score})
	}
	body, err := json.Marshal(answer)
	if err != nil {
		return nil, nil, err
	}
	if _, err := n.enqueue(ctx, tx, it.Iss, federation.KindMatchAnswer, q.CaseID, 0, body); err != nil {
		return nil, nil, err
	}
	// The encoding is personal data and served its purpose: its bytes go
	// (the row, its sha256 and receipt stay for duplicates).
	if err := tx.DropInboxEnvelope(ctx, it.ID); err != nil {
		return nil, nil, err
	}
	if err := n.audit(ctx, tx, "system", "match.answer", q.CaseID, map[string]any{"to": it.Iss, "in_reply_to": p.JTI, "candidates": audited}); err != nil {
		return nil, nil, err
	}
	return nil, &confirmation{to: it.Iss}, nil
}

// queryHits is what comparing a match query's encoding with the persons
// held gave (queryHeld), before the transaction that answers it.
type queryHits struct {
	results []pprl.Result
	handles map[string]match.Ref
}

type queryHitsKey struct{}

// compareQueries compares the encoding of each match query among items
// with the persons held and returns ctx carrying the results for
// answerQuery, by inbox row. It runs before the transaction that applies
// the rows, never inside it: queryHeld takes the matcher's lock, and a case
// written through the local API holds that lock while it waits for a
// transaction to store its candidates (rematch). Taken inside a
// transaction, the order was reversed: on SQLite, whose one writer the
// inbox processor then held, the request and the processor waited for
// each other until the request gave up (after a flood of queries, a POST
// /api/v1/cases answered after 30 s with "matching failed ... store.Tx:
// context canceled"). A query whose envelope or encoding does not read is
// left to answerQuery, which records why.
func (n *Node) compareQueries(ctx context.Context, items []store.InboxItem) (context.Context, error) {
	if n.matcher == nil || n.o.Match.Secret == nil {
		return ctx, nil
	}
	var hits map[int64]queryHits
	for _, it := range items {
		if federation.Kind(it.Kind) != federation.KindMatchQuery || it.Envelope == nil {
			continue
		}
		p, err := federation.ClaimsOf(it.Envelope)
		if err != nil {
			continue
		}
		enc, err := pprl.Parse(encodingBytes(p.Body), n.o.Now())
		if err != nil {
			continue
		}
		results, handles, err := n.queryHeld(ctx, enc, it.Iss)
		if err != nil {
			return ctx, fmt.Errorf("node: match query: %w", err)
		}
		if hits == nil {
			hits = map[int64]queryHits{}
		}
		hits[it.ID] = queryHits{results: results, handles: handles}
	}
	if hits == nil {
		return ctx, nil
	}
	return context.WithValue(ctx, queryHitsKey{}, hits), nil
}

// comparedQuery returns what compareQueries found for inbox row id.
func comparedQuery(ctx context.Context, id int64) (queryHits, bool) {
	hits, _ := ctx.Value(queryHitsKey{}).(map[int64]queryHits)
	h, ok := hits[id]
	return h, ok
}

// encodingBytes is the "encoding" member of a match query.
func encodingBytes(body []byte) []byte {
	var q struct {
		Encoding json.RawMessage `json:"encoding"`
	}
	_ = json.Unmarshal(body, &q)
	return q.Encoding
}

// queryHeld compares enc with the encodings of the persons held, leaving
// out the cases of member asker. Handles are random, one per answer.
func (n *Node) queryHeld(ctx context.Context, enc *pprl.Encoding, asker string) ([]pprl.Result, map[string]match.Ref, error) {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return nil, nil, err
	}
	ttl := n.queryTTL()
	// Encode what is not encoded yet (or expires soon), and rebuild the
	// index when the persons or their encodings changed.
	for caseID, ps := range m.byCase {
		if originOf(caseID) == asker {
			continue
		}
		for _, p := range ps {
			if _, err := n.encodingOfLocked(p, ttl); err != nil && !errors.Is(err, pprl.ErrNoName) {
				return nil, nil, err
			}
		}
	}
	if m.pprlDirty || m.pprlIndex == nil {
		live := map[encodingKey]*pprl.Encoding{}
		ix := pprl.NewIndex()
		for caseID, ps := range m.byCase {
			for _, p := range ps {
				k := encodingKey{caseID, p.PersonID, p}
				if e, ok := m.encs[k]; ok {
					live[k] = e
					ix.Add(caseID+"\x00"+p.PersonID, e)
				}
			}
		}
		m.encs, m.pprlIndex, m.pprlDirty = live, ix, false
	}
	res, err := m.pprlIndex.Query(enc, pprl.DefaultThreshold, n.o.Now())
	if err != nil {
		return nil, nil, nil
	}
	handles := map[string]match.Ref{}
	out := res[:0]
	for _, r := range res {
		caseID, personID, _ := strings.Cut(r.Handle, "\x00")
		if originOf(caseID) == asker {
			continue
		}
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, err
		}
		h := "h-" + hex.EncodeToString(b[:])
		handles[h] = match.Ref{CaseID: caseID, PersonID: personID}
		out = append(out, pprl.Result{Handle: h, Score: r.Score})
	}
	return out, handles, nil
}

// checkEncoding refuses, on receipt, a match query whose encoding has
// expired (expired) or does not decode (schema_invalid): an expired
// encoding is not kept.
func (n *Node) checkEncoding(env *federation.Envelope) error {
	if env.Kind != federation.KindMatchQuery {
		return nil
	}
	_, err := pprl.Parse(encodingBytes(env.Body), n.o.Now())
	switch {
	case errors.Is(err, pprl.ErrExpired):
		return errf(federation.CodeExpired, "the query's encoding has expired")
	case err != nil:
		return errf(federation.CodeSchemaInvalid, "the query's encoding does not decode: %v", err)
	}
	return nil
}

// remoteExplanation is the explanation of a candidate another member
// answered: what the answer said, no name and no case id of the holder.
type remoteExplanation struct {
	Method    string `json:"method"` // "pprl": compared on keyed Bloom-filter encodings
	Responder string `json:"responder"`
	Handle    string `json:"handle"`
	InReplyTo string `json:"in_reply_to"`
	// Fields is empty: the holder compares encodings, not fields, and
	// says nothing of which agreed.
	Fields []struct{} `json:"fields"`
}

// applyMatchAnswer records the candidates of a match answer received as
// remote candidates of the sought person (GET /api/v1/matches, flx match
// list): the member that answered and the handle it gave stand for the
// other side. An answer about a case this node no longer holds (erased
// since) records nothing.
func (n *Node) applyMatchAnswer(ctx context.Context, tx store.Tx, it store.InboxItem, p federation.Claims) (error, *confirmation, error) {
	a, err := schema.ParseMatchAnswer(p.Body)
	if err != nil {
		return fmt.Errorf("match answer body: %w", err), nil, nil
	}
	c, err := tx.GetCase(ctx, a.CaseID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Erased()) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	cands := make([]store.NewMatchCandidate, 0, len(a.Candidates))
	for _, mc := range a.Candidates {
		expl, err := json.Marshal(remoteExplanation{Method: "pprl", Responder: it.Iss, Handle: mc.Handle, InReplyTo: a.InReplyTo, Fields: []struct{}{}})
		if err != nil {
			return nil, nil, err
		}
		cands = append(cands, store.NewMatchCandidate{ACase: a.CaseID, APerson: a.PersonID, BCase: it.Iss, BPerson: mc.Handle,
			Score: mc.Score, Explanation: expl, Remote: it.Iss})
	}
	if len(cands) > 0 {
		if err := tx.RecordRemoteMatches(ctx, cands, n.o.Now()); err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, nil
}
