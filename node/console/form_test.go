package console

import (
	"encoding/json"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

// formValues is what a browser submits for a rendered form: every
// control's current value.
func formValues(w *widget, v url.Values) {
	switch w.Kind {
	case "group", "item":
	case "list":
		v.Set(w.CountName, itoa(w.Count))
	case "text", "textarea":
		if w.Value != "" {
			v.Set(w.Name, w.Value)
		}
	case "select":
		for _, o := range w.Options {
			if o.Selected && o.Value != "" {
				v.Set(w.Name, o.Value)
			}
		}
	case "checks":
		for _, o := range w.Options {
			if o.Selected {
				v.Add(w.Name, o.Value)
			}
		}
	case "pdate":
		v.Set(w.Name+"#y", w.Year)
		v.Set(w.Name+"#d", w.Day)
		for _, o := range w.Options {
			if o.Selected {
				v.Set(w.Name+"#m", o.Value)
			}
		}
	}
	for _, c := range w.Children {
		formValues(c, v)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestFormRoundTripsEveryExample renders the generated form for each case
// of the schema's examples, submits it as a browser would, and expects the
// same document back (less what the console manages itself): every field
// of every example has a control that carries it.
func TestFormRoundTripsEveryExample(t *testing.T) {
	fsch, err := loadFormSchema()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ex := range schema.Examples() {
		if ex.Kind != schema.KindCase {
			continue
		}
		n++
		t.Run(ex.Name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(ex.Doc, &doc); err != nil {
				t.Fatal(err)
			}
			w, rest := fsch.caseForm(locales["en"], doc, nil)
			if len(rest) > 0 {
				t.Fatalf("unplaced: %v", rest)
			}
			v := url.Values{}
			formValues(w, v)
			var errs []formError
			got, _ := fsch.decode(v, fsch.root, "", false, &errs)
			if len(errs) > 0 {
				t.Fatalf("decode errors: %v", errs)
			}
			want := map[string]any{}
			for k, x := range doc {
				if !managed[k] {
					want[k] = x
				}
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			var g, wn any
			json.Unmarshal(gj, &g)
			json.Unmarshal(wj, &wn)
			sortSets(g)
			sortSets(wn)
			if !reflect.DeepEqual(g, wn) {
				t.Fatalf("round trip differs:\n got %s\nwant %s", gj, wj)
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d case examples", n)
	}
}

func TestFormDecodeRefusesBadValues(t *testing.T) {
	fsch, err := loadFormSchema()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		values url.Values
		ptr    string
		key    string
	}{
		{"enum value not offered", url.Values{"/type": {"secret_police_request"}}, "/type", "form.bad_choice"},
		{"day without month", url.Values{"n:/persons": {"1"}, "/persons/0/birth_date#y": {"1990"}, "/persons/0/birth_date#d": {"4"}}, "/persons/0/birth_date", "form.day_without_month"},
		{"31 February", url.Values{"n:/persons": {"1"}, "/persons/0/birth_date#y": {"1990"}, "/persons/0/birth_date#m": {"2"}, "/persons/0/birth_date#d": {"31"}}, "/persons/0/birth_date", "form.bad_day"},
		{"year in letters", url.Values{"n:/persons": {"1"}, "/persons/0/birth_date#y": {"nineteen"}}, "/persons/0/birth_date", "form.bad_year"},
		{"age not a number", url.Values{"n:/persons": {"1"}, "/persons/0/age/min": {"ten"}}, "/persons/0/age/min", "form.bad_number"},
		{"age not whole", url.Values{"n:/persons": {"1"}, "/persons/0/age/min": {"10.5"}}, "/persons/0/age/min", "form.bad_number"},
		{"time not a time", url.Values{"n:/consents": {"1"}, "/consents/0/given_at": {"yesterday"}}, "/consents/0/given_at", "form.bad_datetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var errs []formError
			fsch.decode(tc.values, fsch.root, "", false, &errs)
			if len(errs) != 1 || errs[0].Pointer != tc.ptr || errs[0].Key != tc.key {
				t.Fatalf("errors = %+v, want %s at %s", errs, tc.key, tc.ptr)
			}
		})
	}
	// Counts cannot make the server build huge documents.
	var errs []formError
	v, _ := fsch.decode(url.Values{"n:/persons": {"100000000"}, "n:/persons/0/names": {"99999"}}, fsch.root, "", true, &errs)
	if b, _ := json.Marshal(v); len(b) > 64<<10 {
		t.Fatalf("a forged count built %d bytes", len(b))
	}
}

func TestFormAddAndRemove(t *testing.T) {
	doc := map[string]any{"persons": []any{map[string]any{"id": "p1"}, map[string]any{"id": "p2"}, map[string]any{"id": "p3"}}}
	if !editAction(doc, "remove:/persons/1") {
		t.Fatal("remove refused")
	}
	if ids := personIDs(doc); ids != "p1,p3" {
		t.Fatalf("after remove: %s", ids)
	}
	if !editAction(doc, "add:/persons/0/names") || len(doc["persons"].([]any)[0].(map[string]any)["names"].([]any)) != 1 {
		t.Fatal("add a name failed")
	}
	for _, bad := range []string{"remove:/persons/9", "remove:/persons/x", "drop:/persons/0", "add:persons", "remove:/", "add:/persons/0/names/0/value/x"} {
		if editAction(doc, bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func personIDs(doc map[string]any) string {
	var ids []string
	for _, p := range doc["persons"].([]any) {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	return strings.Join(ids, ",")
}

func TestFieldPathInWords(t *testing.T) {
	lc := locales["en"]
	if got := fieldPath(lc, "/persons/1/names/0/value"); got != "Person 2 › Name 1 › Written form" {
		t.Fatalf("got %q", got)
	}
	if got := fieldPath(locales["fr"], "/persons/0/contact/phones"); got != "Personne 1 › Coordonnées › Numéros de téléphone" {
		t.Fatalf("got %q", got)
	}
	// An element of an unnamed list (a redaction of /sensitivity/0, shown
	// to the caseworker before sending) is counted from 1 in words, not
	// shown as the pointer's 0.
	if got := fieldPath(lc, "/sensitivity/0"); got != "Sensitive categories needed › item 1" {
		t.Errorf("got %q", got)
	}
	if got := fieldPath(lc, "/persons/0/contact/phones/1"); got != "Person 1 › Contact details › Phone numbers › item 2" {
		t.Errorf("got %q", got)
	}
	for code, lc := range locales {
		// Counted from 1 in the language's own digits (Arabic: ٢).
		if got := fieldPath(lc, "/sensitivity/1"); strings.HasSuffix(got, "› 1") || !strings.HasSuffix(got, "2") && !strings.HasSuffix(got, "٢") {
			t.Errorf("%s: %q", code, got)
		}
	}
}

// sortSets sorts arrays of strings: checkboxes submit a set in the order
// of the schema's enum, not the order it was stored in.
func sortSets(v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, c := range x {
			sortSets(c)
		}
	case []any:
		strs := true
		for _, c := range x {
			sortSets(c)
			_, ok := c.(string)
			strs = strs && ok
		}
		if strs {
			sort.Slice(x, func(i, j int) bool { return x[i].(string) < x[j].(string) })
		}
	}
}
