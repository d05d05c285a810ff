package node

import (
	"context"
)

// ReadCase is GetCase for a person: the read is written to the audit log
// (action case.read; whether the document was returned) before anything is
// returned, and refused if that record cannot be written. Without
// withDocument the view carries no document (auditors see metadata only).
// The local API and the console read cases through it.
func (n *Node) ReadCase(ctx context.Context, a Actor, caseID string, withDocument bool) (CaseView, error) {
	v, err := n.GetCase(ctx, caseID)
	if err != nil {
		return CaseView{}, err
	}
	if !withDocument || len(v.Document) == 0 {
		v.Document = nil
		v.Case.Document = nil
	}
	if err := n.audit(ctx, n.o.Store, a.Name, "case.read", caseID, map[string]any{"document": v.Document != nil}); err != nil {
		return CaseView{}, internal("audit read", err)
	}
	return v, nil
}
