package policy

import (
	"encoding/json"
	"strconv"
	"strings"
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

// ptr is ptr("persons", p.idx, field...), written without a token list.
func (p person) ptr(field ...string) string {
	var buf [64]byte
	b := strconv.AppendInt(append(buf[:0], "/persons/"...), int64(p.idx), 10)
	for _, f := range field {
		b = appendToken(append(b, '/'), f)
	}
	return string(b)
}

func (p person) hasRole(r string) bool { return hasString(p.m["roles"], r) }
func (p person) hasVuln(v string) bool { return hasString(p.m["vulnerabilities"], v) }

// hasString is contains(strs(v), s) without making the list.
func hasString(v any, s string) bool {
	for _, e := range list(v) {
		if x, ok := e.(string); ok && x == s {
			return true
		}
	}
	return false
}
func (p person) label() string {
	if p.id != "" {
		return p.id
	}
	return "#" + strconv.Itoa(p.idx)
}

// consent is one element of a case's consents array.
type consent struct {
	idx        int
	id         string
	givenBy    string
	onBehalfOf string
	capacity   string
	withdrawn  bool // withdrawn_at is in the past (or unreadable)
	inForce    bool // given (given_at readable and not in the future) and not withdrawn
	uses       []string
	members    []string
	countries  []string
	roles      []string
	// listed says which of the lists members, countries and roles the
	// scope gives: a list given covers only what it names (an empty one,
	// nothing); a list not given says nothing about its dimension.
	listed      map[string]bool
	nonMovement bool
}

// consents reads a case's consent records. A consent is in force only when
// its given_at is present, readable and not after now, and it has not been
// withdrawn: a consent dated in the future, or undated, has not been given
// yet (fail closed). A withdrawal dated in the future has not happened yet;
// an unreadable one counts as withdrawn.
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
			id:          str(m["id"]),
			givenBy:     str(m["given_by"]),
			onBehalfOf:  str(m["on_behalf_of"]),
			capacity:    str(m["capacity"]),
			uses:        strs(sc["uses"]),
			members:     strs(sc["members"]),
			countries:   strs(sc["countries"]),
			roles:       strs(sc["roles"]),
			listed:      map[string]bool{},
			nonMovement: isTrue(sc["non_movement"]),
		}
		for _, k := range []string{"members", "countries", "roles"} {
			if v, ok := sc[k]; ok && v != nil {
				c.listed[k] = true
			}
		}
		if w, ok := m["withdrawn_at"]; ok && w != nil {
			t, err := time.Parse(time.RFC3339, str(w))
			c.withdrawn = err != nil || !t.After(now)
		}
		given := false
		if g, ok := m["given_at"]; ok {
			t, err := time.Parse(time.RFC3339, str(g))
			given = err == nil && !t.After(now)
		}
		c.inForce = given && !c.withdrawn
		out = append(out, c)
	}
	return out
}

// Relationship types that describe looking after someone rather than
// family: a carer's verified link to a child says nothing about the family
// being found. Types are free tokens, so they are matched by their parts.
var carerTypeParts = []string{"guardian", "carer", "caregiver", "caretaker", "foster", "custod", "tutor", "host", "warden", "keeper", "nanny"}

// parentTypes make the from person a parent or legal guardian of to.
var parentTypes = []string{"mother", "father", "parent", "legal_guardian"}

func carerType(t string) bool {
	for _, p := range carerTypeParts {
		if strings.Contains(t, p) {
			return true
		}
	}
	return false
}

// carerRole reports whether a person's roles make them someone who looks
// after others (whatever the case calls it).
func carerRole(p person) bool {
	return p.hasRole("caregiver") || p.hasRole("guardian")
}

// carersOf returns the ids of the people who look after p: p's recorded
// guardian, anyone with a carer role when p is a child, and anyone linked
// to p by a caring relationship type (guardian, caregiver, foster carer,
// ...), whatever their role is called.
func carersOf(doc map[string]any, p person, child bool) []string {
	var out []string
	add := func(id string) {
		if id != "" && id != p.id && !contains(out, id) {
			out = append(out, id)
		}
	}
	add(str(p.m["guardian"]))
	if child {
		for _, q := range persons(doc) {
			if carerRole(q) {
				add(q.id)
			}
		}
	}
	for _, e := range list(doc["relationships"]) {
		r := obj(e)
		if r == nil || !carerType(str(r["type"])) {
			continue
		}
		switch p.id {
		case str(r["to"]):
			add(str(r["from"]))
		case str(r["from"]):
			// "from is the <type> of to": p looks after to; the link
			// still ties the two, so the other side is not family.
		}
	}
	return out
}

// verifiedLink reports whether the relationship between a vulnerable
// person and the person looking for them is verified: a verified
// relationship ties p to an enquirer of the case (when p is the enquirer,
// to a sought person), or to p's parent or legal guardian (from the parent
// to p); and that person is not a carer (a carer role, or a caring type of
// relationship such as guardian, caregiver or foster carer). Any other
// verified relationship in the case does not count.
func verifiedLink(doc map[string]any, p person) bool {
	if p.id == "" {
		return false
	}
	byID := map[string]person{}
	for _, q := range persons(doc) {
		byID[q.id] = q
	}
	for _, e := range list(doc["relationships"]) {
		r := obj(e)
		if r == nil || r["verified"] != true {
			continue
		}
		from, to, typ := str(r["from"]), str(r["to"]), str(r["type"])
		var other string
		switch p.id {
		case from:
			other = to
		case to:
			other = from
		default:
			continue
		}
		// A carer (by role, or by the type of this link) never verifies
		// the family; a recorded guardian who is the enquirer or a parent
		// does.
		q, ok := byID[other]
		if !ok || other == p.id || carerRole(q) || (carerType(typ) && typ != "legal_guardian") {
			continue
		}
		seeker := q.hasRole("enquirer") || (p.hasRole("enquirer") && q.hasRole("sought_person"))
		parent := from == other && contains(parentTypes, typ)
		if seeker || parent {
			return true
		}
	}
	return false
}
