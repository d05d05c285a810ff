package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// retentionActor is who the audit log names for retention erasures.
const retentionActor = "system:retention"

// RetentionResult counts what a sweep did.
type RetentionResult struct {
	Withdrawn int `json:"withdrawn"` // own cases withdrawn: erased here, recipients asked to erase
	Erased    int `json:"erased"`    // received cases erased here
	Failed    int `json:"failed"`    // cases that could not be handled (logged; retried next sweep)
}

// SweepRetention enforces retention_until: past that day only a
// placeholder may remain. This Society's own cases are withdrawn with
// reason retention_expired, so every member that received them erases
// too; cases received from others are erased here (their origin sweeps
// its own). Cases without a retention date are kept.
func (n *Node) SweepRetention(ctx context.Context) (RetentionResult, error) {
	var res RetentionResult
	today := n.o.Now().UTC().Truncate(24 * time.Hour)
	cursor := ""
	for {
		page, err := n.o.Store.ListCases(ctx, store.CaseFilter{IncludeDocuments: true, Cursor: cursor, Limit: 200})
		if err != nil {
			return res, fmt.Errorf("node.SweepRetention: %w", err)
		}
		for _, c := range page.Cases {
			if c.Erased() || c.Document == nil || !expired(c.Document, today) {
				continue
			}
			if err := n.expire(ctx, c); err != nil {
				res.Failed++
				n.log.Error("retention erasure failed", "case_id", c.ID, "err", err)
				continue
			}
			if c.Origin == n.o.Self {
				res.Withdrawn++
			} else {
				res.Erased++
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if res.Withdrawn+res.Erased > 0 {
		n.log.Info("retention sweep", "withdrawn", res.Withdrawn, "erased", res.Erased, "failed", res.Failed)
	}
	return res, nil
}

// expired reports whether the case's retention_until is before today.
func expired(doc []byte, today time.Time) bool {
	var head struct {
		RetentionUntil schema.Date `json:"retention_until"`
	}
	if json.Unmarshal(doc, &head) != nil || head.RetentionUntil == "" {
		return false
	}
	until, err := head.RetentionUntil.Time()
	return err == nil && until.Before(today)
}

func (n *Node) expire(ctx context.Context, c store.Case) error {
	if c.Origin == n.o.Self {
		_, err := n.Withdraw(ctx, Actor{Name: retentionActor, Role: "system"}, c.ID, schema.WithdrawalReason("retention_expired"))
		var ne *Error
		if errors.As(err, &ne) && ne.Code == CodeErased {
			return nil
		}
		return err
	}
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		r, err := tx.EraseCase(ctx, c.ID, store.Erasure{Reason: "retention_expired", At: n.o.Now()})
		if err != nil {
			return err
		}
		if err := n.eraseCaseMedia(ctx, tx, retentionActor, c.ID); err != nil {
			return err
		}
		return n.audit(ctx, tx, retentionActor, "case.erase", c.ID, map[string]any{"reason": "retention_expired", "versions": r.Versions, "inbox_envelopes": r.InboxEnvelopes})
	})
	if err == nil {
		n.unmatchCase(c.ID)
	}
	return err
}

// TombstoneKeep is how long the tombstone of a case never held here
// (store.Case.NeverHeld) is kept: as long as a create or update of the
// case signed before its origin withdrew it can still be accepted here.
// Its origin signs nothing of the case after the withdrawal commits and
// cancels what it had not sent (FLX-WDR-007), so such an envelope was
// signed before then, at most Skew after the tombstone by this node's
// clock. It is accepted until its exp plus Skew, exp at most
// federation.DefaultMaxTTL after it was signed (the verifier's bound, the
// same over a relay: a relay cannot extend the inner exp, and pull hands
// out nothing expiring before its lease ends). In a carried bundle it is
// checked at the bundle's iat, which may be Skew past its exp, and the
// bundle is imported until its exp plus Skew, at most bundle.MaxTTL after
// its iat. Hence DefaultMaxTTL + bundle.MaxTTL + 4 Skew (97 days and 4
// minutes with the defaults). A late envelope stored before then and
// still unprocessed keeps its tombstone too (store.PurgeTombstones).
func (n *Node) TombstoneKeep() time.Duration {
	return federation.DefaultMaxTTL + bundle.MaxTTL + 4*n.o.Skew
}

// PurgeTombstones deletes the tombstones of cases never held here once
// TombstoneKeep has passed. Tombstones of cases held here are the case's
// record (status, erasure, confirmations) and stay. A withdrawal sent
// again after the purge is a duplicate (its replay record stays, FLX-WDR-004)
// or, sent anew, leaves a new tombstone.
func (n *Node) PurgeTombstones(ctx context.Context) (int64, error) {
	purged, err := n.o.Store.PurgeTombstones(ctx, n.o.Now().Add(-n.TombstoneKeep()))
	if err != nil {
		return 0, fmt.Errorf("node.PurgeTombstones: %w", err)
	}
	if purged > 0 {
		n.log.Info("tombstones purged", "count", purged, "kept", n.TombstoneKeep().String())
	}
	return purged, nil
}

// runRetention sweeps at start and then every interval until ctx ends,
// the media's housekeeping (SweepMedia) after each retention sweep, then
// the tombstones' (PurgeTombstones) and the expired bundle replay records
// (PurgeBundles).
func (n *Node) runRetention(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := n.SweepRetention(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("retention sweep failed", "err", err)
		}
		if _, err := n.SweepMedia(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("media sweep failed", "err", err)
		}
		if _, err := n.PurgeTombstones(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("tombstone purge failed", "err", err)
		}
		if _, err := n.PurgeBundles(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("bundle replay record purge failed", "err", err)
		}
		// What this member finished carrying for others as a relay.
		if _, err := n.o.Store.DropCarried(ctx, ""); err != nil && ctx.Err() == nil {
			n.log.Error("dropping carried relay envelopes failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
