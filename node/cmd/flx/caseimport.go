package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/schema"
)

// importRow is one case document of an import file and where it came from.
type importRow struct {
	line int // 1-based line of the file (CSV: of the record's start)
	id   string
	doc  json.RawMessage
}

// rejection is one problem with one row, with a stable code of the
// local API's table (bad_request, duplicate_key, schema_invalid,
// not_origin).
type rejection struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

// The codes of rejected rows.
const (
	rejBadRequest    = "bad_request"
	rejDuplicateKey  = "duplicate_key"
	rejSchemaInvalid = "schema_invalid"
	rejNotOrigin     = "not_origin"
)

// importOptions are the flags of flx case import.
type importOptions struct {
	format   string
	template string
	mapping  []string
	batch    int
	forward  string
	check    bool
	// skipInvalid leaves the schema check to the node (each invalid
	// case refused alone, the others imported).
	skipInvalid bool
	progress    io.Writer // nil: no progress display
	errOut      io.Writer
}

func importCmd(c *apiClient) *cobra.Command {
	o := importOptions{}
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a list of cases (JSON Lines or CSV): all rows checked first, then created in batches",
		Long: `Import a list of this Society's cases: JSON Lines (one flx/v1/case document a
line) or CSV with a header row. A CSV column whose header is a JSON pointer
(/persons/0/names/0/value) sets that member of the --template document;
--map COLUMN=POINTER maps other headers; an unmapped column is an error.
A template value that is a number makes the column a number; an empty
cell leaves the template's value.

The file is read and every row checked first, here, against schema v1
(spread over the cores) and for what no single row shows (no member given
twice, ids unique in the file, one origin): if any row fails, a report of
the rejected rows with their line, code, JSON pointer and reason is
printed and nothing is imported. Then the cases are sent in batches of
--batch, each stored in one transaction; the node checks each case again.
A case whose id exists already is left as it is, so a re-run after an
interruption creates nothing twice and finishes the rest.
--check checks every row and imports nothing.
--skip-invalid checks here only what no single row shows, and leaves the
schema check to the node (once, the faster way for long lists): a case the
node rejects is refused alone (each case is stored whole or not at all)
and reported by line, code and pointer, the other cases are imported, and
the exit status is 1; fix those rows and re-run.
--forward sends each case to a member with the policy applied (a case
already sent at its current version is not sent again; a case withdrawn
or changed meanwhile is counted under erased or conflict, the others go). Progress is shown
on a terminal; the summary is printed as JSON.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.errOut = cmd.ErrOrStderr()
			if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				o.progress = cmd.ErrOrStderr()
			}
			return runImport(cmd.Context(), c, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "", "jsonl or csv (default: from the file name; .csv is CSV)")
	f.StringVar(&o.template, "template", "", "CSV: the case document each row fills in")
	f.StringArrayVar(&o.mapping, "map", nil, "CSV: COLUMN=JSON-POINTER (repeatable)")
	f.IntVar(&o.batch, "batch", 200, "cases per request (one transaction each), 1 to 1000")
	f.StringVar(&o.forward, "forward", "", "forward each imported case to this member")
	f.BoolVar(&o.check, "check", false, "only check the rows; import nothing")
	f.BoolVar(&o.skipInvalid, "skip-invalid", false, "leave the schema check to the node: import the valid cases, report the others")
	return cmd
}

// importSummary is printed at the end.
type importSummary struct {
	Rows      int            `json:"rows"`
	Created   int            `json:"created"`
	Existing  int            `json:"existing"`
	Forwarded map[string]int `json:"forwarded,omitempty"` // by state
	Rejected  []rejection    `json:"rejected,omitempty"`
	Seconds   float64        `json:"seconds"`
}

func runImport(ctx context.Context, c *apiClient, path string, o importOptions) error {
	start := time.Now()
	if o.batch < 1 || o.batch > 1000 {
		return errors.New("import: --batch must be from 1 to 1000")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	format := o.format
	if format == "" {
		format = "jsonl"
		if strings.HasSuffix(strings.ToLower(path), ".csv") {
			format = "csv"
		}
	}
	var rows []importRow
	var rejected []rejection
	switch format {
	case "jsonl":
		rows, rejected, err = readJSONL(f)
	case "csv":
		var tmpl []byte
		if o.template == "" {
			return errors.New("import: a CSV import needs --template (the case document each row fills in)")
		}
		if tmpl, err = os.ReadFile(o.template); err != nil {
			return err
		}
		rows, rejected, err = readCSV(f, tmpl, o.mapping)
	default:
		return fmt.Errorf("import: --format %q: want jsonl or csv", format)
	}
	if err != nil {
		return err
	}
	// Every row is checked here before anything is imported, unless
	// --skip-invalid leaves the schema to the node: then only what the
	// node cannot see across batches, unless the file is refused anyway
	// (the report is then the whole of it).
	if form := checkForm(rows); !o.skipInvalid || len(rejected) > 0 || len(form) > 0 || o.check {
		rejected = append(rejected, checkRows(rows)...)
		sort.SliceStable(rejected, func(i, j int) bool { return rejected[i].Line < rejected[j].Line })
	}
	sum := importSummary{Rows: len(rows) + countLines(rejected, rows), Rejected: rejected}
	if len(rejected) > 0 || o.check {
		sum.Seconds = time.Since(start).Seconds()
		c.printJSON(sum)
		if len(rejected) > 0 {
			fmt.Fprintf(o.errOut, "import: %d problem(s) in %s: nothing was imported\n", len(rejected), path)
			return exitError{1}
		}
		return nil
	}
	// Two batches in flight: the node checks one while it stores the other.
	var mu sync.Mutex
	var failed error
	done := 0
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i := 0; i < len(rows); i += o.batch {
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		batch := rows[i:min(i+o.batch, len(rows))]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var part importSummary
			err := sendBatch(ctx, c, batch, o.forward, &part)
			mu.Lock()
			defer mu.Unlock()
			sum.Created += part.Created
			sum.Existing += part.Existing
			sum.Rejected = append(sum.Rejected, part.Rejected...)
			for k, v := range part.Forwarded {
				if sum.Forwarded == nil {
					sum.Forwarded = map[string]int{}
				}
				sum.Forwarded[k] += v
			}
			if err != nil {
				if failed == nil {
					failed = err
				}
				return
			}
			done += len(batch)
			if o.progress != nil {
				el := time.Since(start).Seconds()
				fmt.Fprintf(o.progress, "\r%d/%d cases (%.0f%%), %d created, %d existing, %.0f cases/s   ",
					done, len(rows), 100*float64(done)/float64(len(rows)), sum.Created, sum.Existing, float64(done)/el)
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		if len(sum.Rejected) > 0 {
			c.printJSON(sum)
			return exitError{1}
		}
		return fmt.Errorf("import: %d of %d cases imported (re-run to finish: cases already created are skipped): %w", done, len(rows), failed)
	}
	if o.progress != nil {
		fmt.Fprintln(o.progress)
	}
	sort.SliceStable(sum.Rejected, func(i, j int) bool { return sum.Rejected[i].Line < sum.Rejected[j].Line })
	sum.Seconds = time.Since(start).Seconds()
	if err := c.printJSON(sum); err != nil {
		return err
	}
	if n := countLines(sum.Rejected, nil); n > 0 {
		fmt.Fprintf(o.errOut, "import: %d row(s) of %s rejected by the node (listed); the other cases were imported: fix those rows and re-run (cases already created are skipped)\n", n, path)
		return exitError{1}
	}
	return nil
}

func countLines(rej []rejection, rows []importRow) int {
	ok := map[int]bool{}
	for _, r := range rows {
		ok[r.line] = true
	}
	extra := map[int]bool{}
	for _, r := range rej {
		if !ok[r.Line] {
			extra[r.Line] = true
		}
	}
	return len(extra)
}

// sendBatch imports one batch; a 422 is mapped back to the file's lines.
func sendBatch(ctx context.Context, c *apiClient, batch []importRow, forward string, sum *importSummary) error {
	// The documents were checked (valid JSON): joined as they are, not
	// re-encoded.
	var b bytes.Buffer
	b.WriteString(`{"cases":[`)
	for i, r := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r.doc)
	}
	b.WriteString(`],"skip_invalid":true`)
	if forward != "" {
		to, _ := json.Marshal(forward)
		b.WriteString(`,"forward_to":`)
		b.Write(to)
	}
	b.WriteByte('}')
	body := b.Bytes()
	out, err := c.do(ctx, http.MethodPost, "/api/v1/import/cases", body)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "schema_invalid" {
		var p struct {
			Errors []struct {
				Pointer string `json:"pointer"`
				Message string `json:"message"`
			} `json:"errors"`
		}
		json.Unmarshal(ae.Body, &p)
		for _, e := range p.Errors {
			var i int
			rest := e.Pointer
			if _, err := fmt.Sscanf(e.Pointer, "/cases/%d", &i); err == nil && i >= 0 && i < len(batch) {
				rest = strings.TrimPrefix(e.Pointer, "/cases/"+strconv.Itoa(i))
				sum.Rejected = append(sum.Rejected, rejection{Line: batch[i].line, Code: rejSchemaInvalid, Pointer: rest, Reason: e.Message})
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	var res struct {
		Created  []string `json:"created"`
		Existing []string `json:"existing"`
		Rejected []struct {
			Index   int    `json:"index"`
			Code    string `json:"code"`
			Message string `json:"message"`
			Errors  []struct {
				Pointer string `json:"pointer"`
				Message string `json:"message"`
			} `json:"errors"`
		} `json:"rejected"`
		Forwarded []struct {
			State string `json:"state"`
		} `json:"forwarded"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	sum.Created += len(res.Created)
	sum.Existing += len(res.Existing)
	for _, r := range res.Rejected {
		if r.Index < 0 || r.Index >= len(batch) {
			return fmt.Errorf("unexpected answer: rejected case %d of a batch of %d", r.Index, len(batch))
		}
		line := batch[r.Index].line
		if len(r.Errors) == 0 {
			sum.Rejected = append(sum.Rejected, rejection{Line: line, Code: r.Code, Reason: r.Message})
		}
		for _, e := range r.Errors {
			sum.Rejected = append(sum.Rejected, rejection{Line: line, Code: r.Code, Pointer: e.Pointer, Reason: e.Message})
		}
	}
	for _, f := range res.Forwarded {
		if sum.Forwarded == nil {
			sum.Forwarded = map[string]int{}
		}
		sum.Forwarded[f.State]++
	}
	return nil
}

// maxImportLine bounds one JSON Lines line (a case document).
const maxImportLine = 4 << 20

func readJSONL(r io.Reader) ([]importRow, []rejection, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	var rows []importRow
	var rej []rejection
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if !json.Valid(b) {
			rej = append(rej, rejection{Line: line, Code: rejBadRequest, Pointer: "", Reason: "not a JSON document"})
			continue
		}
		var dup *schema.DuplicateKeyError
		if errors.As(schema.CheckDuplicateKeys(b), &dup) {
			rej = append(rej, rejection{Line: line, Code: rejDuplicateKey, Pointer: dup.Pointer, Reason: "duplicate_key: member given twice"})
			continue
		}
		rows = append(rows, importRow{line: line, doc: append(json.RawMessage(nil), b...)})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("import: reading: %w", err)
	}
	return rows, rej, nil
}

func readCSV(r io.Reader, tmpl []byte, mapping []string) ([]importRow, []rejection, error) {
	var base any
	if err := json.Unmarshal(tmpl, &base); err != nil {
		return nil, nil, fmt.Errorf("import: --template is not JSON: %w", err)
	}
	if _, ok := base.(map[string]any); !ok {
		return nil, nil, errors.New("import: --template must be a JSON object (a case document)")
	}
	maps := map[string]string{}
	for _, m := range mapping {
		col, ptr, ok := strings.Cut(m, "=")
		if !ok || !strings.HasPrefix(ptr, "/") {
			return nil, nil, fmt.Errorf("import: --map %q: want COLUMN=/json/pointer", m)
		}
		maps[col] = ptr
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("import: CSV header: %w", err)
	}
	ptrs := make([]string, len(header))
	for i, h := range header {
		h = strings.TrimPrefix(strings.TrimSpace(h), "\ufeff")
		switch {
		case maps[h] != "":
			ptrs[i] = maps[h]
		case strings.HasPrefix(h, "/"):
			ptrs[i] = h
		default:
			return nil, nil, fmt.Errorf("import: CSV column %q is not mapped: name it with a JSON pointer or --map %s=/pointer", h, h)
		}
	}
	var rows []importRow
	var rej []rejection
	for {
		line, _ := cr.FieldPos(0)
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rej = append(rej, rejection{Line: pe.StartLine, Code: rejBadRequest, Reason: pe.Err.Error()})
				continue
			}
			return nil, nil, fmt.Errorf("import: CSV: %w", err)
		}
		line, _ = cr.FieldPos(0)
		doc := deepCopy(base)
		bad := false
		for i, v := range rec {
			if v == "" {
				continue
			}
			if doc, err = setPointer(doc, ptrs[i], v); err != nil {
				rej = append(rej, rejection{Line: line, Code: rejBadRequest, Pointer: ptrs[i], Reason: err.Error()})
				bad = true
			}
		}
		if bad {
			continue
		}
		b, _ := json.Marshal(doc)
		rows = append(rows, importRow{line: line, doc: b})
	}
	return rows, rej, nil
}

// deepCopy copies a value json.Unmarshal made into an any (maps and
// slices; strings, numbers, booleans and nil are shared), so that the copy
// can be changed.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// setPointer sets the member at an RFC 6901 pointer to s, creating objects
// and array elements on the way; a number in the template makes s a number,
// a boolean a boolean.
func setPointer(doc any, ptr, s string) (any, error) {
	toks := strings.Split(ptr, "/")[1:]
	for i := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(toks[i], "~1", "/"), "~0", "~")
	}
	var set func(cur any, toks []string) (any, error)
	set = func(cur any, toks []string) (any, error) {
		if len(toks) == 0 {
			switch cur.(type) {
			case float64:
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return nil, fmt.Errorf("%q is not a number", s)
				}
				return f, nil
			case bool:
				b, err := strconv.ParseBool(s)
				if err != nil {
					return nil, fmt.Errorf("%q is not true or false", s)
				}
				return b, nil
			}
			return s, nil
		}
		t := toks[0]
		if idx, err := strconv.Atoi(t); err == nil && idx >= 0 {
			arr, _ := cur.([]any)
			if cur != nil && arr == nil {
				return nil, fmt.Errorf("%s is not an array in the template", t)
			}
			if idx > len(arr) || idx > 1000 {
				return nil, fmt.Errorf("index %d skips elements", idx)
			}
			if idx == len(arr) {
				arr = append(arr, nil)
			}
			v, err := set(arr[idx], toks[1:])
			if err != nil {
				return nil, err
			}
			arr[idx] = v
			return arr, nil
		}
		obj, _ := cur.(map[string]any)
		if cur != nil && obj == nil {
			return nil, fmt.Errorf("%s is not an object in the template", t)
		}
		if obj == nil {
			obj = map[string]any{}
		}
		v, err := set(obj[t], toks[1:])
		if err != nil {
			return nil, err
		}
		obj[t] = v
		return obj, nil
	}
	if ptr == "" || ptr == "/" {
		return nil, errors.New("the whole document cannot be one cell")
	}
	return set(doc, toks)
}

// checkRows checks every row as the node will (schema v1, references),
// and that the rows have one origin and distinct ids.
func checkRows(rows []importRow) []rejection {
	var rej []rejection
	// Validation is the CPU of a check: spread over the cores.
	parsed := make([]*schema.Case, len(rows))
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(rows); i += workers {
				parsed[i], errs[i] = schema.ParseCase(rows[i].doc)
			}
		}()
	}
	wg.Wait()
	for i := range rows {
		r := &rows[i]
		c, err := parsed[i], errs[i]
		if err != nil {
			var ve *schema.ValidationError
			if errors.As(err, &ve) {
				for _, v := range ve.Violations {
					rej = append(rej, rejection{Line: r.line, Code: rejSchemaInvalid, Pointer: v.Pointer, Reason: v.Message})
				}
			} else {
				rej = append(rej, rejection{Line: r.line, Code: rejBadRequest, Reason: err.Error()})
			}
			continue
		}
		for _, v := range schema.CheckReferences(c) {
			rej = append(rej, rejection{Line: r.line, Code: rejSchemaInvalid, Pointer: v.Pointer, Reason: v.Message})
		}
	}
	return append(rej, checkForm(rows)...)
}

// checkForm checks what no single batch shows, with one light read of
// each row (schema.PeekCaseHead): ids unique in the file and
// one origin. A row whose members are missing or of the wrong type is
// left to the node's schema check.
func checkForm(rows []importRow) []rejection {
	var rej []rejection
	ids := map[string]int{}
	origin := ""
	for i := range rows {
		r := &rows[i]
		id, member := schema.PeekCaseHead(r.doc)
		if id == "" {
			continue
		}
		r.id = id
		if j, dup := ids[id]; dup {
			rej = append(rej, rejection{Line: r.line, Code: rejSchemaInvalid, Pointer: "/case_id", Reason: fmt.Sprintf("case %s is also on line %d", id, j)})
			continue
		}
		ids[id] = r.line
		if member == "" {
			continue
		}
		if origin == "" {
			origin = member
		}
		if member != origin {
			rej = append(rej, rejection{Line: r.line, Code: rejNotOrigin, Pointer: "/origin/member", Reason: fmt.Sprintf("%s: every case of one import has the same origin (%s)", member, origin)})
		}
	}
	return rej
}
