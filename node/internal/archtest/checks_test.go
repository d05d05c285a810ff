package archtest

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChecksCatchViolations runs the checks on small fake trees under
// testdata: one that keeps every rule, and one a kind of violation, so that
// a check that stopped finding anything fails here.
func TestChecksCatchViolations(t *testing.T) {
	all := func(pkgs map[string]*pkg) []string {
		return slices.Concat(checkDirection(pkgs), checkRules(pkgs), checkSingleImporter(pkgs), checkDocs(pkgs))
	}
	const m = module + "/"
	for _, tc := range []struct {
		tree  string
		check func(map[string]*pkg) []string
		want  []string
	}{
		{"good", all, nil},
		{"direction", checkDirection, []string{
			"schema/x.go imports " + m + "node: schema must never import node",
			"federation/x_test.go imports " + m + "policy: federation must never import policy",
			"node/x.go imports " + m + "conformance: node must never import conformance",
			"node/x.go imports " + m + "node/internal/nodetest: production code must never import test support",
			"node/y.go imports " + m + "conformance/variant: node must never import conformance",
			"node/y.go imports " + m + "conformance/variant: production code must never import test support",
			"node/x_test.go imports the architecture test package",
			"package util is outside the fixed top-level layout (schema federation policy conformance deploy node)",
		}},
		{"rules", checkRules, []string{
			"deploy/compose/x_test.go imports " + m + "node/store: deploy packages and runs the flx binary, it does not link it: of FLX it may import deploy/... and node/config only (its test support also conformance/variant, which builds the binary)",
			"federation/jose/x_test.go imports " + m + "federation: jose must never import other FLX packages but federation/keyfile (its key files)",
			"federation/mtls/x.go imports golang.org/x/crypto/ocsp: mtls depends on the standard library only",
			"node/fedadmin/x.go imports " + m + "node/store: fedadmin works on files: of FLX it may import federation, federation/jose, federation/devca, federation/keyfile, policy and node/config only",
			"node/store/x_test.go imports " + m + "federation: the store's tests may add node/cputime (its benchmarks report CPU), nothing else of FLX",
			"node/stats/x.go imports " + m + "node/store: stats computes from documents handed in: of FLX it may import schema only (never node core, the store, httpapi, policy or federation)",
			"node/stats/x_test.go imports " + m + "federation: stats computes from documents handed in: of FLX it may import schema only (never node core, the store, httpapi, policy or federation)",
			"federation/bundle/x.go imports " + m + "federation/mtls: bundle carries signed bytes: of FLX it may import federation and federation/jose only",
			"node/x.go imports encoding/base64: federation owns JWS: the node core and delivery read envelopes with federation.ClaimsOf and never split or decode one themselves",
		}},
		{"readonly", func(pkgs map[string]*pkg) []string {
			return checkReadOnlyHTTP(filepath.Join("testdata", "readonly"), pkgs)
		}, []string{
			"node/httpapi/x.go names store.Store: the HTTP layer reads through store.View and changes data only through the node",
			"node/httpapi/x.go names store.Tx: the HTTP layer reads through store.View and changes data only through the node",
			"node/console/x.go names store.Outbox: the HTTP layer reads through store.View and changes data only through the node",
		}},
		{"single", checkSingleImporter, []string{
			"federation/x_test.go imports github.com/lestrrat-go/jwx/v2/jws, which only federation/jose may import",
			"node/httpapi/x.go imports github.com/santhosh-tekuri/jsonschema/v6, which only schema may import",
			"policy/x.go imports github.com/gorilla/mux, which only node/... may import",
		}},
		{"docs", checkDocs, []string{
			"package deploy/tool has no doc.go",
			`command node/cmd/flx: its comment must start with "Command flx "`,
			`package policy: the comment of doc.go must start with "Package policy "`,
			"package policy: the comment of doc.go must say what it must never import",
			"package schema has no doc.go",
		}},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			pkgs, err := load(filepath.Join("testdata", tc.tree))
			if err != nil {
				t.Fatal(err)
			}
			got := tc.check(pkgs)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("violations found:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}
