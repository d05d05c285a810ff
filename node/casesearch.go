package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// CaseSearch is a search for cases: what to find (names in any script,
// free text, places, birth dates and ages) and the filters, order and page.
type CaseSearch struct {
	search.Query
	Status []string // any of these statuses
	Type   []string // any of these case types
	Member string   // the origin member
	Sort   string   // -updated_at (default), updated_at, -created_at, created_at, case_id
	Cursor string
	Limit  int
}

var (
	validStatuses = []string{"open", "transmitted", "acknowledged", "tracing_in_progress", "located_pending_consent",
		"located_contact_restored", "located_declined_contact", "deceased", "reunified", "closed_negative", "closed_withdrawn"}
	validTypes = []string{"tracing_request", "detention_notification", "unaccompanied_minor_registration", "death_notification",
		"reunification_request", "fate_clarification", "safe_and_well"}
)

// paramErr is a bad_request naming the query parameter.
func paramErr(param, format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Msg: "query parameter " + param + ": " + fmt.Sprintf(format, args...)}
}

// SearchCases finds cases through the search index: every criterion set
// must hold. The search is audited (case.search) with the names of the
// criteria used, never their values.
func (n *Node) SearchCases(ctx context.Context, a Actor, q CaseSearch) (store.CasePage, error) {
	c, err := q.Compile(n.o.Now())
	var pe *search.ParamError
	if errors.As(err, &pe) {
		return store.CasePage{}, paramErr(pe.Param, "%s", pe.Msg)
	}
	if err != nil {
		return store.CasePage{}, internal("compile search", err)
	}
	for _, s := range q.Status {
		if !contains(validStatuses, s) {
			return store.CasePage{}, paramErr("status", "%q is not a case status (%s)", s, strings.Join(validStatuses, ", "))
		}
	}
	for _, s := range q.Type {
		if !contains(validTypes, s) {
			return store.CasePage{}, paramErr("type", "%q is not a case type (%s)", s, strings.Join(validTypes, ", "))
		}
	}
	if q.Member != "" && !federation.ValidMemberID(q.Member) {
		return store.CasePage{}, paramErr("origin", "%q is not a member id", q.Member)
	}
	sort := store.CaseSort(q.Sort)
	if q.Sort != "" && !contains(store.Sorts, sort) {
		names := make([]string, len(store.Sorts))
		for i, s := range store.Sorts {
			names[i] = string(s)
		}
		return store.CasePage{}, paramErr("sort", "must be one of %s", strings.Join(names, ", "))
	}
	sq := store.CaseQuery{AllOf: c.Groups, Status: q.Status, Type: q.Type, Origin: q.Member, Sort: sort, Cursor: q.Cursor, Limit: q.Limit}
	for _, r := range c.Ranges {
		sq.Ranges = append(sq.Ranges, store.KeyRange{From: r[0], To: r[1]})
	}
	page, err := n.o.Store.SearchCases(ctx, sq)
	if errors.Is(err, store.ErrInvalid) {
		return store.CasePage{}, paramErr("cursor", "not a cursor of this search's order")
	}
	if err != nil {
		return store.CasePage{}, internal("search cases", err)
	}
	var used []string
	for _, u := range []struct {
		name string
		set  bool
	}{{"name", q.Name != ""}, {"q", q.Text != ""}, {"place", q.Place != ""}, {"born", q.Born != ""},
		{"born_range", q.BornFrom != 0 || q.BornTo != 0}, {"age", q.AgeMin != nil || q.AgeMax != nil},
		{"status", len(q.Status) > 0}, {"type", len(q.Type) > 0}, {"origin", q.Member != ""}} {
		if u.set {
			used = append(used, u.name)
		}
	}
	if err := n.audit(ctx, n.o.Store, a.Name, "case.search", "", map[string]any{"criteria": used, "results": len(page.Cases)}); err != nil {
		return store.CasePage{}, internal("audit search", err)
	}
	return page, nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// RebuildSearchIndex recomputes the search keys of every case that is not
// erased when the index was built with other key rules (search.Version),
// or always when force is set. It returns how many cases it indexed.
func (n *Node) RebuildSearchIndex(ctx context.Context, force bool) (int, error) {
	v, err := n.o.Store.SearchIndexVersion(ctx)
	if err != nil {
		return 0, err
	}
	if v == search.Version && !force {
		return 0, nil
	}
	count, cursor := 0, ""
	for {
		page, err := n.o.Store.ListCases(ctx, store.CaseFilter{IncludeDocuments: true, Cursor: cursor, Limit: 500})
		if err != nil {
			return count, err
		}
		for _, c := range page.Cases {
			doc, err := schema.ParseCase(c.Document)
			if err != nil {
				continue // kept as received; not searchable
			}
			err = n.o.Store.ReplaceSearchKeys(ctx, c.ID, search.Keys(doc))
			if err != nil && !errors.Is(err, store.ErrErased) && !errors.Is(err, store.ErrNotFound) {
				return count, err
			}
			count++
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	return count, n.o.Store.SetSearchIndexVersion(ctx, search.Version)
}

// ValidStatus reports whether s is a case status of schema v1.
func ValidStatus(s string) bool { return contains(validStatuses, s) }

// ValidType reports whether s is a case type of schema v1.
func ValidType(s string) bool { return contains(validTypes, s) }
