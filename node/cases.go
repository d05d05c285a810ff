package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Actor is who calls the local API: a token's name and role. Only the
// name goes to the audit log.
type Actor struct {
	Name string
	Role string
}

// CreateCase stores a new case of this Society. The document must conform
// to schema v1, name this member as origin and have consistent references.
// Its version is kept (a case imported from a caseworker system may already
// be at version 3).
func (n *Node) CreateCase(ctx context.Context, a Actor, doc []byte) (store.Case, error) {
	c, err := n.checkOwnCase(doc)
	if err != nil {
		return store.Case{}, err
	}
	var out store.Case
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.CreateCase(ctx, store.NewCase{ID: c.CaseID, Origin: n.o.Self, Type: string(c.Type), Status: string(c.Status), Version: int64(c.Version), Document: doc, SearchKeys: search.Keys(c)})
		if err != nil {
			return err
		}
		if err := n.markMatchPending(ctx, tx, store.PendingMatch{CaseID: out.ID, Version: out.Version}); err != nil {
			return err
		}
		return n.audit(ctx, tx, a.Name, "case.create", c.CaseID, map[string]any{"version": c.Version, "type": c.Type})
	})
	if errors.Is(err, store.ErrDuplicate) {
		return store.Case{}, errf(CodeConflict, "case %s already exists", c.CaseID)
	}
	if err != nil {
		return store.Case{}, internal("create case", err)
	}
	n.matchCase(ctx, c.CaseID, out.Version, doc)
	return out, nil
}

// UpdateCase stores a new version of one of this Society's cases. The
// document's version must be the current version + 1 (optimistic
// concurrency: two caseworkers editing the same version cannot both win).
func (n *Node) UpdateCase(ctx context.Context, a Actor, caseID string, doc []byte) (store.Case, error) {
	c, err := n.checkOwnCase(doc)
	if err != nil {
		return store.Case{}, err
	}
	if c.CaseID != caseID {
		return store.Case{}, errf(CodeBadRequest, "document case_id %q does not match the URL", c.CaseID)
	}
	var out store.Case
	var props []Propagation
	unchanged := false
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		// Locked first, as every send and the withdrawal do (LockCase).
		cur, err := tx.LockCase(ctx, caseID)
		if err != nil {
			return err
		}
		if !cur.Erased() && cur.Version == int64(c.Version)-1 && sameCaseContent(cur.Document, doc) {
			// Nothing changed: no new version, nothing sent. (A form
			// posted again at a stale version stays a conflict.)
			out, unchanged = cur, true
			return nil
		}
		out, err = tx.UpdateCase(ctx, store.CaseUpdate{
			ID: caseID, ExpectedVersion: int64(c.Version) - 1, Version: int64(c.Version),
			Type: string(c.Type), Status: string(c.Status), Document: doc, SearchKeys: search.Keys(c),
		})
		if err != nil {
			return err
		}
		if err := n.audit(ctx, tx, a.Name, "case.update", caseID, map[string]any{"version": c.Version}); err != nil {
			return err
		}
		if err := n.markMatchPending(ctx, tx, store.PendingMatch{CaseID: caseID, Version: out.Version}); err != nil {
			return err
		}
		// Every copy of an earlier version is corrected (or erased) in the
		// same transaction: a crash cannot leave a holder uncorrected.
		props, err = n.propagate(ctx, tx, a, caseID, out.Version, doc)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Case{}, errf(CodeNotFound, "no case %s", caseID)
	case errors.Is(err, store.ErrErased):
		return store.Case{}, errf(CodeErased, "case %s was erased", caseID)
	case errors.Is(err, store.ErrConflict):
		return store.Case{}, errf(CodeConflict, "case %s is not at version %d: read it again and re-apply the change", caseID, c.Version-1)
	case err != nil:
		return store.Case{}, internal("update case", err)
	}
	if unchanged {
		return out, nil
	}
	n.matchCase(ctx, caseID, out.Version, doc)
	if len(props) > 0 {
		to := make([]string, len(props))
		for i, p := range props {
			to[i] = p.To
		}
		n.deliverer.KickFor(to...)
		n.log.Info("update propagated", "case_id", caseID, "version", out.Version, "members", len(props))
	}
	return out, nil
}

func (n *Node) checkOwnCase(doc []byte) (*schema.Case, error) {
	// Validated through the policy engine's memo, so that the first
	// forward or propagation of these bytes does not validate them again.
	if err := n.o.Policy.Validate(string(schema.KindCase), doc); err != nil {
		return nil, schemaErr(err, "document does not conform to schema v1")
	}
	c, err := schema.DecodeValidatedCase(doc)
	if err != nil {
		return nil, internal("decode case", err)
	}
	if v := schema.CheckReferences(c); len(v) > 0 {
		return nil, &Error{Code: CodeSchemaInvalid, Msg: "document references are inconsistent", Errors: pointers(v)}
	}
	if c.Origin.Member != n.o.Self || originOf(c.CaseID) != n.o.Self {
		return nil, errf(CodeNotOrigin, "this node (%s) can only create and edit its own cases: case_id and origin.member must name it", n.o.Self)
	}
	return c, nil
}

// CaseView is a case with what happened to it.
type CaseView struct {
	Case       store.Case        `json:"-"`
	Document   json.RawMessage   `json:"document,omitempty"`
	Received   []store.InboxItem `json:"-"`
	Recipients []store.Recipient `json:"-"`
	Decisions  []store.Decision  `json:"-"`
}

// GetCase returns a case, the envelopes received about it, who received it
// from this node, and the policy decisions taken on it.
func (n *Node) GetCase(ctx context.Context, caseID string) (CaseView, error) {
	c, err := n.o.Store.GetCase(ctx, caseID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.NeverHeld()) {
		// The tombstone of a case withdrawn before it ever arrived is no
		// case of this node: it answers as it will once the tombstone is
		// purged (PurgeTombstones). The withdrawal is in the inbox.
		return CaseView{}, errf(CodeNotFound, "no case %s", caseID)
	}
	if err != nil {
		return CaseView{}, internal("get case", err)
	}
	v := CaseView{Case: c, Document: c.Document}
	if v.Received, err = n.o.Store.ListInbox(ctx, store.InboxFilter{CaseID: caseID, Limit: 1000, IncludeEnvelope: false}); err != nil {
		return CaseView{}, internal("case inbox", err)
	}
	if v.Recipients, err = n.o.Store.ListRecipients(ctx, caseID); err != nil {
		return CaseView{}, internal("case recipients", err)
	}
	if v.Decisions, err = n.o.Store.ListDecisions(ctx, caseID); err != nil {
		return CaseView{}, internal("case decisions", err)
	}
	return v, nil
}

// sameCaseContent reports whether two case documents say the same thing,
// apart from their version and updated_at: an update that changes nothing
// else makes no new version and sends nothing.
func sameCaseContent(a, b []byte) bool {
	if a == nil || b == nil {
		return false
	}
	var x, y map[string]any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	for _, k := range []string{"version", "updated_at"} {
		delete(x, k)
		delete(y, k)
	}
	return reflect.DeepEqual(x, y)
}
