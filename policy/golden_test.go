package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

var update = flag.Bool("update", false, "rewrite the golden decisions in testdata/golden")

// goldenDestinations: a National Society, the ICRC Central Tracing Agency,
// a recipient outside the Movement, and a Society in XD, the country the
// examples' people fear (party to the conflict).
var goldenDestinations = []Destination{dstXB, dstCTA, dstAuth, dstXD}

// TestGoldenDecisions evaluates every schema example against the sample
// rules for each golden destination and compares the decision (and the
// document that would leave) with testdata/golden/<example>__<member>.json.
// Run `go test ./policy/ -run TestGoldenDecisions -update` after a
// deliberate change and review the diff.
func TestGoldenDecisions(t *testing.T) {
	e := New(sampleRules(t))
	want := map[string]bool{}
	for _, ex := range schema.Examples() {
		for _, dst := range goldenDestinations {
			name := ex.Name + "__" + dst.Member + ".json"
			want[name] = true
			t.Run(name, func(t *testing.T) {
				d, out := e.Apply(context.Background(), ex.Doc, envelopeFor(ex), dst, testNow, facts(ex.Doc)...)
				if d.Error != "" {
					t.Errorf("evaluation error: %s", d.Error)
				}
				if out != nil {
					if err := schema.Validate(ex.Kind, out); err != nil {
						t.Fatalf("output does not validate: %v", err)
					}
				}
				got := goldenJSON(t, d, out)
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				wantB, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if !bytes.Equal(got, wantB) {
					t.Errorf("decision differs from %s (run with -update and review the diff):\n%s", path, got)
				}
			})
		}
	}
	files, _ := filepath.Glob("testdata/golden/*.json")
	for _, f := range files {
		if !want[filepath.Base(f)] {
			if *update {
				os.Remove(f)
				continue
			}
			t.Errorf("stale golden file %s (no such example any more; run with -update)", f)
		}
	}
}

// goldenJSON renders the decision without the policy hash (which changes
// with every comment in the sample file; TestSampleRules covers it).
func goldenJSON(t *testing.T, d Decision, out []byte) []byte {
	t.Helper()
	d.PolicyHash = strings.Repeat("-", 8)
	g := struct {
		Decision Decision        `json:"decision"`
		Document json.RawMessage `json:"document"`
	}{Decision: d, Document: json.RawMessage("null")}
	if out != nil {
		g.Document = out
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
