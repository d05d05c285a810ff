package node_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// receiveStep is one batch received in a test of applying on receipt.
type receiveStep struct {
	envs    []sent
	off     bool // applying on receipt is off for this batch (the rows wait for the processor)
	process bool // the processor runs after the batch
	applied int  // rows the batch leaves processed on receipt (applying on)
}

// receiveSteps receives the steps' batches at tested (applying on, but
// for steps marked off) and at ref (applying off: received, then
// processed separately), checks what each batch applied on receipt, and
// returns the states both are left in once processed.
func receiveSteps(t *testing.T, f *fedtest.Federation, tested, ref *nodetest.Node, steps []receiveStep, ids []string) (got, want processedState) {
	t.Helper()
	ctx := t.Context()
	ref.ApplyOnReceiveForTest(false)
	for i, s := range steps {
		var raws [][]byte
		for _, e := range s.envs {
			raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", e.kind, e.caseID, e.body))
		}
		before := processedRows(t, tested.Store)
		tested.ApplyOnReceiveForTest(!s.off)
		for _, n := range []*nodetest.Node{tested, ref} {
			out, err := n.ReceiveBatch(ctx, "XA-RC", raws)
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			for j, o := range out {
				if o.Err != nil && o.Err.Code != federation.CodeReplay {
					t.Fatalf("batch %d envelope %d refused: %v", i, j, o.Err)
				}
			}
		}
		if got := processedRows(t, tested.Store) - before; got != s.applied {
			t.Fatalf("batch %d: %d rows applied on receipt, want %d", i, got, s.applied)
		}
		if s.process {
			for _, n := range []*nodetest.Node{tested, ref} {
				if err := n.ProcessInbox(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, n := range []*nodetest.Node{tested, ref} {
		if err := n.ProcessInbox(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return stateOf(t, tested.Store, ids), stateOf(t, ref.Store, ids)
}

// sqliteBusy reports whether err is SQLite's writer staying busy.
func sqliteBusy(err error) bool {
	return errors.Is(err, store.ErrBusy) || strings.Contains(err.Error(), "SQLITE_BUSY")
}

func processedRows(t *testing.T, s store.Store) int {
	t.Helper()
	rows, err := s.ListInbox(t.Context(), store.InboxFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if !r.ProcessedAt.IsZero() {
			n++
		}
	}
	return n
}

// TestApplyOnReceiveAsProcessed: envelopes applied in the transaction that
// receives them leave the node exactly as receiving them and processing
// them separately does (cases, versions, inbox rows and their errors,
// audit entries in order, match-pending marks, a valid audit chain), and
// only what can be applied in order is: a case with an earlier row still
// waiting for the processor, and whatever follows, in the batch, an
// envelope of another kind, wait for it too.
func TestApplyOnReceiveAsProcessed(t *testing.T) {
	t.Parallel()
	const a, b, c, e, g = "XA-RC:P-A", "XA-RC:P-B", "XA-RC:P-C", "XA-RC:P-E", "XA-RC:P-G"
	ids := []string{a, b, c, e, g}
	tests := []struct {
		name  string
		steps func(t *testing.T) []receiveStep
		// reordered: a case is applied on receipt while rows of other
		// cases wait for the processor (the order kept is per case): the
		// audit entries are the same, in another order.
		reordered bool
	}{
		{"creates and updates in one batch, a stale create refused alone", func(t *testing.T) []receiveStep {
			return []receiveStep{{applied: 5, envs: []sent{
				{federation.KindCaseCreate, a, caseBody(t, a, 1)},
				{federation.KindCaseCreate, b, caseBody(t, b, 1)},
				{federation.KindCaseUpdate, a, caseBody(t, a, 2)},
				{federation.KindCaseCreate, b, caseBody(t, b, 1)}, // stale: its error kept on the row
				{federation.KindCaseUpdate, c, caseBody(t, c, 2)}, // a case not held
			}}}
		}, false},
		{"an update in a later batch supersedes the create", func(t *testing.T) []receiveStep {
			return []receiveStep{
				{applied: 2, envs: []sent{{federation.KindCaseCreate, a, caseBody(t, a, 1)}, {federation.KindCaseCreate, b, caseBody(t, b, 1)}}},
				{applied: 2, envs: []sent{{federation.KindCaseUpdate, a, caseBody(t, a, 2)}, {federation.KindCaseUpdate, a, caseBody(t, a, 3)}}},
			}
		}, false},
		{"a withdrawal and what follows it wait for the processor", func(t *testing.T) []receiveStep {
			withdraw := body(t, "withdrawal.consent_withdrawn", func(m map[string]any) { m["case_id"] = e })
			return []receiveStep{{applied: 2, envs: []sent{
				{federation.KindCaseCreate, a, caseBody(t, a, 1)},
				{federation.KindCaseCreate, e, caseBody(t, e, 1)},
				{federation.KindCaseWithdraw, e, withdraw},
				{federation.KindCaseUpdate, e, caseBody(t, e, 2)},
				{federation.KindCaseCreate, g, caseBody(t, g, 1)},
			}}}
		}, false},
		{"an update whose create waits for the processor waits too", func(t *testing.T) []receiveStep {
			return []receiveStep{
				{off: true, envs: []sent{{federation.KindCaseCreate, a, caseBody(t, a, 1)}}},
				// a's update is not applied before its create; b's, after
				// it in the batch, neither.
				{applied: 0, envs: []sent{{federation.KindCaseUpdate, a, caseBody(t, a, 2)}, {federation.KindCaseCreate, b, caseBody(t, b, 1)}}},
				{process: true, applied: 1, envs: []sent{{federation.KindCaseCreate, c, caseBody(t, c, 1)}}},
				{applied: 1, envs: []sent{{federation.KindCaseUpdate, a, caseBody(t, a, 3)}}},
			}
		}, true},
		{"a create of a case erased here is discarded", func(t *testing.T) []receiveStep {
			withdraw := body(t, "withdrawal.consent_withdrawn", func(m map[string]any) { m["case_id"] = e })
			return []receiveStep{
				{process: true, envs: []sent{{federation.KindCaseWithdraw, e, withdraw}}},
				{applied: 2, envs: []sent{{federation.KindCaseCreate, e, caseBody(t, e, 1)}, {federation.KindCaseCreate, g, caseBody(t, g, 1)}}},
			}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
				f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
				tested := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
				ref := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
				got, want := receiveSteps(t, f, tested, ref, tc.steps(t), ids)
				if tc.reordered {
					slices.Sort(got.Audit)
					slices.Sort(want.Audit)
				}
				sameState(t, got, want, "applied on receipt", "received, then processed")
			})
		})
	}
}

// failApply makes the first n calls of the apply part fail inside a
// transaction: CreateCasesMarked (as a statement the database refuses: on
// PostgreSQL the transaction is aborted until rolled back to a
// savepoint), or AppendAuditAll (an error of the node's own).
type failApply struct {
	store.Store
	left  *atomic.Int32
	where string
}

func (s failApply) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(failApplyTx{tx, s.left, s.where}) })
}

type failApplyTx struct {
	store.Tx
	left  *atomic.Int32
	where string
}

func (t failApplyTx) CreateCasesMarked(ctx context.Context, cs []store.NewCase, pending []store.PendingMatch) (store.BulkResult, error) {
	if t.where == "statement" && t.left.Add(-1) >= 0 {
		// A NUL in a text parameter: PostgreSQL refuses the statement.
		_, err := t.Tx.CasesHeld(ctx, []string{"bad\x00id"})
		return store.BulkResult{}, fmt.Errorf("injected: %w", errors.Join(err, errors.New("refused")))
	}
	return t.Tx.CreateCasesMarked(ctx, cs, pending)
}

func (t failApplyTx) AppendAuditAll(ctx context.Context, es []store.AuditEntry) ([]store.AuditRecord, error) {
	if t.where == "audit" && t.left.Add(-1) >= 0 {
		return nil, errors.New("injected: the database went away")
	}
	return t.Tx.AppendAuditAll(ctx, es)
}

// TestApplyOnReceiveFailureStillReceives: when applying a batch in the
// receiving transaction fails (a statement refused by the database, which
// aborts a PostgreSQL transaction; an error after cases were written), the
// batch is still stored and receipted as accepted, its rows wait for the
// processor, and processing them leaves the node as if nothing had
// failed.
func TestApplyOnReceiveFailureStillReceives(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"statement", "audit"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
				ctx := t.Context()
				f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
				left := &atomic.Int32{}
				left.Store(1)
				tested := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
					WrapStore: func(s store.Store) store.Store { return failApply{s, left, where} }})
				// The reference leaves every row to the processor by its
				// option (Options.ApplyLater, federation.apply_on_receive).
				ref := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
					Tune: func(o *node.Options) { o.ApplyLater = true }})
				var raws [][]byte
				var ids []string
				for i := range 6 {
					id := fmt.Sprintf("XA-RC:F-%d", i)
					ids = append(ids, id)
					raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, caseBody(t, id, 1)))
				}
				raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseUpdate, ids[0], caseBody(t, ids[0], 2)))
				for _, n := range []*nodetest.Node{tested, ref} {
					out, err := n.ReceiveBatch(ctx, "XA-RC", raws)
					if err != nil {
						t.Fatalf("the batch failed as a whole: %v", err)
					}
					for i, o := range out {
						if o.Err != nil || o.Status != federation.ReceiptAccepted || o.InboxID == 0 || len(o.Receipt) == 0 {
							t.Fatalf("envelope %d: status %s, inbox id %d, %d bytes of receipt, %v", i, o.Status, o.InboxID, len(o.Receipt), o.Err)
						}
					}
				}
				if left.Load() >= 1 {
					t.Fatal("applying did not fail: the test tests nothing")
				}
				if n := processedRows(t, tested.Store); n != 0 {
					t.Fatalf("%d rows processed after a failed apply", n)
				}
				if n := processedRows(t, ref.Store); n != 0 {
					t.Fatalf("%d rows processed on receipt by a node told to apply later", n)
				}
				for _, n := range []*nodetest.Node{tested, ref} {
					if err := n.ProcessInbox(ctx); err != nil {
						t.Fatal(err)
					}
				}
				// On PostgreSQL the rows stored again after the roll back
				// have other ids (a sequence does not roll back).
				got, want := renumbered(t, stateOf(t, tested.Store, ids)), renumbered(t, stateOf(t, ref.Store, ids))
				sameState(t, got, want, "apply failed on receipt, then processed", "received, then processed")
				if failedRows(got) != 0 || len(got.Inbox) != len(raws) {
					t.Fatalf("state %+v", got)
				}
			})
		})
	}
}

// TestApplyOnReceiveRacesOnce: replicas sharing one database receive the
// same batches at once (the same jtis racing, applied on receipt by two
// of them, stored for the processor by the third), while the third's
// processor runs: every envelope is stored once and applied once (one
// inbox.process entry per row, no row failed, every case at its last
// version), an update never before its create, and the audit chain holds.
func TestApplyOnReceiveRacesOnce(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		dsn := nodetest.DSN(t, d)
		var replicas []*nodetest.Node
		for range 3 {
			replicas = append(replicas, nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, DSN: dsn, NoRun: true}))
		}
		replicas[2].ApplyOnReceiveForTest(false)
		const cases, per = 40, 20
		var ids []string
		var batches [][][]byte
		for v := 1; v <= 2; v++ {
			kind := federation.KindCaseCreate
			if v == 2 {
				kind = federation.KindCaseUpdate
			}
			for lo := 0; lo < cases; lo += per {
				var raws [][]byte
				for i := lo; i < lo+per; i++ {
					id := fmt.Sprintf("XA-RC:C-%03d", i)
					if v == 1 {
						ids = append(ids, id)
					}
					raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", kind, id, caseBody(t, id, v)))
				}
				batches = append(batches, raws)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, raws := range batches {
					out, err := r.ReceiveBatch(ctx, "XA-RC", raws)
					// Retryable (a deadlock between racing batches on
					// PostgreSQL; on a loaded machine, SQLite's busy
					// timeout): sent again, as a sender would.
					for try := 1; err != nil && try < 5; try++ {
						time.Sleep(time.Duration(try) * 50 * time.Millisecond)
						out, err = r.ReceiveBatch(ctx, "XA-RC", raws)
					}
					if err != nil {
						errs <- err
						return
					}
					for _, o := range out {
						if o.Err != nil {
							errs <- o.Err
							return
						}
					}
				}
			}()
		}
		stop := make(chan struct{})
		processed := make(chan error, 1)
		go func() {
			for {
				// SQLite's writer busy past its timeout (three replicas
				// on one file, a loaded machine): the processor's loop
				// tries again at its next poll, and so does this one.
				if err := replicas[2].ProcessInbox(ctx); err != nil && !sqliteBusy(err) {
					processed <- err
					return
				}
				select {
				case <-stop:
					processed <- nil
					return
				default:
				}
			}
		}()
		wg.Wait()
		close(stop)
		if err := <-processed; err != nil {
			t.Fatal(err)
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := replicas[0].ProcessInbox(ctx); err != nil {
			t.Fatal(err)
		}
		st := stateOf(t, replicas[0].Store, ids) // checks the audit chain
		rows := map[string]bool{}
		for _, a := range st.Audit {
			if rows[a] {
				t.Fatalf("applied twice: %s", a)
			}
			rows[a] = true
		}
		if len(st.Inbox) != 2*cases || len(st.Audit) != 2*cases || failedRows(st) != 0 {
			t.Fatalf("%d rows, %d inbox.process entries, %d failed, for %d envelopes:\n%s", len(st.Inbox), len(st.Audit), failedRows(st), 2*cases, strings.Join(st.Inbox, "\n"))
		}
		for _, c := range st.Cases {
			if !strings.Contains(c, " v2 ") {
				t.Fatalf("case %s", c)
			}
		}
	})
}

var inboxIDs = regexp.MustCompile(`^\d+ |"inbox_id":\d+`)

// renumbered numbers st's inbox rows 1, 2, ... in their order, in the rows
// and in the audit entries naming them.
func renumbered(t *testing.T, st processedState) processedState {
	t.Helper()
	to := map[string]string{}
	for i, r := range st.Inbox {
		id, _, _ := strings.Cut(r, " ")
		to[id] = strconv.Itoa(i + 1)
	}
	re := func(s string) string {
		return inboxIDs.ReplaceAllStringFunc(s, func(m string) string {
			if id, ok := strings.CutPrefix(m, `"inbox_id":`); ok {
				return `"inbox_id":` + to[id]
			}
			return to[strings.TrimSpace(m)] + " "
		})
	}
	out := st
	out.Inbox, out.Audit = nil, nil
	for _, r := range st.Inbox {
		out.Inbox = append(out.Inbox, re(r))
	}
	for _, a := range st.Audit {
		out.Audit = append(out.Audit, re(a))
	}
	return out
}

// countTx counts the transactions and savepoints a node takes.
type countTx struct {
	store.Store
	txs, savepoints *atomic.Int32
}

func (s countTx) Tx(ctx context.Context, fn func(store.Tx) error) error {
	s.txs.Add(1)
	return s.Store.Tx(ctx, func(tx store.Tx) error { return fn(countSavepoints{tx, s.savepoints}) })
}

type countSavepoints struct {
	store.Tx
	n *atomic.Int32
}

func (t countSavepoints) Savepoint(ctx context.Context, fn func() error) (error, error) {
	t.n.Add(1)
	return t.Tx.Savepoint(ctx, fn)
}

// TestApplyOnReceiveOneTransaction: a batch stored and applied on receipt
// takes one transaction and no savepoint (a savepoint was two statements
// per batch, and a subtransaction on PostgreSQL, for the rare batch whose
// apply fails: that one is stored again in a transaction of its own,
// TestApplyOnReceiveFailureStillReceives).
func TestApplyOnReceiveOneTransaction(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		txs, savepoints := &atomic.Int32{}, &atomic.Int32{}
		// Matching off: with no worker running, it would match each case
		// in transactions of its own after the batch.
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Match: node.MatchOptions{Disabled: true},
			WrapStore: func(s store.Store) store.Store { return countTx{s, txs, savepoints} }})
		var raws [][]byte
		for i := range 10 {
			id := fmt.Sprintf("XA-RC:T-%d", i)
			raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, caseBody(t, id, 1)))
		}
		txs.Store(0)
		out, err := xb.ReceiveBatch(ctx, "XA-RC", raws)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if o.Err != nil || o.Status != federation.ReceiptAccepted {
				t.Fatalf("envelope %d: %s %v", i, o.Status, o.Err)
			}
		}
		if n := processedRows(t, xb.Store); n != len(raws) {
			t.Fatalf("%d of %d rows applied on receipt", n, len(raws))
		}
		if txs.Load() != 1 || savepoints.Load() != 0 {
			t.Fatalf("a batch applied on receipt took %d transactions and %d savepoints, want 1 and 0", txs.Load(), savepoints.Load())
		}
	})
}

// TestApplyOnReceiveLoneEnvelope: a case.create or case.update received
// alone (POST /flx/v1/envelopes, or a batch sender's lone row) is applied
// in the one transaction that stores it, as a batch of one is, rather than
// stored and applied by the processor in a second transaction; sent again
// it is a duplicate, applied once; with applying on receipt off it waits
// for the processor as before.
func TestApplyOnReceiveLoneEnvelope(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		txs, savepoints := &atomic.Int32{}, &atomic.Int32{}
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Match: node.MatchOptions{Disabled: true},
			WrapStore: func(s store.Store) store.Store { return countTx{s, txs, savepoints} }})
		create := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:L-1", caseBody(t, "XA-RC:L-1", 1))
		update := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseUpdate, "XA-RC:L-1", caseBody(t, "XA-RC:L-1", 2))
		for i, raw := range [][]byte{create, update} {
			txs.Store(0)
			res, err := xb.Receive(ctx, "XA-RC", raw)
			if err != nil || res.Status != federation.ReceiptAccepted || res.InboxID == 0 {
				t.Fatalf("envelope %d: %+v %v", i, res, err)
			}
			if n := processedRows(t, xb.Store); n != i+1 {
				t.Fatalf("envelope %d: %d rows processed on receipt, want %d", i, n, i+1)
			}
			if txs.Load() != 1 {
				t.Fatalf("envelope %d received and applied in %d transactions, want 1", i, txs.Load())
			}
		}
		c, err := xb.Store.GetCase(ctx, "XA-RC:L-1")
		if err != nil || c.Version != 2 {
			t.Fatalf("case after the update: version %d, %v", c.Version, err)
		}
		res, err := xb.Receive(ctx, "XA-RC", create)
		if err != nil || res.Status != federation.ReceiptDuplicate {
			t.Fatalf("sent again: %+v %v", res, err)
		}
		if n := processedRows(t, xb.Store); n != 2 {
			t.Fatalf("%d rows processed after a duplicate, want 2", n)
		}
		xb.ApplyOnReceiveForTest(false)
		later := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:L-2", caseBody(t, "XA-RC:L-2", 1))
		if _, err := xb.Receive(ctx, "XA-RC", later); err != nil {
			t.Fatal(err)
		}
		if n := processedRows(t, xb.Store); n != 2 {
			t.Fatalf("applying off: %d rows processed on receipt, want 2", n)
		}
		if err := xb.ProcessInbox(ctx); err != nil {
			t.Fatal(err)
		}
		if n := processedRows(t, xb.Store); n != 3 {
			t.Fatalf("after the processor: %d rows processed, want 3", n)
		}
	})
}

// TestReceiveBatchStatements: a batch of new cases received and applied
// on receipt sends PostgreSQL seven statements, each one round trip on a
// warm connection: BEGIN, the cases' states (CaseStates: rows waiting for
// the processor, cases held), the inbox rows, the cases with their
// versions, search keys and match-pending marks, the audit rows (the
// chain's lock, head and rows: flx_audit_append), COMMIT, and the wait for
// the commit's flush outside the audit lock. It was eleven: the states and
// the cases held, the cases and their marks, and the lock, the head and
// the audit rows were each statements of their own.
func TestReceiveBatchStatements(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		sent := &atomic.Int64{}
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Match: node.MatchOptions{Disabled: true},
			StoreOptions: []store.Option{store.WithStatementCounter(sent)}})
		batch := func(from int) [][]byte {
			var raws [][]byte
			for i := from; i < from+10; i++ {
				id := fmt.Sprintf("XA-RC:S-%d", i)
				raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, id, caseBody(t, id, 1)))
			}
			return raws
		}
		// The first batch prepares the statements on its connection (pgx
		// caches them): the second is counted.
		for round, from := range []int{0, 10} {
			raws := batch(from)
			before := sent.Load()
			out, err := xb.ReceiveBatch(ctx, "XA-RC", raws)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range out {
				if o.Err != nil || o.Status != federation.ReceiptAccepted {
					t.Fatalf("envelope %d: %s %v", i, o.Status, o.Err)
				}
			}
			n := sent.Load() - before
			if n := processedRows(t, xb.Store); n != from+len(raws) {
				t.Fatalf("%d of %d rows applied on receipt", n, from+len(raws))
			}
			t.Logf("%s, batch %d of %d new cases: %d statements", d, round, len(raws), n)
			if d == nodetest.Postgres && round == 1 && n != 7 {
				t.Fatalf("a received batch sent %d statements, want 7", n)
			}
		}
		if v, err := xb.Store.VerifyAudit(ctx); err != nil || v.FirstBadSeq != 0 || v.Rows != 20 {
			t.Fatalf("audit chain after the batches: %+v %v", v, err)
		}
	})
}
