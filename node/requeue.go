package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/familylinks/flx/node/store"
)

// Requeue puts a dead-lettered outbox row back in the queue, due now with
// its attempts reset, and audits it in the same transaction. The envelope
// is re-sent byte for byte (same jti), so a receiver that did get it
// answers duplicate; one whose exp has passed meanwhile (or is within the
// clock skew) is re-signed with a new jti on its next attempt
// (renewExpiring). CodeConflict unless the row is dead; CodeErased if its
// case was erased meanwhile.
func (n *Node) Requeue(ctx context.Context, a Actor, outboxID int64) (store.OutboxItem, error) {
	var out store.OutboxItem
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.Requeue(ctx, outboxID); err != nil {
			return err
		}
		it, err := tx.GetOutbox(ctx, outboxID)
		if err != nil {
			return err
		}
		it.Envelope, it.Receipt = nil, nil
		out = it
		return n.audit(ctx, tx, a.Name, "outbox.requeue", strconv.FormatInt(outboxID, 10),
			map[string]any{"destination": it.Destination, "case_id": it.CaseID, "kind": it.Kind, "jti": it.JTI})
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.OutboxItem{}, errf(CodeNotFound, "no outbox row %d", outboxID)
	case errors.Is(err, store.ErrErased):
		return store.OutboxItem{}, errf(CodeErased, "outbox row %d carried an erased case", outboxID)
	case errors.Is(err, store.ErrConflict):
		return store.OutboxItem{}, errf(CodeConflict, "outbox row %d is not dead: only dead rows can be requeued", outboxID)
	case err != nil:
		return store.OutboxItem{}, internal("requeue", err)
	}
	n.deliverer.Kick()
	n.log.Info("outbox row requeued", "outbox_id", outboxID, "to", out.Destination)
	return out, nil
}
