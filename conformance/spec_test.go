package conformance

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation/problem"
)

// TestSpecIndexMatchesChecks keeps SPEC.md and the registry in step: every
// requirement the index marks as checked has a registered check, every
// check names requirements that exist, the index lists every requirement
// defined in the text and nothing else, and the counts line is right.
func TestSpecIndexMatchesChecks(t *testing.T) {
	reqs := Requirements()
	if len(reqs) < 80 {
		t.Fatalf("parsed %d requirements from SPEC.md Appendix A", len(reqs))
	}
	index := map[string]Requirement{}
	for _, r := range reqs {
		if _, dup := index[r.ID]; dup {
			t.Errorf("%s listed twice in the index", r.ID)
		}
		index[r.ID] = r
	}
	covered := map[string]bool{}
	ids := map[string]bool{}
	for _, c := range Checks() {
		if ids[c.ID] {
			t.Errorf("check %s registered twice", c.ID)
		}
		ids[c.ID] = true
		if len(c.Requirements) == 0 || !strings.HasPrefix(c.ID, c.Requirements[0]+"/") {
			t.Errorf("check %s: its id must start with its first requirement", c.ID)
		}
		for _, r := range c.Requirements {
			req, ok := index[r]
			if !ok {
				t.Errorf("check %s names %s, which SPEC.md does not define", c.ID, r)
				continue
			}
			if !req.IsChecked() {
				t.Errorf("check %s covers %s, but the index says %q: mark it checked", c.ID, r, req.Checked)
			}
			covered[r] = true
		}
		if c.Mode == ModeOutbound || c.Mode == ModeSlow || c.Mode == ModeManifest {
			for _, r := range c.Requirements {
				if q := index[r]; q.IsChecked() && !strings.Contains(q.Checked, string(c.Mode)) && !strings.HasPrefix(q.Checked, "yes") {
					t.Errorf("check %s is %s but the index marks %s as %q", c.ID, c.Mode, r, q.Checked)
				}
			}
		}
	}
	for _, r := range reqs {
		if r.IsChecked() && !covered[r.ID] {
			t.Errorf("SPEC.md marks %s as checked (%q) but no check covers it", r.ID, r.Checked)
		}
	}

	// Every requirement defined in the text is in the index, and back.
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\*\*(FLX-[A-Z]+-\d{3})\*\*`).FindAllStringSubmatch(string(specMD), -1) {
		if defined[m[1]] {
			t.Errorf("%s defined twice", m[1])
		}
		defined[m[1]] = true
		if _, ok := index[m[1]]; !ok {
			t.Errorf("%s is defined in the text but missing from Appendix A", m[1])
		}
	}
	for id := range index {
		if !defined[id] {
			t.Errorf("%s is in Appendix A but not defined in the text", id)
		}
	}

	// The embedded copy is the file on disk.
	disk, err := os.ReadFile("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(disk) != string(specMD) {
		t.Error("embedded SPEC.md differs from the file (rebuild)")
	}
}

// TestSpecCodeTablesMatchProblemTable keeps SPEC.md's code tables (§8.2 and
// those the later sections add to it) and the one code table
// (federation/problem) in step: every code the spec lists has the spec's
// status there, and every code the table marks as answered on the
// federation listener (federation API, media transfer) is in the spec.
func TestSpecCodeTablesMatchProblemTable(t *testing.T) {
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|").FindAllStringSubmatch(string(specMD), -1)
	if len(rows) < 19 {
		t.Fatalf("parsed %d code rows from SPEC.md", len(rows))
	}
	inSpec := map[problem.Code]bool{}
	for _, r := range rows {
		c := problem.Code(r[1])
		if inSpec[c] {
			t.Errorf("SPEC.md lists code %s twice", c)
		}
		inSpec[c] = true
		if _, ok := problem.Lookup(c); !ok {
			t.Errorf("SPEC.md code %s is not in federation/problem's table", c)
			continue
		}
		if got := strconv.Itoa(c.HTTPStatus()); got != r[2] {
			t.Errorf("%s: SPEC.md says %s, the table %s", c, r[2], got)
		}
	}
	for _, c := range problem.Codes() {
		d, _ := problem.Lookup(c)
		onListener := d.API == problem.Federation || d.API == problem.Media || c == problem.SchemaInvalid || c == problem.TooLarge
		if onListener && !inSpec[c] {
			t.Errorf("code %s is answered on the federation listener but in no code table of SPEC.md", c)
		}
	}
}

// TestUncheckedRequirementsExplained: every requirement of Appendix A,
// whatever its level, is either checked by a registered check (the index
// test above holds the two in step) or not checked for a stated reason:
// its row says "no: <reason>" and §13.5's table of requirements not
// checked from outside gives the reason in full. The table names only
// requirements that are indeed not checked.
func TestUncheckedRequirementsExplained(t *testing.T) {
	const head = "| requirement | why it is not checked from outside |"
	_, rest, ok := strings.Cut(string(specMD), head)
	if !ok {
		t.Fatalf("SPEC.md §13.5 has no table %q", head)
	}
	reasons := map[string]string{}
	for _, line := range strings.Split(rest, "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 2 {
			t.Errorf("§13.5 row %q: want two cells", line)
			continue
		}
		id, why := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if _, dup := reasons[id]; dup {
			t.Errorf("§13.5 lists %s twice", id)
		}
		reasons[id] = why
	}
	index := map[string]Requirement{}
	unchecked := 0
	for _, r := range Requirements() {
		index[r.ID] = r
		if r.IsChecked() {
			continue
		}
		unchecked++
		if why, _ := strings.CutPrefix(r.Checked, "no:"); !strings.HasPrefix(r.Checked, "no:") || len(strings.TrimSpace(why)) < 4 {
			t.Errorf("%s (%s) has no check, and Appendix A gives no reason (%q): want \"no: <reason>\"", r.ID, r.Level, r.Checked)
		}
		if why := reasons[r.ID]; len(why) < 20 {
			t.Errorf("%s (%s) has no check, and §13.5's table gives no reason for it", r.ID, r.Level)
		}
	}
	for id := range reasons {
		switch r, ok := index[id]; {
		case !ok:
			t.Errorf("§13.5 explains %s, which Appendix A does not list", id)
		case r.IsChecked():
			t.Errorf("§13.5 explains why %s is not checked, but Appendix A marks it checked (%q)", id, r.Checked)
		}
	}
	t.Logf("%d requirements, %d not checked, each with its reason", len(index), unchecked)
}
