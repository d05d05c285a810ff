package policy

import (
	"encoding/json"
	"strconv"
	"time"
)

// Helpers over a document decoded into generic JSON (map[string]any with
// json.Number). They never panic on unexpected shapes: a value of the wrong
// type reads as absent.

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string         { s, _ := v.(string); return s }
func isTrue(v any) bool        { b, _ := v.(bool); return b }

func strs(v any) []string {
	l := list(v)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func intVal(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		return i, err == nil
	case float64:
		return int64(x), x == float64(int64(x))
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// person is one element of a case's persons array.
type person struct {
	idx int
	m   map[string]any
	id  string
}

func persons(doc map[string]any) []person {
	l := list(doc["persons"])
	out := make([]person, 0, len(l))
	for i, e := range l {
		if m := obj(e); m != nil {
			out = append(out, person{idx: i, m: m, id: str(m["id"])})
		}
	}
	return out
}

func (p person) ptr(field ...string) string {
	toks := make([]any, 0, 2+len(field))
	toks = append(toks, "persons", p.idx)
	for _, f := range field {
		toks = append(toks, f)
	}
	return ptr(toks...)
}

func (p person) hasRole(r string) bool { return contains(strs(p.m["roles"]), r) }
func (p person) hasVuln(v string) bool { return contains(strs(p.m["vulnerabilities"]), v) }
func (p person) label() string {
	if p.id != "" {
		return p.id
	}
	return "#" + strconv.Itoa(p.idx)
}

// consent is one element of a case's consents array.
type consent struct {
	idx         int
	givenBy     string
	onBehalfOf  string
	capacity    string
	withdrawn   bool
	uses        []string
	members     []string
	countries   []string
	roles       []string
	nonMovement bool
}

func consents(doc map[string]any, now time.Time) []consent {
	l := list(doc["consents"])
	out := make([]consent, 0, len(l))
	for i, e := range l {
		m := obj(e)
		if m == nil {
			continue
		}
		sc := obj(m["scope"])
		c := consent{
			idx:         i,
			givenBy:     str(m["given_by"]),
			onBehalfOf:  str(m["on_behalf_of"]),
			capacity:    str(m["capacity"]),
			uses:        strs(sc["uses"]),
			members:     strs(sc["members"]),
			countries:   strs(sc["countries"]),
			roles:       strs(sc["roles"]),
			nonMovement: isTrue(sc["non_movement"]),
		}
		if w, ok := m["withdrawn_at"]; ok && w != nil {
			// A withdrawal dated in the future has not happened yet; an
			// unreadable one counts as withdrawn (fail closed).
			t, err := time.Parse(time.RFC3339, str(w))
			c.withdrawn = err != nil || !t.After(now)
		}
		out = append(out, c)
	}
	return out
}

// caringTypes are relationship types that link a child to the adults
// looking after it, not to its family: they do not verify family links.
var caringTypes = []string{"guardian", "caregiver", "foster_carer", "legal_guardian"}

// verifiedFamily reports whether the person is in a family relationship
// marked verified. Relationships to the person's guardian or caregiver (of
// that type, or with someone who is only a guardian or caregiver) do not
// count: they say nothing about the family being found.
func verifiedFamily(doc map[string]any, id string) bool {
	if id == "" {
		return false
	}
	roles := map[string][]string{}
	for _, p := range persons(doc) {
		roles[p.id] = strs(p.m["roles"])
	}
	for _, e := range list(doc["relationships"]) {
		r := obj(e)
		if r == nil || !isTrue(r["verified"]) || contains(caringTypes, str(r["type"])) {
			continue
		}
		other := ""
		switch id {
		case str(r["from"]):
			other = str(r["to"])
		case str(r["to"]):
			other = str(r["from"])
		default:
			continue
		}
		onlyCarer := true
		for _, role := range roles[other] {
			if role != "guardian" && role != "caregiver" {
				onlyCarer = false
			}
		}
		if !onlyCarer {
			return true
		}
	}
	return false
}
