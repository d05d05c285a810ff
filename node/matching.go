package node

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/match/pprl"
	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// MatchOptions tune candidate matching (node/match) inside the node.
type MatchOptions struct {
	// Disabled turns matching off: no candidates are computed or listed.
	Disabled bool
	// Threshold is the lowest score kept (match.DefaultThreshold when 0).
	Threshold float64
	// Secret is the federation matching secret of the current key epoch,
	// for cross-border queries (node/match/pprl); nil: this node neither
	// sends match queries nor compares those it receives (it answers them
	// with no candidate).
	Secret *pprl.Secret
	// QueryTTL is how long the encoding sent in a match query is valid
	// (DefaultQueryTTL when 0).
	QueryTTL time.Duration
	// QueriesPerMinute bounds the match queries accepted from one member
	// (DefaultQueriesPerMinute when 0; negative: no bound).
	QueriesPerMinute int
	// Sync is how often the index takes in the cases other processes
	// sharing the database wrote or erased (default 1m; negative: never).
	Sync time.Duration
}

// maxRefresh caps how many other cases one case's matching refreshes.
const maxRefresh = 32

// matcher keeps a match.Index of the persons of every case the node holds,
// and the candidates in the store in step with it: a case created,
// updated, imported or received is prepared and matched against the
// others; an erased case leaves the index (the store deletes its
// candidates in the erasure's transaction). The index is personal data
// derived from the cases and lives only in memory: it is rebuilt from the
// store at start.
type matcher struct {
	mu sync.Mutex // one case matched at a time, and the first load
	// rematching is set while the bulk match job runs: a second run is
	// refused (conflict) rather than queued behind the first.
	rematching atomic.Bool
	loaded     bool
	synced     time.Time // cases updated since then are not yet known to be held
	ix         *match.Index
	byCase     map[string][]*match.Person
	// versions is the version of every case the index took in (with
	// persons to match or not): a sync pass skips what it knows.
	versions map[string]int64
	// truncated are the cases whose last matching left candidates past
	// the bound of a person's list (not known after a restart: taken as
	// not truncated).
	truncated map[string]bool
	// pending are the cases received here that matching has yet to take
	// (a sync pass leaves them to it).
	pending pendingCases

	// Encodings of the persons held, for answering match queries: made
	// once per person version and reused until they near expiry; the
	// index is rebuilt when they change.
	encs      map[encodingKey]*pprl.Encoding
	pprlIndex *pprl.Index
	pprlDirty bool

	// matched are the case versions matched whose match_pending marks are
	// still to clear: with the next matching transaction, or by
	// flushMatched (a crash before that only matches them again).
	matched []store.PendingMatch
	// importHook, when set (export_test.go), replaces the bulk matching of
	// an import: the per-case reference the bulk path is tested against.
	importHook func(ctx context.Context, cases []store.NewCase, parsed []*schema.Case) error

	// decoded hands the cases inbox processing decoded to the matching
	// worker, which reads the same document back from the store.
	decoded decodedCases

	// own is the store on connections of matching's own while Run runs
	// (store.OwnPool; nil: the node's store).
	own atomic.Pointer[ownStore]
}

type ownStore struct{ st store.Store }

// matchPoolConns is how many connections matching keeps of its own: the
// worker's one at a time, and a case written through the local API
// matched meanwhile.
const matchPoolConns = 2

// matchStore is the store matching reads and writes through: its own
// connections while Run runs, so that the worker does not wait for the
// node's pool behind every request in flight; else the node's.
func (n *Node) matchStore() store.Store {
	if n.matcher != nil {
		if o := n.matcher.own.Load(); o != nil {
			return o.st
		}
	}
	return n.o.Store
}

// openMatchPool gives matching connections of its own (when the store
// can) until the returned function closes them (Run, when every loop has
// stopped).
func (n *Node) openMatchPool() func() {
	op, ok := n.o.Store.(store.OwnPool)
	if n.matcher == nil || !ok {
		return func() {}
	}
	st, release, err := op.OwnPool(matchPoolConns)
	if err != nil {
		n.log.Error("matching shares the node's connections", "err", err)
		return func() {}
	}
	n.matcher.own.Store(&ownStore{st: st})
	return func() {
		n.matcher.own.Store(nil)
		if err := release(); err != nil {
			n.log.Error("closing matching's connections failed", "err", err)
		}
	}
}

// decodedCases holds case documents decoded by inbox processing until the
// matching worker takes them (a handoff): the worker then skips a second
// decode of the same body (~90 µs of a received case's CPU in `flx bench
// exchange`) and the read of the document from the store. It is keyed by
// the SHA-256 of the exact document bytes (the store keeps them as
// received) and bounded in entries and in document bytes (documents over
// decodedCaseMaxBytes are never kept, whatever peers send). Full, it keeps
// what it holds: evicting the oldest (two generations, before) dropped
// exactly those the worker read next, and once it was more than the bound
// behind it never hit again (at full rate in `flx bench exchange --n
// 20000`, 4,750 hits and then none: 13,500 documents read and decoded
// again). An entry never taken (a rolled back batch, a case superseded
// before it was matched) leaves after decodedCaseMaxAge.
type decodedCases struct {
	handoff[[sha256.Size]byte, decodedCase]
}

// decodedCase is a case decoded by inbox processing, with its names as its
// search keys analysed them (matching reads the same names).
type decodedCase struct {
	c     *schema.Case
	names *names.Memo
}

const (
	decodedCasesSize    = 8192     // entries: a burst's cases ahead of the worker
	decodedCasesBudget  = 16 << 20 // document bytes
	decodedCaseMaxBytes = 64 << 10
	decodedCaseMaxAge   = 5 * time.Minute
)

var decodedCasesLimits = handoffLimits{entries: decodedCasesSize, bytes: decodedCasesBudget, maxAge: decodedCaseMaxAge}

func (d *decodedCases) put(doc []byte, c decodedCase) { d.putAt(doc, c, time.Now()) }

// putAt keeps c for doc if there is room; the same document again: the
// newer decode.
func (d *decodedCases) putAt(doc []byte, c decodedCase, now time.Time) {
	if len(doc) > decodedCaseMaxBytes {
		return
	}
	d.handoff.put(sha256.Sum256(doc), c, len(doc), now, decodedCasesLimits, true)
}

func (d *decodedCases) take(doc []byte) (decodedCase, bool) {
	if len(doc) > decodedCaseMaxBytes {
		return decodedCase{}, false
	}
	return d.takeSum(sha256.Sum256(doc))
}

// takeSum is take by the SHA-256 of the document (as the store gives it
// without the document: GetCaseHeads).
func (d *decodedCases) takeSum(k [sha256.Size]byte) (decodedCase, bool) { return d.handoff.take(k) }

// decodeReceivedCase decodes the body of a received case.create or
// case.update, validated on receipt (checkEnvelope, on every path into the
// inbox), without validating it again.
func (n *Node) decodeReceivedCase(body []byte) (*schema.Case, error) {
	return schema.DecodeValidatedCase(body)
}

// receivedKeys returns the search keys of a received case that is stored,
// and hands the case decoded, with its names analysed, to the matching
// worker: the names are analysed once. The caller must not change c.
func (n *Node) receivedKeys(body []byte, c *schema.Case) []string {
	an := new(names.Memo)
	keys := search.KeysWith(c, an)
	if n.matcher != nil {
		n.matcher.decoded.put(body, decodedCase{c: c, names: an})
	}
	return keys
}

func newMatcher(o MatchOptions) *matcher {
	return &matcher{ix: match.NewIndex(match.Options{Threshold: o.Threshold}), byCase: map[string][]*match.Person{},
		versions: map[string]int64{}, encs: map[encodingKey]*pprl.Encoding{}, truncated: map[string]bool{}}
}

// setLocked puts a case version's persons in the index, replacing what it
// held of the case (none: the case leaves it).
func (m *matcher) setLocked(caseID string, version int64, ps []*match.Person) {
	_, held := m.byCase[caseID]
	if len(ps) > 0 {
		m.ix.Put(caseID, ps)
		m.byCase[caseID] = ps
	} else if held {
		m.ix.Remove(caseID)
		delete(m.byCase, caseID)
	}
	m.versions[caseID] = version
	m.pending.done(caseID)
	m.pprlDirty = true
}

// prepareAll prepares the persons of cases (parsed[i] when given, else
// from the document) on every core: names analysed in every script are
// the CPU of putting a case in the index.
func (n *Node) prepareAll(cases []store.NewCase, parsed []*schema.Case) [][]*match.Person {
	return n.prepareEach(len(cases), func(i int) []*match.Person {
		if parsed != nil && parsed[i] != nil {
			return match.PersonsOf(parsed[i], n.o.Now())
		}
		return n.personsOf(cases[i].ID, cases[i].Document)
	})
}

// prepareEach returns prepare(i) for i in [0, count), on every core.
func (n *Node) prepareEach(count int, prepare func(i int) []*match.Person) [][]*match.Person {
	out := make([][]*match.Person, count)
	workers := min(runtime.GOMAXPROCS(0), count)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				out[i] = prepare(i)
			}
		}()
	}
	wg.Wait()
	return out
}

// loadLocked puts every case held in the index, once.
func (n *Node) loadMatchesLocked(ctx context.Context) error {
	m := n.matcher
	if m.loaded {
		return nil
	}
	f := store.CaseFilter{IncludeDocuments: true, Limit: 1000}
	count := 0
	m.synced = n.o.Now().Add(-time.Minute)
	for {
		page, err := n.matchStore().ListCases(ctx, f)
		if err != nil {
			return fmt.Errorf("node: load cases for matching: %w", err)
		}
		cases := make([]store.NewCase, len(page.Cases))
		for i, c := range page.Cases {
			cases[i] = store.NewCase{ID: c.ID, Version: c.Version, Document: c.Document}
		}
		for i, ps := range n.prepareAll(cases, nil) {
			m.setLocked(cases[i].ID, cases[i].Version, ps)
			if len(ps) > 0 {
				count++
			}
		}
		if page.Next == "" {
			break
		}
		f.Cursor = page.Next
	}
	m.loaded = true
	n.log.Info("matching index loaded", "cases", count, "persons", m.ix.Len())
	return nil
}

// personsOf prepares the persons of a stored document (none when it does
// not decode: matching never blocks a write). What the store holds was
// validated before it was stored (created here or received): it is
// decoded, not validated again.
func (n *Node) personsOf(caseID string, doc []byte) []*match.Person {
	if doc == nil {
		return nil
	}
	d, ok := n.matcher.decoded.take(doc)
	if !ok {
		var err error
		if d.c, err = schema.DecodeValidatedCase(doc); err != nil {
			return nil
		}
	}
	if d.c.CaseID != caseID {
		return nil
	}
	return match.PersonsOfWith(d.c, n.o.Now(), d.names)
}

// LoadMatching builds the matching index from the store (Run does it at
// start; the first case matched does it otherwise).
func (n *Node) LoadMatching(ctx context.Context) error {
	if n.matcher == nil {
		return nil
	}
	n.matcher.mu.Lock()
	defer n.matcher.mu.Unlock()
	return n.loadMatchesLocked(ctx)
}

// matchCase matches the persons of a case just written (doc its current
// document at version, nil when erased) and records its candidates; it
// then matches again the other cases of its candidates, whose listing a
// new candidate may outrank. Failures are logged, never returned: the
// write is committed with its match_pending mark, and the node matches it
// when it starts again (catchUpMatching) or at its next change.
func (n *Node) matchCase(ctx context.Context, caseID string, version int64, doc []byte) {
	if n.matcher == nil {
		return
	}
	start := time.Now()
	defer func() { n.metrics.matchSeconds.Observe(time.Since(start).Seconds()) }()
	if err := n.rematch(ctx, caseID, version, doc); err != nil {
		n.log.Error("matching failed", "case_id", caseID, "err", err)
		n.metrics.matchErrors.Inc()
	}
}

func (n *Node) rematch(ctx context.Context, caseID string, version int64, doc []byte) error {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return err
	}
	_, held := m.byCase[caseID]
	m.setLocked(caseID, version, n.personsOf(caseID, doc))
	// The case's candidates, then those of the other cases they name, in
	// one transaction with the marks of the cases matched before.
	steps, err := n.matchStepsLocked(m.ix.Session(), []string{caseID}, map[string]bool{caseID: !held}, map[string]bool{caseID: true})
	if err != nil {
		return err
	}
	done := store.PendingMatch{CaseID: caseID, Version: version}
	if len(steps) == 0 && len(m.matched) < flushMatched {
		m.matched = append(m.matched, done) // nothing to write: cleared later
		return nil
	}
	return n.writeStepsLocked(ctx, steps, []store.PendingMatch{done})
}

// flushMatched is how many matched cases' marks wait in memory, at most,
// before a transaction of their own clears them.
const flushMatched = 500

// writeStepsLocked stores the candidates of steps and clears the marks of
// the cases matched (done, and those waiting in m.matched) in one
// transaction.
func (n *Node) writeStepsLocked(ctx context.Context, steps []store.CaseCandidates, done []store.PendingMatch) error {
	return n.writeStepsAlsoLocked(ctx, steps, done, nil)
}

// writeStepsAlsoLocked is writeStepsLocked running also, when not nil, in
// the same transaction (an audit entry).
func (n *Node) writeStepsAlsoLocked(ctx context.Context, steps []store.CaseCandidates, done []store.PendingMatch, also func(store.Tx) error) error {
	m := n.matcher
	marks := append(m.matched, done...)
	err := n.matchStore().Tx(ctx, func(tx store.Tx) error {
		if len(steps) > 0 {
			if err := tx.ReplaceMatchesMany(ctx, steps, n.o.Now()); err != nil {
				return err
			}
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		return tx.ClearMatchPending(ctx, marks)
	})
	if err != nil {
		return err
	}
	m.matched = nil
	return nil
}

// flushMatchedMarks clears the marks of the cases matched that wait in
// memory (Run calls it now and then, and when it stops).
func (n *Node) flushMatchedMarks(ctx context.Context) error {
	if n.matcher == nil {
		return nil
	}
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.matched) == 0 {
		return nil
	}
	return n.writeStepsLocked(ctx, nil, nil)
}

// caseCandidates turns what matching each person of a case gave (results,
// in the order of m.byCase[caseID]; past, the candidates past the bound
// of each list) into the candidates to store, the pairs past the bound,
// and the other cases to refresh in order: those the candidates name, then
// those past the bound whose own lists were not truncated (such a list
// now holds this case, which did not list it: without a refresh, neither
// would). It records whether the case's lists are truncated.
func (m *matcher) caseCandidates(caseID string, results, past [][]match.Candidate) (caseResult, error) {
	var r caseResult
	seen := map[string]bool{}
	dup := map[store.MatchPair]bool{}
	for _, res := range results {
		for _, c := range res {
			p := m.storedPair(c)
			if dup[p] {
				continue
			}
			dup[p] = true
			expl, err := json.Marshal(explanation{Weight: c.Weight, Offset: c.Offset, Fields: c.Fields})
			if err != nil {
				return caseResult{}, err
			}
			r.cands = append(r.cands, store.NewMatchCandidate{ACase: p.ACase, APerson: p.APerson, BCase: p.BCase, BPerson: p.BPerson,
				Score: c.Score, Explanation: expl})
			other := p.ACase
			if other == caseID {
				other = p.BCase
			}
			if !seen[other] {
				seen[other] = true
				r.others = append(r.others, other)
			}
		}
	}
	for _, res := range past {
		for _, c := range res {
			p := m.storedPair(c)
			if dup[p] {
				continue
			}
			dup[p] = true
			r.past = append(r.past, p)
			other := p.ACase
			if other == caseID {
				other = p.BCase
			}
			if !seen[other] && !m.truncated[other] {
				seen[other] = true
				r.pastOthers = append(r.pastOthers, other)
			}
		}
	}
	if len(r.past) > 0 {
		m.truncated[caseID] = true
	} else {
		delete(m.truncated, caseID)
	}
	return r, nil
}

// pickRefresh appends to order the other cases of r to match again, and
// marks them in refresh: at most maxRefresh of those its candidates name,
// then at most maxRefresh of those past its bound, none that skip names
// or that refresh has already.
func pickRefresh(r caseResult, skip func(string) bool, refresh map[string]bool, order []string) []string {
	for _, others := range [][]string{r.others, r.pastOthers} {
		k := 0
		for _, o := range others {
			if skip(o) || refresh[o] {
				continue
			}
			if k == maxRefresh {
				break
			}
			k++
			refresh[o] = true
			order = append(order, o)
		}
	}
	return order
}

// storedPair is the pair of a candidate as the store holds it: the sought
// person first, and between two sought persons one order whoever was
// matched.
func (m *matcher) storedPair(c match.Candidate) store.MatchPair {
	a, b := c.A, c.B
	if m.side(b) == match.SideSought && (b.CaseID < a.CaseID || b.CaseID == a.CaseID && b.PersonID < a.PersonID) {
		a, b = b, a
	}
	return store.MatchPair{ACase: a.CaseID, APerson: a.PersonID, BCase: b.CaseID, BPerson: b.PersonID}
}

// matchStepsLocked computes, in one session (each person's candidates
// among those held computed once, on every core), what recordLocked would
// store for each of ids in turn (none for a case isNew with no
// candidate), then for the other cases they name that are not in skip, at
// most maxRefresh new ones per case, in the order the per-case path
// refreshes them. The index must not change meanwhile (m.mu held).
func (n *Node) matchStepsLocked(sess *match.Session, ids []string, isNew, skip map[string]bool) ([]store.CaseCandidates, error) {
	m := n.matcher
	first, err := m.sessionCandidates(sess, ids)
	if err != nil {
		return nil, err
	}
	refresh := map[string]bool{}
	var order []string
	var steps []store.CaseCandidates
	for i, id := range ids {
		if isNew[id] && len(first[i].cands) == 0 && len(first[i].past) == 0 {
			continue
		}
		steps = append(steps, store.CaseCandidates{CaseID: id, Cands: first[i].cands, Past: first[i].past})
		order = pickRefresh(first[i], func(o string) bool { return skip[o] }, refresh, order)
	}
	then, err := m.sessionCandidates(sess, order)
	if err != nil {
		return nil, err
	}
	for i, id := range order {
		steps = append(steps, store.CaseCandidates{CaseID: id, Cands: then[i].cands, Past: then[i].past})
	}
	return steps, nil
}

type caseResult struct {
	cands      []store.NewMatchCandidate
	past       []store.MatchPair // candidates past the bound of their lists
	others     []string          // the other cases cands name
	pastOthers []string          // the other cases past names whose lists were not truncated
}

// sessionCandidates matches the persons of the cases ids held in one
// MatchAll and builds each case's candidates.
func (m *matcher) sessionCandidates(sess *match.Session, ids []string) ([]caseResult, error) {
	var ps []*match.Person
	for _, id := range ids {
		ps = append(ps, m.byCase[id]...)
	}
	res, past := sess.MatchAllCut(ps)
	out := make([]caseResult, len(ids))
	k := 0
	for i, id := range ids {
		n := len(m.byCase[id])
		var err error
		if out[i], err = m.caseCandidates(id, res[k:k+n], past[k:k+n]); err != nil {
			return nil, err
		}
		k += n
	}
	return out, nil
}

// side returns the side of a person held ("" when not held).
func (m *matcher) side(r match.Ref) match.Side {
	for _, p := range m.byCase[r.CaseID] {
		if p.PersonID == r.PersonID {
			return p.Side
		}
	}
	return ""
}

// unmatchCase forgets an erased case's persons (its candidates went with
// the erasure's transaction).
func (n *Node) unmatchCase(caseID string) {
	if n.matcher == nil {
		return
	}
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unsetLocked(caseID)
}

func (m *matcher) unsetLocked(caseID string) {
	m.ix.Remove(caseID)
	delete(m.byCase, caseID)
	delete(m.versions, caseID)
	delete(m.truncated, caseID)
	m.pending.done(caseID)
	m.pprlDirty = true
}

// explanation is what a candidate stores beside its persons and score:
// the field-by-field evidence (levels and weights; pointers into the
// cases' names lists, never a name).
type explanation struct {
	Weight float64          `json:"weight"`
	Offset float64          `json:"offset"`
	Fields []match.Evidence `json:"fields"`
}

// Match decisions.
const (
	MatchConfirm = "confirm"
	MatchReject  = "reject"
)

// DecideMatch confirms or rejects an open candidate, audited as
// match.confirm or match.reject. A confirmation discloses nothing and
// sends nothing: forwarding the case stays a separate, policy-checked
// step.
func (n *Node) DecideMatch(ctx context.Context, a Actor, id int64, decision string) (store.MatchCandidate, error) {
	if n.matcher == nil {
		return store.MatchCandidate{}, errf(CodeNotFound, "matching is disabled on this node")
	}
	state := map[string]string{MatchConfirm: store.MatchConfirmed, MatchReject: store.MatchRejected}[decision]
	if state == "" {
		return store.MatchCandidate{}, errf(CodeBadRequest, "decision %q is not confirm or reject", decision)
	}
	var out store.MatchCandidate
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		if out, err = tx.DecideMatch(ctx, id, state, a.Name, n.o.Now()); err != nil {
			return err
		}
		return n.audit(ctx, tx, a.Name, "match."+decision, fmt.Sprintf("match:%d", id), map[string]any{
			"a_case": out.ACase, "a_person": out.APerson, "b_case": out.BCase, "b_person": out.BPerson, "score": out.Score,
		})
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.MatchCandidate{}, errf(CodeNotFound, "no candidate match %d", id)
	case errors.Is(err, store.ErrConflict):
		return store.MatchCandidate{}, errf(CodeConflict, "candidate match %d is already %s", id, out.State)
	case err != nil:
		return store.MatchCandidate{}, internal("decide match", err)
	}
	return out, nil
}

// MatchingEnabled reports whether the node computes candidate matches.
func (n *Node) MatchingEnabled() bool { return n.matcher != nil }

// matchReceived keeps matching in step with an inbox row just processed: a
// case received or updated is matched, an erased one forgotten.
//
// While Run runs, the work goes to the matching worker (runMatchWorker), so
// that processing a crisis list is not held up by matching its persons;
// with its queue full, a case received or updated is left to its
// match_pending mark (matched by the worker's catch-up) and a withdrawal is
// done here, as everything is without the worker.
func (n *Node) matchReceived(ctx context.Context, it store.InboxItem) {
	if n.matcher == nil || it.CaseID == "" {
		return
	}
	switch federation.Kind(it.Kind) {
	case federation.KindCaseCreate, federation.KindCaseUpdate, federation.KindCaseWithdraw:
	default:
		return
	}
	if n.matchAsync.Load() {
		if federation.Kind(it.Kind) != federation.KindCaseWithdraw {
			// Before the worker can take it: a sync pass leaves it to
			// matching (queued, or left to its mark below).
			n.matcher.pending.add(it.CaseID, n.o.Now(), true)
		}
		// What the worker reads of the row: a queue of 10,000 full rows
		// held their envelopes (some 35 MB) for the collector to scan.
		select {
		case n.matchQ <- store.InboxItem{ID: it.ID, Kind: it.Kind, CaseID: it.CaseID}:
			return
		default:
		}
		if federation.Kind(it.Kind) != federation.KindCaseWithdraw {
			// The queue is full: the case keeps the match_pending mark its
			// processing wrote, and the worker matches every marked case
			// through the bulk path once its queue is empty, rather than
			// processing slowing to the pace of matching case by case.
			n.matcher.pending.add(it.CaseID, n.o.Now(), false)
			n.matchBehind.Store(true)
			return
		}
	}
	n.matchReceivedNow(ctx, it)
}

// matchQueue is how many received cases wait for the matching worker
// before processing matches them itself.
var matchQueue = 10000

// runMatchWorker matches received cases until ctx ends, then what is left
// in its queue.
func (n *Node) runMatchWorker(ctx context.Context) {
	n.matchAsync.Store(true)
	defer n.matchAsync.Store(false)
	for {
		select {
		case it := <-n.matchQ:
			n.matchQueued(ctx, it)
			continue
		case <-ctx.Done():
			return
		default:
		}
		if n.matchBehind.Swap(false) {
			if _, err := n.catchUpMatching(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("matching the cases left marked failed; they stay marked", "err", err)
			}
			continue
		}
		select {
		case it := <-n.matchQ:
			n.matchQueued(ctx, it)
		case <-ctx.Done():
			return
		}
	}
}

// matchQueued matches it with what queued up behind it, in one session
// and one transaction (matchReceivedBatch).
func (n *Node) matchQueued(ctx context.Context, it store.InboxItem) {
	batch := []store.InboxItem{it}
	for len(batch) < matchWorkerBatch {
		select {
		case it := <-n.matchQ:
			batch = append(batch, it)
		default:
			n.matchReceivedBatch(ctx, batch)
			return
		}
	}
	n.matchReceivedBatch(ctx, batch)
}

// matchWorkerBatch is the most received cases the matching worker matches
// together.
const matchWorkerBatch = 200

// matchReceivedBatch is matchReceivedNow for several inbox rows at once,
// with the same results: each case named is read once, then the rows are
// matched in order exactly as matchReceivedNow would match them one after
// the other (each in its own session, against the index as the rows
// before it left it), and the candidates of all of them are written in one
// transaction (ReplaceMatchesMany keeps, for each case, what the last step
// naming it computed, as writing them one by one would). The worker's
// per-case transaction and its reads were a fifth of its CPU, and its
// database round trips held back the next case.
func (n *Node) matchReceivedBatch(ctx context.Context, batch []store.InboxItem) {
	if len(batch) == 1 {
		n.matchReceivedNow(ctx, batch[0])
		return
	}
	type state struct {
		c       store.Case
		err     error
		decoded *decodedCase // the document held, decoded when it was applied
	}
	read := make(map[string]state, len(batch))
	ids := make([]string, 0, len(batch))
	rows := make(map[string]int, len(batch))
	for _, it := range batch {
		if _, ok := read[it.CaseID]; !ok {
			read[it.CaseID] = state{}
			ids = append(ids, it.CaseID)
		}
		if federation.Kind(it.Kind) != federation.KindCaseWithdraw {
			rows[it.CaseID]++
		}
	}
	// One query for the batch (a read per case was one round trip each),
	// without the documents: the case applied on receipt was decoded then
	// (receivedKeys), and the SHA-256 of the document held says whether
	// that decoded case is the one stored. Only the documents of the
	// others are read (a case changed since, one matched by more than one
	// row of the batch, which each prepare their own, one not decoded here).
	heads, err := n.matchStore().GetCaseHeads(ctx, ids)
	var need []string
	for _, id := range ids {
		h, ok := heads[id]
		switch {
		case err != nil:
			read[id] = state{err: err}
		case !ok:
			read[id] = state{err: fmt.Errorf("node: case %q: %w", id, store.ErrNotFound)}
		case h.Erased() || rows[id] == 0:
			read[id] = state{c: h.Case}
		default:
			if rows[id] == 1 {
				if d, ok := n.matcher.decoded.takeSum(h.DocumentSHA256); ok && d.c.CaseID == id {
					read[id] = state{c: h.Case, decoded: &d}
					continue
				}
			}
			need = append(need, id)
		}
	}
	if len(need) > 0 {
		cs, err := n.matchStore().GetCases(ctx, need)
		for _, id := range need {
			c, ok := cs[id]
			switch {
			case err != nil:
				read[id] = state{err: err}
			case !ok:
				read[id] = state{err: fmt.Errorf("node: case %q: %w", id, store.ErrNotFound)}
			default:
				read[id] = state{c: c}
			}
		}
	}
	// The persons of the rows to match, prepared on every core before the
	// index is locked (names analysed in every script: the worker's one
	// goroutine did it row after row under the lock); one preparation per
	// row, as matching them one by one makes.
	type prep struct {
		c       store.NewCase
		decoded *decodedCase
	}
	var toPrepare []prep
	prepOf := make([]int, len(batch))
	for i, it := range batch {
		prepOf[i] = -1
		if st := read[it.CaseID]; st.err == nil && !st.c.Erased() && federation.Kind(it.Kind) != federation.KindCaseWithdraw {
			prepOf[i] = len(toPrepare)
			toPrepare = append(toPrepare, prep{c: store.NewCase{ID: st.c.ID, Version: st.c.Version, Document: st.c.Document}, decoded: st.decoded})
		}
	}
	prepared := n.prepareEach(len(toPrepare), func(i int) []*match.Person {
		if d := toPrepare[i].decoded; d != nil {
			return match.PersonsOfWith(d.c, n.o.Now(), d.names)
		}
		return n.personsOf(toPrepare[i].c.ID, toPrepare[i].c.Document)
	})
	start := time.Now()
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		n.log.Error("matching failed", "cases", len(read), "err", err)
		n.metrics.matchErrors.Inc()
		return
	}
	var steps []store.CaseCandidates
	var done []store.PendingMatch
	for i, it := range batch {
		st := read[it.CaseID]
		switch {
		case errors.Is(st.err, store.ErrNotFound):
			m.unsetLocked(it.CaseID)
		case st.err != nil:
			n.log.Error("matching failed", "case_id", it.CaseID, "err", st.err)
			n.metrics.matchErrors.Inc()
		case st.c.Erased():
			m.unsetLocked(it.CaseID)
		case federation.Kind(it.Kind) != federation.KindCaseWithdraw:
			// As rematch does for one case.
			c := st.c
			_, held := m.byCase[c.ID]
			m.setLocked(c.ID, c.Version, prepared[prepOf[i]])
			s, err := n.matchStepsLocked(m.ix.Session(), []string{c.ID}, map[string]bool{c.ID: !held}, map[string]bool{c.ID: true})
			if err != nil {
				n.log.Error("matching failed", "case_id", c.ID, "err", err)
				n.metrics.matchErrors.Inc()
				continue
			}
			steps = append(steps, s...)
			done = append(done, store.PendingMatch{CaseID: c.ID, Version: c.Version})
		}
	}
	if len(done) == 0 {
		return
	}
	defer func() {
		per := time.Since(start).Seconds() / float64(len(done))
		for range done {
			n.metrics.matchSeconds.Observe(per)
		}
	}()
	if len(steps) == 0 && len(m.matched)+len(done) <= flushMatched {
		m.matched = append(m.matched, done...) // nothing to write: cleared later
		return
	}
	if err := n.writeStepsLocked(ctx, steps, done); err != nil {
		n.log.Error("matching received cases failed", "cases", len(done), "err", err)
		n.metrics.matchErrors.Inc()
	}
}

// matchReceivedNow is matchReceived done at once.
func (n *Node) matchReceivedNow(ctx context.Context, it store.InboxItem) {
	c, err := n.matchStore().GetCase(ctx, it.CaseID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n.unmatchCase(it.CaseID)
	case err != nil:
		n.log.Error("matching failed", "case_id", it.CaseID, "err", err)
		n.metrics.matchErrors.Inc()
	case c.Erased():
		n.unmatchCase(it.CaseID)
	case federation.Kind(it.Kind) != federation.KindCaseWithdraw:
		n.matchCase(ctx, c.ID, c.Version, c.Document)
	}
}

// SyncMatching takes into the index the cases that other processes sharing
// the database (node replicas) created, updated or erased since the last
// pass: their persons are put or removed, so that the cases written here
// are matched against them too. The candidates those cases found were
// recorded by the process that wrote them.
//
// A case this node received and handed to its own matching (the worker's
// queue, or its match_pending mark when the queue was full) is left to it:
// matching puts it in the index. Taking it in here too prepared every case
// twice while the worker was behind a crisis list, and its second Put read
// through blocks grown large. A case left so for over syncDeferMax is
// taken in anyway (its matching failed: it still joins the index, as it
// did before).
func (n *Node) SyncMatching(ctx context.Context) error {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		return n.loadMatchesLocked(ctx)
	}
	now := n.o.Now()
	since := m.synced
	m.synced = now.Add(-time.Minute) // overlap: clocks of replicas differ a little
	fail := func(err error) error {
		m.synced = since
		return fmt.Errorf("node: sync matching: %w", err)
	}
	// The listing without documents: a case at the version the index
	// took in is skipped (this node wrote it), and so is one this node's
	// matching has yet to take; only the others are read (in batches) and
	// prepared.
	var read []string
	f := store.CaseFilter{IncludeErased: true, UpdatedSince: since, Limit: 1000}
	for {
		page, err := n.matchStore().ListCases(ctx, f)
		if err != nil {
			return fail(err)
		}
		for _, c := range page.Cases {
			switch v, ok := m.versions[c.ID]; {
			case c.Erased():
				m.forgetLocked(c.ID)
			case ok && v == c.Version:
			case m.pending.has(c.ID, now):
				// Matching takes it; a later pass lists it again only if
				// it changes, which is what the version check is for.
			default:
				read = append(read, c.ID)
			}
		}
		if page.Next == "" {
			break
		}
		f.Cursor = page.Next
	}
	// Cases left to matching for too long, listed in this pass or not.
	if late := m.pending.expired(now); len(late) > 0 {
		listed := make(map[string]bool, len(read))
		for _, id := range read {
			listed[id] = true
		}
		for _, id := range late {
			if !listed[id] {
				read = append(read, id)
			}
		}
	}
	for len(read) > 0 {
		chunk := read[:min(len(read), syncReadBatch)]
		read = read[len(chunk):]
		cs, err := n.matchStore().GetCases(ctx, chunk)
		if err != nil {
			return fail(err)
		}
		for _, id := range chunk {
			c, ok := cs[id]
			if !ok || c.Erased() {
				m.forgetLocked(id)
				continue
			}
			if ps := n.personsOf(c.ID, c.Document); len(ps) > 0 {
				if !samePersons(m.byCase[c.ID], ps) {
					m.setLocked(c.ID, c.Version, ps)
				}
			} else if _, held := m.byCase[c.ID]; held {
				m.ix.Remove(c.ID)
				delete(m.byCase, c.ID)
				m.pprlDirty = true
			}
			m.versions[c.ID] = c.Version
		}
	}
	return nil
}

// syncDeferMax is how long a sync pass leaves a case received here to
// this node's matching before taking it in itself.
const syncDeferMax = 5 * time.Minute

// syncReadBatch is how many cases a sync pass reads in one query.
const syncReadBatch = 500

// pendingCases are the cases this node received whose matching (the
// worker, or catch-up from their marks) has yet to put them in the index,
// with when they were handed to it and whether they wait in the worker's
// queue. Its own lock: inbox processing adds while matching holds the
// matcher's.
type pendingCases struct {
	mu  sync.Mutex
	ids map[string]pendingCase
}

type pendingCase struct {
	at     time.Time
	queued bool // in the worker's queue (else left to its mark)
}

func (p *pendingCases) add(id string, at time.Time, queued bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids = map[string]pendingCase{}
	}
	p.ids[id] = pendingCase{at: at, queued: queued}
}

func (p *pendingCases) done(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ids, id)
}

// has reports whether id waits for matching, handed to it less than
// syncDeferMax before now.
func (p *pendingCases) has(id string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.ids[id]
	if ok && now.Sub(c.at) >= syncDeferMax {
		delete(p.ids, id)
		return false
	}
	return ok
}

// expired forgets and returns the cases handed to matching syncDeferMax or
// more before now.
func (p *pendingCases) expired(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id, c := range p.ids {
		if now.Sub(c.at) >= syncDeferMax {
			delete(p.ids, id)
			out = append(out, id)
		}
	}
	return out
}

// queued reports whether id waits in the worker's queue.
func (p *pendingCases) queued(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids[id].queued
}

// forgetLocked drops an erased or missing case from the index and from
// the versions known.
func (m *matcher) forgetLocked(caseID string) {
	if _, ok := m.byCase[caseID]; ok {
		m.ix.Remove(caseID)
		delete(m.byCase, caseID)
		m.pprlDirty = true
	}
	delete(m.versions, caseID)
}

// samePersons reports whether two preparations of a case hold the same
// persons with the same blocking keys (the index then needs no change).
func samePersons(a, b []*match.Person) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Ref != b[i].Ref || !slices.Equal(a[i].Keys(), b[i].Keys()) {
			return false
		}
	}
	return true
}

// runMatchSync keeps the index in step with the other processes sharing
// the database until ctx ends.
func (n *Node) runMatchSync(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := n.SyncMatching(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("matching sync failed", "err", err)
			}
			if err := n.flushMatchedMarks(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("clearing match marks failed", "err", err)
			}
		}
	}
}

// matchImported matches the cases of one import as a create matches one
// case, but in one pass: every case is put into the index first, then the
// candidates of the whole import are computed in one session (each
// person's candidates among those held once, on every core), each case's
// as recordLocked would give them, then those of the other cases they
// name outside the import (at most maxRefresh per imported case), and all
// are written in one transaction with set-based statements, which also
// clears the cases' match_pending marks. Failures are logged, as for
// matchCase.
func (n *Node) matchImported(ctx context.Context, cases []store.NewCase, parsed []*schema.Case) {
	if n.matcher == nil || len(cases) == 0 {
		return
	}
	start := time.Now()
	defer func() { n.metrics.matchSeconds.Observe(time.Since(start).Seconds()) }()
	rematch := n.rematchAll
	if n.matcher.importHook != nil {
		rematch = n.matcher.importHook
	}
	if err := rematch(ctx, cases, parsed); err != nil {
		n.log.Error("matching an import failed", "cases", len(cases), "err", err)
		n.metrics.matchErrors.Inc()
	}
}

func (n *Node) rematchAll(ctx context.Context, cases []store.NewCase, parsed []*schema.Case) error {
	m := n.matcher
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return err
	}
	ids, isNew, imported, done := n.putCasesLocked(cases, parsed)
	steps, err := n.matchStepsLocked(m.ix.Session(), ids, isNew, imported)
	if err != nil {
		return err
	}
	return n.writeStepsLocked(ctx, steps, done)
}

// putCasesLocked puts the persons of cases into the index (parsed[i], when
// given, is cases[i] decoded; a case whose document holds no person to
// match leaves it) and returns their ids in order, which were new to it,
// the set of them, and their versions.
func (n *Node) putCasesLocked(cases []store.NewCase, parsed []*schema.Case) (ids []string, isNew, set map[string]bool, done []store.PendingMatch) {
	m := n.matcher
	prepared := n.prepareAll(cases, parsed)
	isNew = make(map[string]bool, len(cases))
	set = make(map[string]bool, len(cases))
	for i, c := range cases {
		ids = append(ids, c.ID)
		set[c.ID] = true
		_, held := m.byCase[c.ID]
		isNew[c.ID] = !held
		m.setLocked(c.ID, c.Version, prepared[i])
		done = append(done, store.PendingMatch{CaseID: c.ID, Version: c.Version})
	}
	return ids, isNew, set, done
}

// markMatchPending records in tx, the transaction that writes the cases,
// that these case versions are to be matched: a crash between the commit
// and matching leaves the mark, and the node matches them when it starts
// again (catchUpMatching).
func (n *Node) markMatchPending(ctx context.Context, tx store.Tx, ps ...store.PendingMatch) error {
	if n.matcher == nil || len(ps) == 0 {
		return nil
	}
	return tx.MarkMatchPending(ctx, ps)
}

// catchUpMatching matches the cases whose match_pending marks remain
// (written, then not matched: a crash, a failed matching transaction, the
// worker's queue full), in batches through the bulk path, and returns how
// many it matched. An erased or missing case only loses its mark. A case
// waiting in the worker's queue is left to the worker: while inbox
// processing goes on, the marks read include the cases it queues meanwhile,
// which were otherwise matched twice.
func (n *Node) catchUpMatching(ctx context.Context) (int, error) {
	// The marks of cases matched but not yet cleared go first (they would
	// be matched again).
	if err := n.flushMatchedMarks(ctx); err != nil {
		return 0, fmt.Errorf("node: catch up matching: %w", err)
	}
	total := 0
	after := ""
	for {
		marks, err := n.matchStore().ListMatchPending(ctx, after, MaxImportBatch)
		if err != nil {
			return total, fmt.Errorf("node: catch up matching: %w", err)
		}
		if len(marks) == 0 {
			return total, nil
		}
		after = marks[len(marks)-1].CaseID
		if n.matcher != nil {
			marks = slices.DeleteFunc(marks, func(mk store.PendingMatch) bool { return n.matcher.pending.queued(mk.CaseID) })
			if len(marks) == 0 {
				continue
			}
		}
		// One query for the page (a read per case was a round trip each).
		ids := make([]string, len(marks))
		for i, mk := range marks {
			ids[i] = mk.CaseID
		}
		held, err := n.matchStore().GetCases(ctx, ids)
		if err != nil {
			return total, fmt.Errorf("node: catch up matching: %w", err)
		}
		var cases []store.NewCase
		var gone []store.PendingMatch
		for _, mk := range marks {
			c, ok := held[mk.CaseID]
			if !ok || c.Erased() {
				gone = append(gone, mk)
				continue
			}
			cases = append(cases, store.NewCase{ID: c.ID, Version: c.Version, Document: c.Document})
		}
		if len(gone) > 0 {
			if err := n.matchStore().ClearMatchPending(ctx, gone); err != nil {
				return total, fmt.Errorf("node: catch up matching: %w", err)
			}
		}
		if len(cases) > 0 {
			if err := n.rematchAll(ctx, cases, nil); err != nil {
				return total, fmt.Errorf("node: catch up matching: %w", err)
			}
			total += len(cases)
		}
	}
}

// RematchResult counts what one run of the bulk match job did.
type RematchResult struct {
	Cases      int // cases matched again
	Persons    int // persons of those cases matched
	Candidates int // candidates written (each pair once)
	Duration   time.Duration
}

// RematchHeld is the bulk match job: it computes again the candidates of
// every case held, as matching each case in turn (by case id) would leave
// them, in one session and with set-based writes, and returns the cases
// matched. The node runs nothing else of matching meanwhile; a second run
// while one runs is refused (CodeConflict).
func (n *Node) RematchHeld(ctx context.Context) (int, error) {
	res, err := n.rematchHeld(ctx, nil)
	return res.Cases, err
}

// Rematch runs the bulk match job for an operator (RematchHeld) and
// returns its counts. It is audited as one match.rematch entry naming the
// actor, in the transaction that writes the candidates. Confirmed and
// rejected candidates keep their state. A second run while one runs is
// refused (CodeConflict).
func (n *Node) Rematch(ctx context.Context, a Actor) (RematchResult, error) {
	return n.rematchHeld(ctx, &a)
}

func (n *Node) rematchHeld(ctx context.Context, a *Actor) (RematchResult, error) {
	if n.matcher == nil {
		return RematchResult{}, errf(CodeNotFound, "matching is disabled on this node")
	}
	m := n.matcher
	if !m.rematching.CompareAndSwap(false, true) {
		return RematchResult{}, errf(CodeConflict, "the bulk match job is already running")
	}
	defer m.rematching.Store(false)
	began := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := n.loadMatchesLocked(ctx); err != nil {
		return RematchResult{}, internal("rematch", err)
	}
	ids := make([]string, 0, len(m.byCase))
	all := make(map[string]bool, len(m.byCase))
	var res RematchResult
	for id, ps := range m.byCase {
		ids = append(ids, id)
		all[id] = true
		res.Persons += len(ps)
	}
	slices.Sort(ids)
	res.Cases = len(ids)
	start := time.Now()
	sess := m.ix.Session()
	sess.FillHeld() // every person is asked for: the registered ones by inversion
	steps, err := n.matchStepsLocked(sess, ids, nil, all)
	if err != nil {
		return RematchResult{}, internal("rematch", err)
	}
	n.log.Info("candidates computed", "cases", len(ids), "seconds", time.Since(start).Seconds())
	type pair struct{ a, ap, b, bp string }
	pairs := map[pair]bool{}
	for _, st := range steps {
		for _, c := range st.Cands {
			pairs[pair{c.ACase, c.APerson, c.BCase, c.BPerson}] = true
		}
	}
	res.Candidates = len(pairs)
	var also func(store.Tx) error
	if a != nil {
		also = func(tx store.Tx) error {
			return n.audit(ctx, tx, a.Name, "match.rematch", "matches", map[string]any{
				"cases": res.Cases, "persons": res.Persons, "candidates": res.Candidates,
			})
		}
	}
	written := time.Now()
	if err := n.writeStepsAlsoLocked(ctx, steps, nil, also); err != nil {
		return RematchResult{}, internal("rematch", err)
	}
	n.log.Info("candidates written", "candidates", res.Candidates, "seconds", time.Since(written).Seconds())
	res.Duration = time.Since(began)
	return res, nil
}
