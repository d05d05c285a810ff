package policy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReasonsSayWhichRuleInWords: the reasons a caseworker reads name the
// minimisation list by whom and what it is for, never by a position in the
// rules file ("allow-list on line 156"), over every golden decision.
func TestReasonsSayWhichRuleInWords(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("golden decisions: %v", err)
	}
	lineRE := regexp.MustCompile(`\bline \d+`)
	minimise := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, `"reason"`) {
				continue
			}
			if lineRE.MatchString(l) {
				t.Errorf("%s: a reason cites a source position: %s", filepath.Base(f), strings.TrimSpace(l))
			}
			if strings.Contains(l, "Data minimisation") {
				minimise++
				if !strings.Contains(l, "rules' list for ") && !strings.Contains(l, "no list in the rules") {
					t.Errorf("%s: a minimisation reason does not say which list: %s", filepath.Base(f), strings.TrimSpace(l))
				}
			}
		}
	}
	if minimise == 0 {
		t.Fatal("no minimisation reason in the golden decisions")
	}
}
