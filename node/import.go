package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// MaxImportBatch bounds the cases of one ImportCases call (one transaction).
const MaxImportBatch = 1000

// ImportResult is the outcome of ImportCases: the case ids created and
// those that existed already (a re-run of an interrupted import), in the
// order given, and with a forward, what was sent where.
type ImportResult struct {
	Created  []string `json:"created"`
	Existing []string `json:"existing"`
	// Forwarded has one result per case forwarded (created, or existing
	// but not yet sent at its current version): queued, needs_review or
	// denied, with the policy decision.
	Forwarded []ImportForward `json:"forwarded,omitempty"`
}

// ImportForward is what forwarding one imported case did.
type ImportForward struct {
	CaseID     string   `json:"case_id"`
	State      string   `json:"state"`
	DecisionID int64    `json:"decision_id,omitempty"`
	OutboxID   int64    `json:"outbox_id,omitempty"`
	Rules      []string `json:"rules,omitempty"` // rules that fired, when not queued
}

// ImportCases creates a batch of this Society's cases at once: every
// document is checked first (schema v1, references, origin, ids unique in
// the batch) and, if any fails, nothing is written and the error is
// schema_invalid with one pointer per problem into the batch
// (/cases/<index>/...). Then all are stored in one transaction with their
// search keys and one audit record (case.import); a case whose id exists
// already is left as it is, so re-running an interrupted import creates
// nothing twice. With forwardTo, each case is then forwarded to that member
// with the policy applied, unless its current version was sent there
// already.
func (n *Node) ImportCases(ctx context.Context, a Actor, docs []json.RawMessage, forwardTo string) (ImportResult, error) {
	if len(docs) == 0 || len(docs) > MaxImportBatch {
		return ImportResult{}, errf(CodeBadRequest, "a batch holds 1 to %d cases, not %d", MaxImportBatch, len(docs))
	}
	if forwardTo != "" {
		if _, _, err := n.destination(forwardTo); err != nil {
			return ImportResult{}, err
		}
	}
	var bad []problem.Pointer
	at := func(i int, p problem.Pointer) problem.Pointer {
		p.Pointer = fmt.Sprintf("/cases/%d%s", i, p.Pointer)
		return p
	}
	// Checking and keying are the CPU of an import: spread over the cores.
	checked := make([]*schema.Case, len(docs))
	errs := make([]error, len(docs))
	keys := make([][]string, len(docs))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(docs))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(docs); i += workers {
				checked[i], errs[i] = n.checkOwnCase(docs[i])
				if errs[i] == nil {
					keys[i] = search.Keys(checked[i])
				}
			}
		}()
	}
	wg.Wait()
	cases := make([]store.NewCase, 0, len(docs))
	casesParsed := make([]*schema.Case, 0, len(docs))
	seen := make(map[string]int, len(docs))
	for i, doc := range docs {
		c, err := checked[i], errs[i]
		if err != nil {
			pe := problem.As(err)
			if len(pe.Errors) == 0 {
				bad = append(bad, at(i, problem.Pointer{Pointer: "", Message: pe.Msg}))
			}
			for _, p := range pe.Errors {
				bad = append(bad, at(i, p))
			}
			continue
		}
		if j, dup := seen[c.CaseID]; dup {
			bad = append(bad, at(i, problem.Pointer{Pointer: "/case_id", Message: fmt.Sprintf("case %s is also case %d of this batch", c.CaseID, j)}))
			continue
		}
		seen[c.CaseID] = i
		cases = append(cases, store.NewCase{ID: c.CaseID, Origin: n.o.Self, Type: string(c.Type), Status: string(c.Status),
			Version: int64(c.Version), Document: doc, SearchKeys: keys[i]})
		casesParsed = append(casesParsed, c)
	}
	if len(bad) > 0 {
		return ImportResult{}, &Error{Code: CodeSchemaInvalid, Msg: fmt.Sprintf("%d of %d cases are not valid: nothing was imported", countCases(bad), len(docs)), Errors: bad}
	}
	var res ImportResult
	err := n.o.Store.Tx(ctx, func(tx store.Tx) error {
		br, err := tx.CreateCases(ctx, cases)
		if err != nil {
			return err
		}
		res.Created, res.Existing = br.Created, br.Existing
		created := make(map[string]bool, len(br.Created))
		for _, id := range br.Created {
			created[id] = true
		}
		var marks []store.PendingMatch
		for _, c := range cases {
			if created[c.ID] {
				marks = append(marks, store.PendingMatch{CaseID: c.ID, Version: c.Version})
			}
		}
		if err := n.markMatchPending(ctx, tx, marks...); err != nil {
			return err
		}
		return n.audit(ctx, tx, a.Name, "case.import", "", map[string]any{"created": len(br.Created), "existing": len(br.Existing), "cases": br.Created})
	})
	if err != nil {
		return ImportResult{}, internal("import cases", err)
	}
	if res.Created == nil {
		res.Created = []string{}
	}
	if res.Existing == nil {
		res.Existing = []string{}
	}
	n.log.Info("cases imported", "created", len(res.Created), "existing", len(res.Existing))
	// Imported cases are matched as any other create is (candidates), in
	// one pass over the import.
	created := make(map[string]bool, len(res.Created))
	for _, id := range res.Created {
		created[id] = true
	}
	fresh := make([]store.NewCase, 0, len(res.Created))
	parsed := make([]*schema.Case, 0, len(res.Created))
	for i, c := range cases {
		if created[c.ID] {
			fresh = append(fresh, c)
			parsed = append(parsed, casesParsed[i])
		}
	}
	n.matchImported(ctx, fresh, parsed)
	if forwardTo == "" {
		return res, nil
	}
	for _, c := range cases {
		sent, err := n.sentAtVersion(ctx, c.ID, forwardTo)
		if err != nil {
			return res, err
		}
		if sent {
			continue
		}
		r, err := n.Forward(ctx, a, c.ID, forwardTo)
		if err != nil && problem.As(err).Code != CodePolicyDenied {
			return res, err
		}
		f := ImportForward{CaseID: c.ID, State: r.State, DecisionID: r.DecisionID, OutboxID: r.OutboxID}
		if r.State != "queued" {
			for _, fr := range r.Decision.Fired {
				f.Rules = append(f.Rules, fr.RuleID)
			}
		}
		res.Forwarded = append(res.Forwarded, f)
	}
	return res, nil
}

// countCases counts the distinct cases the pointers name.
func countCases(ps []problem.Pointer) int {
	seen := map[string]bool{}
	for _, p := range ps {
		var i int
		if _, err := fmt.Sscanf(p.Pointer, "/cases/%d", &i); err == nil {
			seen[fmt.Sprint(i)] = true
		}
	}
	return len(seen)
}

// sentAtVersion reports whether the current version of a case was queued
// for member already (and not cancelled): forwarding it again would send
// the same thing twice.
func (n *Node) sentAtVersion(ctx context.Context, caseID, member string) (bool, error) {
	c, err := n.o.Store.GetCase(ctx, caseID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, internal("get case", err)
	}
	rows, err := n.o.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Destination: member, Limit: 1000})
	if err != nil {
		return false, internal("list outbox", err)
	}
	for _, r := range rows {
		k := federation.Kind(r.Kind)
		if (k == federation.KindCaseCreate || k == federation.KindCaseUpdate) && r.CaseVersion == c.Version && r.State != store.Cancelled {
			return true, nil
		}
	}
	return false, nil
}
