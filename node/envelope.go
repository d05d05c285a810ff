package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

var b64 = base64.RawURLEncoding

func splitDots(raw []byte) [][]byte { return bytes.Split(raw, []byte{'.'}) }

// enqueue signs an envelope of kind about caseID for member to and queues
// it in tx. Retries re-send these exact bytes, so the receiver can tell a
// re-sent envelope from a new one.
func (n *Node) enqueue(ctx context.Context, tx store.Tx, to string, kind federation.Kind, caseID string, caseVersion int64, body []byte) (store.OutboxItem, error) {
	now := n.o.Now()
	jti := federation.NewJTI()
	raw, err := federation.Sign(federation.Claims{
		Issuer: n.o.Self, Audience: to, IssuedAt: now, ExpiresAt: now.Add(n.o.EnvelopeTTL),
		JTI: jti, Kind: kind, CaseID: caseID, Body: body,
	}, n.signer())
	if err != nil {
		return store.OutboxItem{}, fmt.Errorf("node: sign %s envelope: %w", kind, err)
	}
	item, err := tx.Enqueue(ctx, store.NewOutboxItem{
		Destination: to, CaseID: caseID, CaseVersion: caseVersion, Kind: string(kind), JTI: jti, Envelope: raw,
	})
	if err != nil {
		return store.OutboxItem{}, fmt.Errorf("node: enqueue: %w", err)
	}
	n.metrics.enqueued.WithLabelValues(string(kind)).Inc()
	return item, nil
}
