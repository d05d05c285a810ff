package console

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// widget is one control or group of the generated form, ready for the
// "widget" template.
type widget struct {
	Kind        string // group, list, item, text, textarea, select, checks, pdate
	ID, Name    string
	Label, Hint string
	Value       string
	InputType   string // text, number, date, datetime-local
	Step        string
	Min, Max    string
	MaxLen      int
	Required    bool
	Options     []option
	Children    []*widget
	Errors      []string
	Collapsible bool // optional group shown folded (details) until it holds a value
	Open        bool
	Add         string // action value of the add button (lists)
	AddLabel    string
	Remove      string // action value of the remove button (list items)
	RemoveLabel string
	CountName   string // hidden item count (lists)
	Count       int
	Year, Month string // pdate parts
	Day         string
	YearLabel   string
	MonthLabel  string
	DayLabel    string
}

type option struct {
	Value, Label string
	Selected     bool
}

// formRender carries what rendering needs: the language, the violations by
// pointer (consumed as they are placed), and the persons of the document
// for person references.
type formRender struct {
	lc      *locale
	errs    map[string][]string
	persons []option
}

// render builds the widget for f holding value v at pointer ptr.
func (fr *formRender) render(f *field, v any, ptr, label string) *widget {
	w := &widget{Name: ptr, ID: "f" + strings.NewReplacer("/", "-", "~", "_").Replace(ptr), Label: label, Required: f.required}
	w.Errors = fr.errs[ptr]
	delete(fr.errs, ptr)
	if f.kind == kStringList || f.kind == kEnumSet || f.kind == kPersonSet {
		// One control holds the whole list: it takes its items' errors.
		for p, m := range fr.errs {
			if strings.HasPrefix(p, ptr+"/") {
				w.Errors = append(w.Errors, m...)
				delete(fr.errs, p)
			}
		}
	}
	switch f.kind {
	case kObject:
		w.Kind = "group"
		m, _ := v.(map[string]any)
		for _, p := range f.props {
			w.Children = append(w.Children, fr.render(p, m[p.name], ptr+"/"+escapePointer(p.name), fr.lc.T("f."+p.name)))
		}
		w.Collapsible = !f.required && ptr != ""
		w.Open = len(m) > 0 || fr.hasErrorsUnder(ptr) || len(w.Errors) > 0
	case kArray:
		w.Kind = "list"
		arr, _ := v.([]any)
		w.CountName, w.Count = "n:"+ptr, len(arr)
		for i, it := range arr {
			ip := ptr + "/" + strconv.Itoa(i)
			c := fr.render(f.item, it, ip, fr.itemLabel(f.name, i, it))
			c.Kind = "item"
			c.Collapsible = false
			c.Remove, c.RemoveLabel = "remove:"+ip, fr.lc.T("form.remove", c.Label)
			w.Children = append(w.Children, c)
		}
		if f.maxItems == 0 || len(arr) < f.maxItems {
			w.Add, w.AddLabel = "add:"+ptr, fr.lc.T("a."+f.name)
		}
	case kText:
		w.Kind, w.InputType, w.Value, w.MaxLen = "text", "text", str(v), f.maxLen
		if f.pattern != "" {
			w.Hint = fr.hint(f)
		}
	case kLongText:
		w.Kind, w.Value, w.MaxLen = "textarea", str(v), f.maxLen
	case kInt, kNumber:
		w.Kind, w.InputType, w.Value = "text", "number", numStr(v)
		w.Step = "1"
		if f.kind == kNumber {
			w.Step = "any"
		}
		if f.min != nil {
			w.Min = strconv.FormatFloat(*f.min, 'f', -1, 64)
		}
		if f.max != nil {
			w.Max = strconv.FormatFloat(*f.max, 'f', -1, 64)
		}
	case kEnum:
		w.Kind = "select"
		w.Options = fr.choices(f.enum, "e.", str(v), !f.required || v == nil)
	case kScript:
		w.Kind = "select"
		list := scripts
		if s := str(v); s != "" && !contains(list, s) {
			list = append(append([]string(nil), list...), s)
		}
		w.Options = fr.choices(list, "script.", str(v), true)
	case kBool:
		w.Kind = "select"
		cur := ""
		if b, ok := v.(bool); ok {
			cur = strconv.FormatBool(b)
		}
		w.Options = []option{{"", fr.lc.T("form.not_recorded"), cur == ""}, {"true", fr.lc.T("form.yes"), cur == "true"}, {"false", fr.lc.T("form.no"), cur == "false"}}
	case kPartialDate:
		w.Kind = "pdate"
		parts := strings.SplitN(str(v), "-", 3)
		w.Year = parts[0]
		month := ""
		if len(parts) > 1 {
			month = strings.TrimLeft(parts[1], "0")
		}
		if len(parts) > 2 {
			w.Day = strings.TrimLeft(parts[2], "0")
		}
		w.Options = append(w.Options, option{"", fr.lc.T("form.month_unknown"), month == ""})
		for m := 1; m <= 12; m++ {
			s := strconv.Itoa(m)
			w.Options = append(w.Options, option{s, fr.lc.T("month." + s), month == s})
		}
		w.Hint = fr.lc.T("form.hint_partial_date")
		w.YearLabel, w.MonthLabel, w.DayLabel = fr.lc.T("form.year"), fr.lc.T("form.month"), fr.lc.T("form.day")
	case kDate:
		w.Kind, w.InputType, w.Value = "text", "date", str(v)
	case kDateTime:
		w.Kind, w.InputType = "text", "datetime-local"
		if t, err := time.Parse(time.RFC3339, str(v)); err == nil {
			w.Value = t.UTC().Format("2006-01-02T15:04")
		}
		w.Hint = fr.lc.T("form.hint_utc")
	case kStringList:
		w.Kind = "textarea"
		arr, _ := v.([]any)
		lines := make([]string, 0, len(arr))
		for _, x := range arr {
			lines = append(lines, str(x))
		}
		w.Value = strings.Join(lines, "\n")
		w.Hint = fr.lc.T("form.hint_list")
		if f.item != nil && f.item.pattern != "" {
			w.Hint += " " + fr.hint(f.item)
		}
	case kEnumSet:
		w.Kind = "checks"
		w.Options = fr.choices(f.enum, "e.", "", false)
		markSelected(w.Options, v)
	case kPersonRef:
		w.Kind = "select"
		w.Options = append([]option{{"", fr.lc.T("form.none"), str(v) == ""}}, fr.personOptions(str(v))...)
	case kPersonSet:
		w.Kind = "checks"
		w.Options = fr.personOptions("")
		markSelected(w.Options, v)
	}
	return w
}

func (fr *formRender) hasErrorsUnder(ptr string) bool {
	for p := range fr.errs {
		if strings.HasPrefix(p, ptr+"/") {
			return true
		}
	}
	return false
}

// itemLabel names an array item: "Person 2 — Amira", "Name 1", ...
func (fr *formRender) itemLabel(list string, i int, it any) string {
	l := fr.lc.T("i."+list, i+1)
	if m, ok := it.(map[string]any); ok && list == "persons" {
		if n := firstName(m); n != "" {
			l += " — " + n
		}
	}
	return l
}

func (fr *formRender) choices(values []string, prefix, cur string, blank bool) []option {
	var out []option
	if blank {
		out = append(out, option{"", fr.lc.T("form.not_recorded"), cur == ""})
	}
	for _, v := range values {
		label := v
		if fr.lc.has(prefix + v) {
			label = fr.lc.T(prefix + v)
		}
		out = append(out, option{v, label, v == cur})
	}
	return out
}

func (fr *formRender) personOptions(cur string) []option {
	out := make([]option, len(fr.persons))
	copy(out, fr.persons)
	found := cur == ""
	for i := range out {
		out[i].Selected = out[i].Value == cur
		found = found || out[i].Selected
	}
	if !found {
		out = append(out, option{cur, cur, true})
	}
	return out
}

func markSelected(opts []option, v any) {
	arr, _ := v.([]any)
	for i := range opts {
		for _, x := range arr {
			if str(x) == opts[i].Value {
				opts[i].Selected = true
			}
		}
	}
}

// hint explains a pattern in words when the catalog has one for it.
func (fr *formRender) hint(f *field) string {
	switch f.pattern {
	case `^[A-Z]{2}$`:
		return fr.lc.T("form.hint_country")
	case `^[A-Z0-9][A-Z0-9-]{1,31}$`:
		return fr.lc.T("form.hint_member")
	case `^[a-z][a-z_]{1,63}$`:
		return fr.lc.T("form.hint_token")
	case `^[a-z0-9_-]{1,32}$`:
		return fr.lc.T("form.hint_person_id")
	case `^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,6}$`:
		return fr.lc.T("form.hint_lang")
	}
	return ""
}

func firstName(person map[string]any) string {
	names, _ := person["names"].([]any)
	var given, family, full string
	for _, n := range names {
		m, _ := n.(map[string]any)
		v, _ := m["value"].(string)
		switch m["part"] {
		case "given":
			if given == "" {
				given = v
			}
		case "family":
			if family == "" {
				family = v
			}
		default:
			if full == "" {
				full = v
			}
		}
	}
	if s := strings.TrimSpace(given + " " + family); s != "" {
		return s
	}
	return full
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func numStr(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// caseForm renders the whole case form from a document (decoded JSON) and
// violations by pointer. Violations no control took are returned for the
// summary at the top.
func (fsch *formSchema) caseForm(lc *locale, doc map[string]any, errs map[string][]string) (*widget, []string) {
	fr := &formRender{lc: lc, errs: map[string][]string{}}
	for k, v := range errs {
		fr.errs[k] = v
	}
	persons, _ := doc["persons"].([]any)
	for i, p := range persons {
		m, _ := p.(map[string]any)
		id, _ := m["id"].(string)
		if id == "" {
			continue
		}
		label := id
		if n := firstName(m); n != "" {
			label += " — " + n
		}
		_ = i
		fr.persons = append(fr.persons, option{Value: id, Label: label})
	}
	w := fr.render(fsch.root, doc, "", "")
	var rest []string
	keys := make([]string, 0, len(fr.errs))
	for k := range fr.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, m := range fr.errs[k] {
			rest = append(rest, fieldPath(lc, k)+": "+m)
		}
	}
	return w, rest
}

// fieldPath names a JSON pointer in words: /persons/1/names/0/value ->
// "Person 2 › Name 1 › Written form".
func fieldPath(lc *locale, ptr string) string {
	if ptr == "" {
		return lc.T("form.whole_document")
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	var out []string
	for i := 0; i < len(parts); i++ {
		p := strings.ReplaceAll(strings.ReplaceAll(parts[i], "~1", "/"), "~0", "~")
		if i+1 < len(parts) {
			if n, err := strconv.Atoi(parts[i+1]); err == nil && lc.has("i."+p) {
				out = append(out, lc.T("i."+p, n+1))
				i++
				continue
			}
		}
		if n, err := strconv.Atoi(p); err == nil && i > 0 {
			// An element of a list without a name of its own
			// (/sensitivity/0): counted from 1, as the persons are.
			out = append(out, lc.T("i.item", n+1))
			continue
		}
		if lc.has("f." + p) {
			out = append(out, lc.T("f."+p))
		} else {
			out = append(out, p)
		}
	}
	return strings.Join(out, " › ")
}
