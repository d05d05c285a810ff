package console

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/schema"
)

// The case form is generated from the embedded JSON Schema (schema/v1):
// each property becomes a control chosen by its type, $ref and format, so
// a field added to the schema appears in the form (and a test fails until
// its label is in every catalog). Controls are named by the JSON pointer
// of the value they hold; arrays carry their item count in "n:<pointer>".

type fkind int

const (
	kObject      fkind = iota // fieldset of its properties
	kArray                    // repeated fieldsets (array of objects)
	kText                     // one-line text
	kLongText                 // textarea (maxLength > 512)
	kEnum                     // select
	kInt                      // whole number
	kNumber                   // decimal number
	kBool                     // yes / no / not recorded
	kPartialDate              // year, optional month, optional day
	kDate                     // full date
	kDateTime                 // date and time (UTC)
	kStringList               // array of strings: one per line
	kEnumSet                  // array of enum values: checkboxes
	kPersonRef                // a person of this case: select
	kPersonSet                // persons of this case: checkboxes
	kScript                   // ISO 15924 script: select
)

// field is one node of the form tree.
type field struct {
	name     string // property name ("" for array items)
	kind     fkind
	required bool
	enum     []string
	pattern  string
	maxLen   int
	maxItems int
	min, max *float64
	props    []*field // kObject, in schema order
	item     *field   // kArray
}

// managed are case members the console sets itself (never from the form):
// identity, version, origin and bookkeeping.
var managed = map[string]bool{"schema": true, "case_id": true, "version": true, "origin": true, "updated_at": true, "superseded": true}

// scripts offered for a name's script (ISO 15924); a stored value outside
// the list is offered too.
var scripts = []string{"Latn", "Cyrl", "Arab", "Armn", "Geor", "Hebr", "Grek", "Deva", "Beng", "Ethi", "Hans", "Hant", "Thai", "Mymr", "Khmr", "Tibt", "Syrc", "Thaa"}

// formSchema is the case form's tree, built once from schema.Files().
type formSchema struct {
	root *field
	defs map[string]map[string]any
	// labels lists every property name and enum value the form can show,
	// for the catalog completeness test.
	names map[string]bool
	enums map[string]bool
}

func loadFormSchema() (*formSchema, error) {
	files := schema.Files()
	read := func(name string) (map[string]any, error) {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(b, &m)
	}
	defsDoc, err := read("defs.json")
	if err != nil {
		return nil, fmt.Errorf("console: form schema: %w", err)
	}
	caseDoc, err := read("case.json")
	if err != nil {
		return nil, fmt.Errorf("console: form schema: %w", err)
	}
	fsch := &formSchema{defs: map[string]map[string]any{}, names: map[string]bool{}, enums: map[string]bool{}}
	for k, v := range defsDoc["$defs"].(map[string]any) {
		fsch.defs[k] = v.(map[string]any)
	}
	root, err := fsch.build("", caseDoc, "", 0)
	if err != nil {
		return nil, err
	}
	// Top level: drop what the console manages.
	var keep []*field
	for _, p := range root.props {
		if !managed[p.name] {
			keep = append(keep, p)
		}
	}
	root.props = keep
	fsch.root = root
	return fsch, nil
}

// build turns a schema node into a field. def is the $defs name the node
// came from ("" inline), parent the enclosing def (to tell person.id from a
// reference to a person).
func (fsch *formSchema) build(name string, node map[string]any, parent string, depth int) (*field, error) {
	if depth > 12 {
		return nil, fmt.Errorf("console: form schema nests too deep at %q", name)
	}
	def := ""
	if ref, ok := node["$ref"].(string); ok {
		i := strings.LastIndex(ref, "/")
		def = ref[i+1:]
		d, ok := fsch.defs[def]
		if !ok {
			return nil, fmt.Errorf("console: form schema: unknown $ref %s", ref)
		}
		node = d
	}
	f := &field{name: name}
	if name != "" {
		fsch.names[name] = true
	}
	if n, ok := node["maxLength"].(float64); ok {
		f.maxLen = int(n)
	}
	if n, ok := node["maxItems"].(float64); ok {
		f.maxItems = int(n)
	}
	if n, ok := node["minimum"].(float64); ok {
		f.min = &n
	}
	if n, ok := node["maximum"].(float64); ok {
		f.max = &n
	}
	f.pattern, _ = node["pattern"].(string)
	if e, ok := node["enum"].([]any); ok {
		for _, v := range e {
			s := fmt.Sprint(v)
			f.enum = append(f.enum, s)
			fsch.enums[s] = true
		}
	}
	typ, _ := node["type"].(string)
	switch {
	case def == "person_id" && !(parent == "person" && name == "id"):
		f.kind = kPersonRef
	case def == "partial_date":
		f.kind = kPartialDate
	case def == "date":
		f.kind = kDate
	case def == "date_time" || node["format"] == "date-time":
		f.kind = kDateTime
	case parent == "name" && name == "script":
		f.kind = kScript
	case len(f.enum) > 0:
		f.kind = kEnum
	case typ == "object":
		f.kind = kObject
		props, _ := node["properties"].(map[string]any)
		req := map[string]bool{}
		if rs, ok := node["required"].([]any); ok {
			for _, r := range rs {
				req[r.(string)] = true
			}
		}
		for _, pn := range propertyOrder(node, props) {
			if _, isConst := props[pn].(map[string]any)["const"]; isConst {
				continue // a fixed value (the schema tag): set by the console
			}
			p, err := fsch.build(pn, props[pn].(map[string]any), def, depth+1)
			if err != nil {
				return nil, err
			}
			p.required = req[pn]
			f.props = append(f.props, p)
		}
	case typ == "array":
		items, _ := node["items"].(map[string]any)
		it, err := fsch.build("", items, def, depth+1)
		if err != nil {
			return nil, err
		}
		switch it.kind {
		case kObject:
			f.kind, f.item = kArray, it
		case kEnum:
			f.kind, f.enum = kEnumSet, it.enum
		case kPersonRef:
			f.kind = kPersonSet
		default:
			f.kind, f.item = kStringList, it
		}
	case typ == "integer":
		f.kind = kInt
	case typ == "number":
		f.kind = kNumber
	case typ == "boolean":
		f.kind = kBool
	case typ == "string":
		f.kind = kText
		if f.maxLen > 512 {
			f.kind = kLongText
		}
	default:
		return nil, fmt.Errorf("console: form schema: no control for %q (type %q)", name, typ)
	}
	return f, nil
}

// propertyOrder keeps the order of the schema file: encoding/json loses it,
// so the order is recovered from the "required" list first, then a fixed
// reading order, then the rest alphabetically.
func propertyOrder(node map[string]any, props map[string]any) []string {
	rank := map[string]int{}
	for i, n := range readingOrder {
		rank[n] = i + 1
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.SliceStable(names, func(i, j int) bool {
		ri, rj := rank[names[i]], rank[names[j]]
		switch {
		case ri != 0 && rj != 0:
			return ri < rj
		case ri != 0:
			return true
		case rj != 0:
			return false
		}
		return names[i] < names[j]
	})
	return names
}

// readingOrder is how a caseworker reads a case: who, then why, then what
// happened.
var readingOrder = []string{
	"type", "status", "purpose", "persons", "relationships", "legal_basis", "consents", "separation", "detention", "death",
	"best_interest_assessment", "risk", "sensitivity", "retention_until", "notes",
	"id", "roles", "names", "value", "part", "script", "lang", "scheme", "sex", "birth_date", "age", "place_of_birth",
	"nationalities", "address", "last_known_location", "contact", "contact_preference", "vulnerabilities", "guardian",
	"feared_countries", "sensitive", "photo",
	"given_by", "on_behalf_of", "capacity", "scope", "given_at", "withdrawn_at", "form",
	"uses", "members", "countries", "non_movement",
	"from", "to", "verified", "justification", "documented_by", "documented_at", "applies_to",
	"date", "place", "cause", "authority", "detained_since", "notification_agreed", "remains_location",
	"country", "admin_area", "locality", "address_line", "description", "geo", "lat", "lon",
	"phones", "emails", "min", "max", "as_of", "parties_to_conflict", "notes", "text", "author_member", "at",
}

// ---- form values -> document ----

// formError is a problem with one control, by JSON pointer.
type formError struct {
	Pointer string
	Key     string // catalog key
}

// maxFormItems bounds any array the form may grow to.
const maxFormItems = 200

// decode builds the document part for f from the form. keepEmpty keeps
// empty items of arrays (while the form is being edited with add/remove),
// and returns ok=false when nothing was entered.
func (fsch *formSchema) decode(form url.Values, f *field, ptr string, keepEmpty bool, errs *[]formError) (any, bool) {
	get := func() string { return strings.TrimSpace(form.Get(ptr)) }
	bad := func(key string) { *errs = append(*errs, formError{ptr, key}) }
	switch f.kind {
	case kObject:
		m := map[string]any{}
		for _, p := range f.props {
			if v, ok := fsch.decode(form, p, ptr+"/"+escapePointer(p.name), keepEmpty, errs); ok {
				m[p.name] = v
			}
		}
		return m, len(m) > 0
	case kArray:
		n, _ := strconv.Atoi(form.Get("n:" + ptr))
		n = min(max(n, 0), maxFormItems)
		if f.maxItems > 0 {
			n = min(n, f.maxItems)
		}
		out := []any{}
		for i := 0; i < n; i++ {
			v, ok := fsch.decode(form, f.item, ptr+"/"+strconv.Itoa(i), keepEmpty, errs)
			if ok || keepEmpty {
				if v == nil {
					v = map[string]any{}
				}
				out = append(out, v)
			}
		}
		return out, len(out) > 0
	case kText, kLongText, kEnum, kPersonRef, kScript:
		s := get()
		if s == "" {
			return nil, false
		}
		if f.kind == kEnum && !contains(f.enum, s) {
			bad("form.bad_choice")
			return nil, false
		}
		return s, true
	case kInt, kNumber:
		s := get()
		if s == "" {
			return nil, false
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(x, 0) || math.IsNaN(x) || (f.kind == kInt && x != math.Trunc(x)) {
			bad("form.bad_number")
			return nil, false
		}
		if f.kind == kInt {
			return int64(x), true
		}
		return x, true
	case kBool:
		switch get() {
		case "true":
			return true, true
		case "false":
			return false, true
		}
		return nil, false
	case kPartialDate:
		y, m, d := strings.TrimSpace(form.Get(ptr+"#y")), strings.TrimSpace(form.Get(ptr+"#m")), strings.TrimSpace(form.Get(ptr+"#d"))
		if y == "" && m == "" && d == "" {
			return nil, false
		}
		yi, err := strconv.Atoi(y)
		if err != nil || yi < 1 || yi > 9999 {
			bad("form.bad_year")
			return nil, false
		}
		s := fmt.Sprintf("%04d", yi)
		if m == "" {
			if d != "" {
				bad("form.day_without_month")
				return nil, false
			}
			return s, true
		}
		mi, err := strconv.Atoi(m)
		if err != nil || mi < 1 || mi > 12 {
			bad("form.bad_month")
			return nil, false
		}
		s += fmt.Sprintf("-%02d", mi)
		if d == "" {
			return s, true
		}
		di, err := strconv.Atoi(d)
		if err != nil || di < 1 || di > 31 {
			bad("form.bad_day")
			return nil, false
		}
		s += fmt.Sprintf("-%02d", di)
		if _, err := time.Parse("2006-01-02", s); err != nil {
			bad("form.bad_day")
			return nil, false
		}
		return s, true
	case kDate:
		s := get()
		if s == "" {
			return nil, false
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			bad("form.bad_date")
			return nil, false
		}
		return s, true
	case kDateTime:
		s := get()
		if s == "" {
			return nil, false
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC().Format(time.RFC3339), true
		}
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format(time.RFC3339), true
			}
		}
		bad("form.bad_datetime")
		return nil, false
	case kStringList:
		var out []any
		for _, line := range strings.FieldsFunc(form.Get(ptr), func(r rune) bool { return r == '\n' || r == ',' }) {
			if s := strings.TrimSpace(line); s != "" {
				out = append(out, s)
			}
		}
		return out, len(out) > 0
	case kEnumSet, kPersonSet:
		var out []any
		seen := map[string]bool{}
		for _, s := range form[ptr] {
			if seen[s] || (f.kind == kEnumSet && !contains(f.enum, s)) {
				continue
			}
			seen[s] = true
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// editAction applies the form's add/remove button (an "action" value
// "add:<pointer>" or "remove:<pointer>/<index>") to the document being
// edited. It reports whether the action was understood.
func editAction(doc map[string]any, action string) bool {
	verb, ptr, ok := strings.Cut(action, ":")
	if !ok || !strings.HasPrefix(ptr, "/") {
		return false
	}
	parts := strings.Split(ptr[1:], "/")
	switch verb {
	case "add":
		parent, key := walkTo(doc, parts[:len(parts)-1]), parts[len(parts)-1]
		m, ok := parent.(map[string]any)
		if !ok {
			return false
		}
		arr, _ := m[key].([]any)
		if len(arr) >= maxFormItems {
			return false
		}
		m[key] = append(arr, map[string]any{})
		return true
	case "remove":
		if len(parts) < 2 {
			return false
		}
		idx, err := strconv.Atoi(parts[len(parts)-1])
		if err != nil {
			return false
		}
		parent, key := walkTo(doc, parts[:len(parts)-2]), parts[len(parts)-2]
		m, ok := parent.(map[string]any)
		if !ok {
			return false
		}
		arr, _ := m[key].([]any)
		if idx < 0 || idx >= len(arr) {
			return false
		}
		m[key] = append(arr[:idx:idx], arr[idx+1:]...)
		return true
	}
	return false
}

// walkTo follows pointer segments through maps and arrays; nil when the
// path does not exist.
func walkTo(v any, parts []string) any {
	for _, p := range parts {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[p]
			if !ok {
				return nil
			}
			v = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// fillDefaults gives persons and consents an id when the caseworker left
// it empty (p1, p2, ... and <case>-consent-1, ...), so that references
// between them can be chosen in the form.
func fillDefaults(doc map[string]any, caseID string) {
	fillPersonIDs(doc)
	consents, _ := doc["consents"].([]any)
	for i, c := range consents {
		if m, ok := c.(map[string]any); ok {
			if _, ok := m["id"].(string); !ok {
				m["id"] = caseID + "-consent-" + strconv.Itoa(i+1)
			}
		}
	}
}

// fillPersonIDs gives each person without an id the first free p<n>.
func fillPersonIDs(doc map[string]any) {
	used := map[string]bool{}
	persons, _ := doc["persons"].([]any)
	for _, p := range persons {
		if m, ok := p.(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				used[id] = true
			}
		}
	}
	next := 1
	for _, p := range persons {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		if _, ok := m["id"].(string); !ok {
			for used["p"+strconv.Itoa(next)] {
				next++
			}
			m["id"] = "p" + strconv.Itoa(next)
			used[m["id"].(string)] = true
		}
	}
}
