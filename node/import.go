package node

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// MaxImportBatch bounds the cases of one ImportCases call (one transaction).
const MaxImportBatch = 1000

// ImportResult is the outcome of ImportCases: the case ids created and
// those that existed already (a re-run of an interrupted import), in the
// order given, the cases refused one by one (ImportOptions.SkipInvalid),
// and with a forward, what was sent where.
type ImportResult struct {
	Created  []string `json:"created"`
	Existing []string `json:"existing"`
	// Rejected has one entry per case refused alone (SkipInvalid): its
	// index in the batch, a stable code and the pointers into the case.
	Rejected []ImportRejection `json:"rejected,omitempty"`
	// Forwarded has one result per case forwarded (created, or existing
	// but not yet sent at its current version): queued, needs_review or
	// denied, with the policy decision; or, for a case refused alone by a
	// check before the policy's decision was recorded, the code of that
	// refusal (erased: withdrawn meanwhile; conflict: changed meanwhile).
	Forwarded []ImportForward `json:"forwarded,omitempty"`
}

// ImportRejection is one case of a batch that was not stored.
type ImportRejection struct {
	Index   int               `json:"index"`
	CaseID  string            `json:"case_id,omitempty"`
	Code    Code              `json:"code"`
	Message string            `json:"message"`
	Errors  []problem.Pointer `json:"errors,omitempty"` // pointers into the case document
}

// ImportForward is what forwarding one imported case did.
type ImportForward struct {
	CaseID     string   `json:"case_id"`
	State      string   `json:"state"`
	DecisionID int64    `json:"decision_id,omitempty"`
	OutboxID   int64    `json:"outbox_id,omitempty"`
	Rules      []string `json:"rules,omitempty"` // rules that fired, when not queued
}

// ImportOptions are the choices of one ImportCasesWith call.
type ImportOptions struct {
	// ForwardTo forwards each case of the batch to this member, with the
	// policy applied, unless its current version was sent there already.
	ForwardTo string
	// SkipInvalid refuses an invalid case alone (ImportResult.Rejected)
	// and stores the rest of the batch; without it one invalid case
	// refuses the whole batch (schema_invalid) and nothing is written.
	SkipInvalid bool
}

// ImportCases is ImportCasesWith without SkipInvalid: every document is
// checked first (schema v1, references, origin, ids unique in the batch)
// and, if any fails, nothing is written and the error is schema_invalid
// with one pointer per problem into the batch (/cases/<index>/...).
func (n *Node) ImportCases(ctx context.Context, a Actor, docs []json.RawMessage, forwardTo string) (ImportResult, error) {
	return n.ImportCasesWith(ctx, a, docs, ImportOptions{ForwardTo: forwardTo})
}

// ImportCasesWith creates a batch of this Society's cases at once. A
// document whose case_id names a case of this node that exists already is
// reported as existing without being validated again (nothing is written
// for it): re-running an interrupted import creates nothing twice and costs
// little. Every other document is checked once (schema v1, references,
// origin, ids unique in the batch); the valid ones are stored in one
// transaction with their versions, search keys, match marks and one audit
// record (case.import). A case that another writer creates between the
// check and the write is reported as existing, not overwritten.
func (n *Node) ImportCasesWith(ctx context.Context, a Actor, docs []json.RawMessage, o ImportOptions) (ImportResult, error) {
	if len(docs) == 0 || len(docs) > MaxImportBatch {
		return ImportResult{}, errf(CodeBadRequest, "a batch holds 1 to %d cases, not %d", MaxImportBatch, len(docs))
	}
	forwardTo := o.ForwardTo
	if forwardTo != "" {
		if _, _, err := n.destination(forwardTo); err != nil {
			return ImportResult{}, err
		}
	}
	held, ids, err := n.importHeld(ctx, docs)
	if err != nil {
		return ImportResult{}, err
	}
	// Checking and keying are the CPU of an import: spread over the cores.
	checked := make([]*schema.Case, len(docs))
	errs := make([]error, len(docs))
	keys := make([][]string, len(docs))
	onCores(len(docs), func(i int) {
		if held[i] {
			return
		}
		checked[i], errs[i] = n.checkOwnCase(docs[i])
		if errs[i] == nil {
			keys[i] = search.Keys(checked[i])
		}
	})
	var bad []problem.Pointer
	at := func(i int, p problem.Pointer) problem.Pointer {
		p.Pointer = fmt.Sprintf("/cases/%d%s", i, p.Pointer)
		return p
	}
	var res ImportResult
	refuse := func(i int, id string, err *Error) {
		if o.SkipInvalid {
			res.Rejected = append(res.Rejected, ImportRejection{Index: i, CaseID: id, Code: err.Code, Message: err.Msg, Errors: err.Errors})
			return
		}
		if len(err.Errors) == 0 {
			bad = append(bad, at(i, problem.Pointer{Pointer: "", Message: err.Msg}))
		}
		for _, p := range err.Errors {
			bad = append(bad, at(i, p))
		}
	}
	cases := make([]store.NewCase, 0, len(docs))
	casesParsed := make([]*schema.Case, 0, len(docs))
	accepted := make([]string, 0, len(docs)) // in the order given: held or to store
	seen := make(map[string]int, len(docs))
	for i, doc := range docs {
		id := ids[i]
		if !held[i] {
			if errs[i] != nil {
				refuse(i, id, problem.As(errs[i]))
				continue
			}
			id = checked[i].CaseID
		}
		if j, dup := seen[id]; dup {
			refuse(i, id, &Error{Code: CodeSchemaInvalid, Msg: "case_id given twice in the batch",
				Errors: []problem.Pointer{{Pointer: "/case_id", Message: fmt.Sprintf("case %s is also case %d of this batch", id, j)}}})
			continue
		}
		seen[id] = i
		accepted = append(accepted, id)
		if held[i] {
			continue
		}
		c := checked[i]
		cases = append(cases, store.NewCase{ID: c.CaseID, Origin: n.o.Self, Type: string(c.Type), Status: string(c.Status),
			Version: int64(c.Version), Document: doc, SearchKeys: keys[i]})
		casesParsed = append(casesParsed, c)
	}
	if len(bad) > 0 {
		return ImportResult{}, &Error{Code: CodeSchemaInvalid, Msg: fmt.Sprintf("%d of %d cases are not valid: nothing was imported", countCases(bad), len(docs)), Errors: bad}
	}
	created := map[string]bool{}
	err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
		br, err := tx.CreateCases(ctx, cases)
		if err != nil {
			return err
		}
		created = make(map[string]bool, len(br.Created))
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
		details := map[string]any{"created": len(br.Created), "existing": len(accepted) - len(br.Created), "cases": br.Created}
		if len(res.Rejected) > 0 {
			details["rejected"] = len(res.Rejected)
		}
		return n.audit(ctx, tx, a.Name, "case.import", "", details)
	})
	if err != nil {
		return ImportResult{}, internal("import cases", err)
	}
	res.Created, res.Existing = []string{}, []string{}
	for _, id := range accepted {
		if created[id] {
			res.Created = append(res.Created, id)
		} else {
			res.Existing = append(res.Existing, id)
		}
	}
	n.log.Info("cases imported", "created", len(res.Created), "existing", len(res.Existing), "rejected", len(res.Rejected))
	// Imported cases are matched as any other create is (candidates), in
	// one pass over the import.
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
	fwd, err := n.forwardBatch(ctx, a, accepted, created, forwardTo)
	res.Forwarded = fwd
	return res, err
}

// importHeld finds the documents of a batch whose case_id names a case of
// this node that is stored already, with one light read per document
// (schema.PeekCaseID) and one query: those need no validation, since
// nothing is written for them. ids holds each document's case_id as far as
// the light decode found one ("" otherwise).
func (n *Node) importHeld(ctx context.Context, docs []json.RawMessage) (held []bool, ids []string, err error) {
	held = make([]bool, len(docs))
	ids = make([]string, len(docs))
	var own []string
	for i, doc := range docs {
		ids[i] = schema.PeekCaseID(doc)
		if originOf(ids[i]) == n.o.Self {
			own = append(own, ids[i])
		}
	}
	if len(own) == 0 {
		return held, ids, nil
	}
	have, err := n.o.Store.CasesHeld(ctx, own)
	if err != nil {
		return nil, nil, internal("import: cases held", err)
	}
	for i, id := range ids {
		held[i] = have[id]
	}
	return held, ids, nil
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
