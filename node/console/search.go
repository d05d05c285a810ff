package console

import (
	"strings"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/search"
	"github.com/familylinks/flx/node/store"
)

// listOrSearch lists the cases of filter f or, when the search box holds a
// name, finds them through the node's search (names in any script and
// transliteration; audited as case.search). Auditors see case metadata
// only: a search by person is not theirs (as in the local API), so their
// box is not shown and a name they type is ignored.
func (c *Console) listOrSearch(q *req, f store.CaseFilter) (store.CasePage, string, error) {
	name := strings.TrimSpace(q.URL.Query().Get("name"))
	if len(name) > 200 {
		name = name[:200]
	}
	if name == "" || q.role() == RoleAuditor {
		page, err := c.o.Backend.ListCases(q.Context(), q.actor(), f)
		return page, "", err
	}
	s := node.CaseSearch{Query: search.Query{Name: name}, Member: f.Origin, Cursor: f.Cursor, Limit: f.Limit}
	if f.Status != "" {
		s.Status = []string{f.Status}
	}
	if f.Type != "" {
		s.Type = []string{f.Type}
	}
	page, err := c.o.Backend.SearchCases(q.Context(), q.actor(), s)
	return page, name, err
}
