package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// importLines returns JSON Lines of n tracing requests of XA-RC, ids
// XA-RC:IMP-<i>, each edited by edit (may be nil).
func importLines(t *testing.T, n int, edit func(i int, m map[string]any)) string {
	t.Helper()
	ex, _ := schema.ExampleNamed("case.tracing_request")
	var sb strings.Builder
	for i := range n {
		var m map[string]any
		json.Unmarshal(ex.Doc, &m)
		m["case_id"] = fmt.Sprintf("XA-RC:IMP-%04d", i)
		if edit != nil {
			edit(i, m)
		}
		b, _ := json.Marshal(m)
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func writeFile(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCaseImport(t *testing.T) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	// The rows are copies of one example (one person 450 times): matching
	// such a list is quadratic and is not what this test is about
	// (node.TestImportedCasesAreMatched covers it).
	tn := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Disabled: true}})
	sum := sha256.Sum256([]byte("cw-token"))
	srv := httptest.NewServer(httpapi.LocalHandler(tn.Node, []config.Token{{Name: "cw", Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}}, http.NotFoundHandler(), nil))
	t.Cleanup(srv.Close)
	api := []string{"case", "--api", srv.URL, "--token", "cw-token", "import"}
	count := func() int {
		t.Helper()
		n, cursor := 0, ""
		for {
			p, err := tn.Store.ListCases(ctx, store.CaseFilter{Cursor: cursor, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			n += len(p.Cases)
			if p.Next == "" {
				return n
			}
			cursor = p.Next
		}
	}
	summary := func(out string) importSummary {
		t.Helper()
		var s importSummary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("summary: %v\n%s", err, out)
		}
		return s
	}

	// Rejected rows: a report by line and pointer, nothing imported.
	bad := importLines(t, 6, func(i int, m map[string]any) {
		switch i {
		case 2:
			m["persons"].([]any)[0].(map[string]any)["birth_date"] = "1989-13"
		case 4:
			m["case_id"] = "XA-RC:IMP-0000"
		}
	})
	bad = strings.Replace(bad, "\n", "\n{not json\n", 1) // line 2
	out, err := runCLI(t, append(api, writeFile(t, "bad.jsonl", bad))...)
	var ee exitError
	if !errors.As(err, &ee) {
		t.Fatalf("bad file accepted: %v\n%s", err, out)
	}
	s := summary(out[:strings.LastIndex(out, "}")+1])
	want := map[string]bool{"2 ": true, "4 /persons/0/birth_date": true, "6 /case_id": true}
	for _, r := range s.Rejected {
		delete(want, fmt.Sprintf("%d %s", r.Line, r.Pointer))
		if r.Code == "" {
			t.Fatalf("rejection without a code: %+v", r)
		}
	}
	if len(want) > 0 || count() != 0 {
		t.Fatalf("report %+v misses %v; %d cases imported", s.Rejected, want, count())
	}

	// An interrupted import (the first 120 rows) finished by a re-run of
	// the whole file: nothing twice.
	all := importLines(t, 450, nil)
	lines := strings.SplitAfter(all, "\n")
	out, err = runCLI(t, append(api, "--batch", "50", writeFile(t, "part.jsonl", strings.Join(lines[:120], "")))...)
	if err != nil || summary(out).Created != 120 {
		t.Fatalf("part: %v\n%s", err, out)
	}
	full := writeFile(t, "all.jsonl", all)
	out, err = runCLI(t, append(api, "--batch", "100", "--forward", "XB-RC", full)...)
	s = summary(out)
	if err != nil || s.Created != 330 || s.Existing != 120 || s.Rows != 450 || s.Forwarded["queued"]+s.Forwarded["needs_review"]+s.Forwarded["denied"] != 450 {
		t.Fatalf("resume: %v %+v", err, s)
	}
	out, err = runCLI(t, append(api, "--forward", "XB-RC", full)...)
	s = summary(out)
	if err != nil || s.Created != 0 || s.Existing != 450 || len(s.Forwarded) != 0 || count() != 450 {
		t.Fatalf("re-run: %v %+v (%d cases)", err, s, count())
	}

	// A case of another origin is refused by the node (not_origin): the
	// report names the line.
	other := importLines(t, 1, func(_ int, m map[string]any) {
		m["case_id"] = "XB-RC:OTHER-1"
		m["origin"].(map[string]any)["member"] = "XB-RC"
	})
	out, err = runCLI(t, append(api, writeFile(t, "other.jsonl", other))...)
	if !errors.As(err, &ee) || !strings.Contains(out, `"line": 1`) || !strings.Contains(out, `"code": "not_origin"`) {
		t.Fatalf("other origin: %v\n%s", err, out)
	}

	// A row whose form is right but the schema refuses: by default the
	// file is refused whole; with --skip-invalid the node refuses it
	// alone, by line, code and pointer, and imports the others (each
	// whole); fixed and re-run, the file creates only what is missing.
	half := importLines(t, 5, func(i int, m map[string]any) {
		m["case_id"] = fmt.Sprintf("XA-RC:HALF-%d", i)
		if i == 2 {
			m["persons"].([]any)[0].(map[string]any)["birth_date"] = "1989-13"
		}
	})
	halfFile := writeFile(t, "half.jsonl", half)
	// --check finds it here, with the schema, and imports nothing.
	out, err = runCLI(t, append(api, "--check", halfFile)...)
	s = summary(out[:strings.LastIndex(out, "}")+1])
	if !errors.As(err, &ee) || len(s.Rejected) != 1 || s.Rejected[0].Line != 3 || s.Rejected[0].Code != "schema_invalid" || count() != 450 {
		t.Fatalf("check: %v %+v (%d cases)", err, s, count())
	}
	// By default every row is checked here first: nothing is imported.
	out, err = runCLI(t, append(api, "--batch", "2", halfFile)...)
	s = summary(out[:strings.LastIndex(out, "}")+1])
	if !errors.As(err, &ee) || s.Created != 0 || len(s.Rejected) != 1 || s.Rejected[0].Line != 3 || count() != 450 {
		t.Fatalf("half, checked first: %v %+v (%d cases)", err, s, count())
	}
	// --skip-invalid leaves the schema to the node: the bad row is
	// refused alone, the others imported.
	out, err = runCLI(t, append(api, "--batch", "2", "--skip-invalid", halfFile)...)
	s = summary(out[:strings.LastIndex(out, "}")+1])
	if !errors.As(err, &ee) || s.Created != 4 || len(s.Rejected) != 1 || count() != 454 {
		t.Fatalf("half: %v %+v (%d cases)", err, s, count())
	}
	if r := s.Rejected[0]; r.Line != 3 || r.Code != "schema_invalid" || r.Pointer != "/persons/0/birth_date" {
		t.Fatalf("half: rejected %+v", r)
	}
	out, err = runCLI(t, append(api, writeFile(t, "fixed.jsonl", strings.Replace(half, "1989-13", "1989-12", 1)))...)
	if s = summary(out); err != nil || s.Created != 1 || s.Existing != 4 {
		t.Fatalf("fixed: %v %+v", err, s)
	}

	// CSV with a template and a column mapping.
	tmpl, _ := schema.ExampleNamed("case.tracing_request.minimal")
	tp := writeFile(t, "template.json", strings.ReplaceAll(string(tmpl.Doc), "XB-RC", "XA-RC"))
	csvData := "/case_id,family,/persons/0/birth_date,/version\n" +
		"XA-RC:CSV-1,Оганесян,1984-05,1\n" +
		"XA-RC:CSV-2,\"Hovhannisyan\",,2\n"
	out, err = runCLI(t, append(api, "--template", tp, "--map", "family=/persons/0/names/0/value", writeFile(t, "list.csv", csvData))...)
	if err != nil || summary(out).Created != 2 {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	c, err := tn.Store.GetCase(ctx, "XA-RC:CSV-2")
	if err != nil || c.Version != 2 {
		t.Fatalf("csv case: %+v %v", c, err)
	}
	p, err := tn.Store.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"t_oganesyan"}}})
	if err != nil || len(p.Cases) != 1 {
		t.Fatalf("csv case not searchable: %+v %v", p, err)
	}
	out, err = runCLI(t, append(api, "--template", tp, writeFile(t, "unmapped.csv", csvData))...)
	if err == nil || !strings.Contains(err.Error(), `column "family" is not mapped`) {
		t.Fatalf("unmapped column: %v\n%s", err, out)
	}
	out, err = runCLI(t, append(api, "--template", tp, "--map", "family=/persons/0/names/0/value",
		writeFile(t, "badcsv.csv", "/case_id,family,/version\nXA-RC:CSV-3,X,one\n"))...)
	if !errors.As(err, &ee) || !strings.Contains(out, `"pointer": "/version"`) {
		t.Fatalf("bad csv cell: %v\n%s", err, out)
	}
}

// A JSON Lines row with a member given twice is rejected with its line and
// the member's pointer, before anything is sent.
func TestReadJSONLDuplicateKeys(t *testing.T) {
	in := "{\"a\":1}\n\n{\"a\":{\"b\":1,\"b\":2}}\n{\"a\":\n"
	rows, rej, err := readJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].line != 1 {
		t.Fatalf("rows %+v", rows)
	}
	if len(rej) != 2 || rej[0].Line != 3 || rej[0].Pointer != "/a/b" || !strings.HasPrefix(rej[0].Reason, "duplicate_key") || rej[1].Line != 4 {
		t.Fatalf("rejections %+v", rej)
	}
}
