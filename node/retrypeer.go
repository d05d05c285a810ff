package node

import (
	"context"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// RetryPeer is the operator's "retry now" for a peer that delivery rests
// after failures: its saved backoff is cleared, its queued rows are due
// now, and delivery tries it at once. It returns how many rows were
// waiting. Audited as outbox.retry_peer.
func (n *Node) RetryPeer(ctx context.Context, a Actor, member string) (int64, error) {
	if !federation.ValidMemberID(member) {
		return 0, errf(CodeNotFound, "no member %q", member)
	}
	var moved int64
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.SavePeerBackoff(ctx, store.PeerBackoff{Destination: member}); err != nil {
			return err
		}
		var err error
		if moved, err = tx.RetryDestination(ctx, member); err != nil {
			return err
		}
		return n.audit(ctx, tx, a.Name, "outbox.retry_peer", member, map[string]any{"rows": moved})
	})
	if err != nil {
		return 0, internal("retry peer", err)
	}
	n.deliverer.RetryNow(member)
	n.log.Info("peer retried now by the operator", "to", member, "rows", moved)
	return moved, nil
}
