package node

import (
	"context"
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
// receipt) in one transaction before ReceiveBatch returns, so that a batch
// costs one commit rather than one per envelope. The error is for the
// whole batch (no usable manifest, the database failed): then nothing of
// it was stored and every envelope may be sent again.
func (n *Node) ReceiveBatch(ctx context.Context, peer string, raws [][]byte) ([]BatchItem, error) {
	start := time.Now()
	if err := n.o.Trust.Usable(); err != nil {
		return nil, problem.Wrap(problem.Unavailable, "this node holds no valid federation manifest", err)
	}
	out := make([]BatchItem, len(raws))
	type admitted struct {
		i    int
		env  *federation.Envelope
		item store.InboxItem
	}
	var ok []admitted
	for i, raw := range raws {
		env, err := n.admit(ctx, peer, raw)
		if err != nil {
			out[i].Err = problem.As(err)
			continue
		}
		if env.Kind == federation.KindRelayForward {
			// A relay envelope is received alone: its inner envelope is
			// checked and stored, or relayed on, by receiveRelay.
			r, err := n.receiveRelay(ctx, raw, env)
			if err != nil {
				out[i].Err = problem.As(err)
				continue
			}
			out[i].Received = r
			continue
		}
		rc := federation.ReceiptFor(env, federation.ReceiptAccepted, n.o.Now())
		receipt, err := federation.SignReceipt(rc, n.signer())
		if err != nil {
			out[i].Err = internal("receive", err)
			continue
		}
		out[i].Received = Received{Receipt: receipt, Status: federation.ReceiptAccepted, JTI: env.JTI, Kind: env.Kind}
		ok = append(ok, admitted{i: i, env: env, item: store.InboxItem{
			JTI: inboxKey(env.Issuer, env.JTI), Iss: env.Issuer, Aud: env.Audience, Kind: string(env.Kind),
			CaseID: env.CaseID, SHA256: env.SHA256(), Envelope: raw, ReceivedAt: n.o.Now(),
		}})
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
	if len(ok) > 0 {
		// One transaction, a few set-based statements (store.ReceiveAll).
		es := make([]store.ReceiveEntry, 0, len(order))
		err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
			for _, k := range order {
				a := ok[k]
				es = append(es, store.ReceiveEntry{Item: a.item, Receipt: store.Receipt{Status: string(federation.ReceiptAccepted), Raw: out[a.i].Receipt}})
			}
			got, err := tx.ReceiveAll(ctx, es)
			if err != nil {
				return err
			}
			for j, k := range order {
				results[k], replays[k] = got[j], got[j].Replay != nil
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				n.writeFailed(err)
			}
			return nil, problem.Wrap(problem.Unavailable, "the batch could not be stored; send it again", err)
		}
		n.writeSucceeded()
	}
	stored := false
	for k, a := range ok {
		it := &out[a.i]
		switch {
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
			stored = true
		}
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
	n.log.Info("batch received", "iss", peer, "envelopes", len(raws), "admitted", len(ok))
	if stored {
		signal(n.kick)
	}
	return out, nil
}
