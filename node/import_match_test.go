package node_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// TestImportedCasesAreMatched: a case made by a bulk import is matched as
// any other create is, and importing it again adds nothing.
func TestImportedCasesAreMatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, DSN: nodetest.DSN(t, nodetest.SQLite)})
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	detainee := person("d1", schema.PersonDetainee, "1990", name("Կարո", "given", "Armn"), name("Հովսամփելյան", "family", "Armn"))
	docs := []json.RawMessage{
		caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought),
		caseOf(t, "XA-RC:DN-1", schema.CaseDetentionNotification, 1, detainee),
	}
	for round := range 2 {
		res, err := xa.ImportCases(ctx, cw, docs, "")
		if err != nil {
			t.Fatalf("import %d: %v", round, err)
		}
		if want := 2 - 2*round; len(res.Created) != want {
			t.Fatalf("import %d created %v, want %d", round, res.Created, want)
		}
		got := openMatches(t, xa.View())
		if len(got) != 1 || got[0].ACase != "XA-RC:TR-1" || got[0].BCase != "XA-RC:DN-1" {
			t.Fatalf("candidates after import %d: %+v", round, got)
		}
	}
}
