package node

import (
	"context"
	"errors"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/store"
)

// BatchItem is the outcome of one envelope of a batch: a receipt
// (Received) or the refusal of that envelope alone (Err).
type BatchItem struct {
	Received
	Err *Error
}

// MaxBatchEnvelopes is the most envelopes accepted in one batch.
func (n *Node) MaxBatchEnvelopes() int { return n.o.MaxBatchEnvelopes }

// MaxBatchBytes is the largest batch body accepted.
func (n *Node) MaxBatchBytes() int64 { return n.o.MaxBatchBytes }

// ReceiveBatch receives the envelopes of one batch (SPEC.md §6.5) from the
// mTLS-authenticated peer and returns one outcome per envelope, in order.
// Each envelope is checked alone, exactly as Receive checks it, and one
// that fails is refused alone; the others are stored (envelope, inbox row,
// receipt, and for a relay.forward what relaying it writes) in one
// transaction before ReceiveBatch returns, so that a batch costs one
// commit rather than one per envelope. The error is for the whole batch
// (no usable manifest, the database failed): then nothing of it was
// stored (FLX-BAT-004) and every envelope may be sent again.
func (n *Node) ReceiveBatch(ctx context.Context, peer string, raws [][]byte) ([]BatchItem, error) {
	start := time.Now()
	if err := n.o.Trust.Usable(); err != nil {
		return nil, problem.Wrap(problem.Unavailable, "this node holds no valid federation manifest", err)
	}
	out := make([]BatchItem, len(raws))
	envs := make([]*federation.Envelope, len(raws))
	var relays []*relayIn // made for the first relay.forward
	pre := n.verifyBatch(ctx, peer, raws)
	for i, raw := range raws {
		env, err := n.admit(ctx, peer, raw, &pre[i])
		if err != nil {
			out[i].Err = problem.As(err)
			continue
		}
		if env.Kind == federation.KindRelayForward {
			// Its chain (and inner envelope, for this member) checked
			// here; what relaying it writes goes in the batch's
			// transaction.
			in, err := n.prepareRelay(ctx, env)
			if err != nil {
				out[i].Err = problem.As(err)
				continue
			}
			if relays == nil {
				relays = make([]*relayIn, len(raws))
			}
			relays[i] = in
		}
		envs[i] = env
	}
	applied, err := n.storeAdmitted(ctx, raws, envs, relays, out)
	if err != nil {
		return nil, problem.Wrap(problem.Unavailable, "the batch could not be stored; send it again", err)
	}
	per := time.Since(start).Seconds() / float64(max(len(raws), 1))
	for _, it := range out {
		if it.Err != nil {
			n.metrics.refused.WithLabelValues(string(it.Err.Code)).Inc()
			continue
		}
		n.metrics.received.WithLabelValues(string(it.Kind), string(it.Status)).Inc()
		n.metrics.receiveSeconds.Observe(per)
	}
	n.log.Info("batch received", "iss", peer, "envelopes", len(raws), "applied", applied)
	return out, nil
}

// storeAdmitted stores the admitted envelopes, envs[i] for raws[i] (nil:
// refused or received already, out[i] says so), in one transaction, applying
// what it can there (receiveApplying), signs their receipts into out and
// returns how many were applied. relays[i] (relays may be nil) is set for
// a relay.forward: what relaying it writes (writeRelay) goes in the same
// transaction. The error is for them all (the database failed): nothing
// was stored. Receive passes a lone case.create or case.update here too,
// so that it is applied in the transaction that stores it rather than in
// another, the processor's, after it, and a lone relay.forward
// (receiveRelay).
func (n *Node) storeAdmitted(ctx context.Context, raws [][]byte, envs []*federation.Envelope, relays []*relayIn, out []BatchItem) (int, error) {
	type admitted struct {
		i     int
		env   *federation.Envelope // as answered (a relay.forward: the outer)
		relay *relayIn
		item  store.InboxItem
		// receipt is stored with the row: the receipt answered, but for
		// an inner envelope of this member the end-to-end one.
		receipt []byte
	}
	var ok []admitted
	upto := -1 // the first entry of a relay.forward: none from it on is applied here
	for i, env := range envs {
		if env == nil {
			continue
		}
		raw := raws[i]
		rc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())
		receipt, err := federation.SignReceipt(rc, n.signer())
		if err != nil {
			out[i].Err = internal("receive", err)
			continue
		}
		a := admitted{i: i, env: env, receipt: receipt, item: store.InboxItem{
			JTI: inboxKey(env.Issuer, env.JTI), Iss: env.Issuer, Aud: env.Audience, Kind: string(env.Kind),
			CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
		}}
		if relays != nil && relays[i] != nil {
			a.relay = relays[i]
			if upto < 0 {
				upto = len(ok)
			}
			if in := a.relay; in.inner {
				// Stored as its origin's, with the end-to-end receipt.
				inner := in.r.Envelope
				if a.receipt, err = federation.SignReceipt(federation.ReceiptFor(inner, federation.ReceiptAccepted, n.o.Now()), n.signer()); err != nil {
					out[i].Err = internal("receive", err)
					continue
				}
				a.item = store.InboxItem{
					JTI: inboxKey(inner.Issuer, inner.JTI), Iss: inner.Issuer, Aud: inner.Audience, Kind: string(inner.Kind),
					CaseID: inner.CaseID, SHA256: inner.SHA256(), Envelope: in.r.Inner, ReceivedAt: n.o.Now(),
				}
			}
		}
		out[i].Received = Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}
		ok = append(ok, a)
	}
	if upto < 0 {
		upto = len(ok)
	}
	// Rows are written in the order of the batch: their inbox ids, the
	// order they are processed in, keep the sender's per-case order (a
	// case.update after its case.create). Two batches sharing jtis (a batch
	// sent again while the first is still being stored) hold them in the
	// sender's order alike; were they not, PostgreSQL would end one of them
	// with a deadlock error, answered as retryable.
	order := make([]int, len(ok))
	for k := range order {
		order[k] = k
	}
	results := make([]store.ReceiveResult, len(ok))
	replays := make([]bool, len(ok))
	var applied []store.InboxItem // applied in the receiving transaction
	confirms := false
	if len(ok) > 0 {
		// One transaction, a few set-based statements (store.ReceiveAll).
		es := make([]store.ReceiveEntry, 0, len(order))
		for _, k := range order {
			a := ok[k]
			es = append(es, store.ReceiveEntry{Item: a.item, Receipt: store.Receipt{Status: string(federation.ReceiptAccepted), Raw: a.receipt}})
		}
		storeBatch := func(ctx context.Context, apply bool) error {
			return n.o.Store.Tx(ctx, func(tx store.Tx) error {
				applied, confirms = nil, false
				var got []store.ReceiveResult
				if apply {
					items, c, err := n.receiveApplying(ctx, tx, es, upto)
					if err != nil {
						return err
					}
					got, applied, confirms = items.got, items.applied, c
				}
				if got == nil {
					// Stored without applying: the processor applies them.
					var err error
					if got, err = tx.ReceiveAll(ctx, es); err != nil {
						return err
					}
				}
				for j, k := range order {
					results[k], replays[k] = got[j], got[j].Replay != nil
				}
				// What relaying writes, after the rows: a chain's records
				// and an end-to-end receipt stand or fall with the batch.
				for k, a := range ok {
					if a.relay != nil && !replays[k] {
						if err := n.writeRelay(ctx, tx, a.relay, a.receipt, results[k]); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
		err := storeBatch(ctx, true)
		var undone applyUndone
		if errors.As(err, &undone) {
			// Applying failed and took the transaction with it: the batch
			// is stored again, unprocessed, in a transaction of its own;
			// the processor applies the rows, or records what was wrong
			// with them (the receipt never depends on applying).
			n.log.Warn("applying a received batch failed; left to the processor", "err", undone.err)
			n.metrics.applyOnReceiveFailed.Inc()
			err = storeBatch(ctx, false)
		}
		if err != nil {
			if ctx.Err() == nil {
				n.writeFailed(err)
			}
			return 0, err
		}
		n.writeSucceeded()
		if h := n.metrics.stages.Load(); h != nil && h.Stored != nil {
			at := n.o.Now()
			for k, a := range ok {
				if !replays[k] && !results[k].Duplicate {
					h.Stored(a.item.JTI, at)
				}
			}
		}
	}
	stored := 0       // rows stored, to be processed or applied
	answered := false // an end-to-end receipt queued
	for k, a := range ok {
		it := &out[a.i]
		inner := a.relay != nil && a.relay.inner
		switch {
		case replays[k] && inner:
			env := a.relay.r.Envelope
			it.Received, it.Err = Received{}, errf(federation.CodeReplay, "jti %q was already received from %s with other content", env.JTI, env.Issuer)
		case replays[k]:
			it.Received, it.Err = Received{}, errf(federation.CodeReplay, "jti %q was already received with other content", a.env.JTI)
		case results[k].Duplicate:
			drc := federation.ReceiptFor(a.env, federation.ReceiptDuplicate, n.o.Now())
			dup, err := federation.SignReceipt(drc, n.signer())
			if err != nil {
				it.Received, it.Err = Received{}, internal("receive", err)
				continue
			}
			it.Receipt, it.Status, it.InboxID = dup, federation.ReceiptDuplicate, results[k].ID
		default:
			it.InboxID = results[k].ID
			stored++
		}
		if inner && it.Err == nil {
			answered = true
			env := a.relay.r.Envelope
			n.log.Info("relayed envelope received", "origin", env.Issuer, "via", a.env.Issuer, "jti", env.JTI, "kind", env.Kind, "status", it.Status)
		}
	}
	if answered {
		n.deliverer.Kick()
	}
	if len(applied) > 0 {
		n.metrics.processedBatch(len(applied))
		n.afterApplied(ctx, applied, confirms)
	}
	if stored > len(applied) {
		// The rows left to the processor: it reads their claims from the
		// memo (those applied here are never read again).
		done := make(map[int64]bool, len(applied))
		for _, it := range applied {
			done[it.ID] = true
		}
		for k, a := range ok {
			// A relay.forward's claims were remembered when it was
			// admitted (the outer's; an inner envelope's are read again).
			if a.relay == nil && !replays[k] && !results[k].Duplicate && !done[results[k].ID] {
				federation.Remember(a.env)
			}
		}
		signal(n.kick)
	}
	return len(applied), nil
}

// receiveApplying stores the entries in tx written as processed and
// applies them there (applyAll, as the processor would: same effects,
// marks, audit rows), when it can: the envelopes of case.create and
// case.update (applyOnReceive) of cases with no inbox row waiting to be
// processed, from the start of the batch up to the first that is not;
// that one and the rest of the batch are stored to be processed as
// before; so are the entries from upto on (a relay.forward's, which the
// processor handles, and those after it). got is nil when nothing was
// stored (nothing to apply): the caller stores the batch to be processed.
// When storing or applying fails (an error of a row, a conflict with
// another process, the database refusing a statement) err is an
// applyUndone: the transaction must be rolled back, and the caller stores
// the batch again, unprocessed, in a new one. No savepoint is taken: a batch that applies, nearly every
// one, costs no statements for the rare one that does not (two per batch
// before, and a subtransaction in PostgreSQL). Any other err is for the
// transaction.
func (n *Node) receiveApplying(ctx context.Context, tx store.Tx, es []store.ReceiveEntry, upto int) (r appliedBatch, confirms bool, err error) {
	if n.noApplyOnReceive.Load() {
		return r, false, nil
	}
	var ids []string
	for _, e := range es[:upto] {
		if e.Item.CaseID != "" && applyOnReceive[federation.Kind(e.Item.Kind)] {
			ids = append(ids, e.Item.CaseID)
		}
	}
	if len(ids) == 0 {
		return r, false, nil
	}
	// A case with a row waiting for the processor (an earlier envelope,
	// or one being processed now by another process) is left to it: the
	// processor applies rows in inbox order, which is the per-case order.
	// Which cases are held already is read in the same query, for
	// applyAll (one round trip, not one more there).
	states, err := tx.CaseStates(ctx, ids)
	if err != nil {
		return r, false, err
	}
	blocked := states.Unprocessed
	// The rows applied are the longest run from the start of the batch
	// that can be: the rows after one left to the processor are left
	// too, so that rows are applied, and audited, in the batch's order
	// (the inbox order the processor follows).
	mark := make([]store.ReceiveEntry, len(es))
	copy(mark, es)
	some := false
	for i, e := range es[:upto] {
		if e.Item.CaseID == "" || !applyOnReceive[federation.Kind(e.Item.Kind)] || blocked[e.Item.CaseID] {
			break
		}
		mark[i].Processed, some = true, true
	}
	if !some {
		return r, false, nil
	}
	got, err := tx.ReceiveAll(ctx, mark)
	if err != nil {
		return r, false, applyUndone{err}
	}
	var applied []store.InboxItem
	for i, e := range mark {
		if !e.Processed || got[i].Duplicate || got[i].Replay != nil {
			// A duplicate or replay wrote nothing: never applied twice.
			continue
		}
		it := e.Item
		it.ID = got[i].ID
		applied = append(applied, it)
	}
	if len(applied) > 0 {
		if confirms, err = n.applyAll(ctx, tx, applied, true, states.Held); err != nil {
			return r, false, applyUndone{err}
		}
	}
	return appliedBatch{got: got, applied: applied}, confirms, nil
}

// appliedBatch is what receiveApplying stored (got, one result per entry)
// and applied.
type appliedBatch struct {
	got     []store.ReceiveResult
	applied []store.InboxItem
}

// applyUndone is the failure of storing and applying a batch in the
// receiving transaction, which is then rolled back and the batch stored
// again without applying.
type applyUndone struct{ err error }

func (e applyUndone) Error() string { return "applying on receipt: " + e.err.Error() }
func (e applyUndone) Unwrap() error { return e.err }

// applyOnReceive are the kinds ReceiveBatch applies in the transaction
// that stores them: the volume of a crisis, whose effects stay within
// their case (a case, its versions, search keys and match-pending mark,
// the superseded envelopes of the case). The other kinds (a withdrawal
// erasing across tables and queueing a confirmation, relays, responses
// moving a status, queries) go to the processor as before.
var applyOnReceive = map[federation.Kind]bool{
	federation.KindCaseCreate: true,
	federation.KindCaseUpdate: true,
}
