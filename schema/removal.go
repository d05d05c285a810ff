package schema

import (
	"slices"
	"strconv"
)

// RemovalsKeepValid reports whether removing the members and items at
// removals from doc certainly leaves a document valid against schema v1,
// without checking the result: doc is the tree of a document of kind k
// that Validate accepted (as ValidateObject returned it, before any
// removal), and removals are pointers into it as unescaped tokens, each
// naming a member or item that exists, none under another (as the policy
// removes its redactions).
//
// A removal changes only the objects and arrays it removes from, so it can
// only break what those require of their members and items: required,
// minProperties, dependentRequired, minItems. That holds when no schema
// applying to them or to their ancestors reads deeper than them (if, not,
// enum, const, uniqueItems over changed items, or a keyword the fast check
// does not implement); where one does, the answer is false. false means
// only "not shown here": the caller checks the document itself
// ([TreeValid], [Validate]). TestRemovalsKeepValid compares it with
// jsonschema over many removals, including ones that break the document.
func RemovalsKeepValid[P ~[]string](k Kind, doc map[string]any, removals []P) bool {
	schemas, err := fastSchemas()
	if err != nil {
		return false
	}
	root, ok := schemas[k]
	if !ok || doc == nil {
		return false
	}
	var at, next []*fastSchema
	for i, p := range removals {
		if len(p) == 0 {
			return false
		}
		parent := p[:len(p)-1]
		if slices.ContainsFunc(removals[:i], func(q P) bool { return len(q) > 0 && slices.Equal(q[:len(q)-1], parent) }) {
			continue // this parent was checked with its first removal
		}
		// The schemas applying to each value from the root to the parent.
		var v any = doc
		if at, ok = closure(root, at[:0]); !ok {
			return false
		}
		for _, tok := range parent {
			next = next[:0]
			switch x := v.(type) {
			case map[string]any:
				if v, ok = x[tok]; !ok {
					return false
				}
				for _, s := range at {
					if sub, ok := s.props[tok]; ok {
						next = append(next, sub)
					} else if s.additionalFalse {
						return false
					} else if s.additional != nil {
						next = append(next, s.additional)
					}
				}
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != tok {
					return false
				}
				v = x[i]
				for _, s := range at {
					if s.uniqueItems { // items under it change: two may become equal
						return false
					}
					if s.items != nil {
						next = append(next, s.items)
					}
				}
			default:
				return false
			}
			at = at[:0]
			for _, s := range next {
				if at, ok = closure(s, at); !ok {
					return false
				}
			}
		}
		if !keepsValid(v, at, removals[i:], parent) {
			return false
		}
	}
	return true
}

// maxClosure bounds the schemas closure follows through $ref and allOf
// (schema v1 has a few; a cycle would be a schema that refers to itself
// without consuming a token).
const maxClosure = 64

// closure appends s and the schemas it applies through $ref and allOf to
// out; ok is false when one of them reads its value deeper than its own
// members (see RemovalsKeepValid) or is not one the fast check knows.
func closure(s *fastSchema, out []*fastSchema) ([]*fastSchema, bool) {
	if s == nil {
		return out, true
	}
	if len(out) >= maxClosure || s.unsupported || s.ifS != nil || s.not != nil || s.enum != nil || s.constVals != nil || s.format != nil {
		return out, false
	}
	if s.boolSchema != nil {
		return out, *s.boolSchema
	}
	out = append(out, s)
	var ok bool
	if out, ok = closure(s.ref, out); !ok {
		return out, false
	}
	for _, a := range s.allOf {
		if out, ok = closure(a, out); !ok {
			return out, false
		}
	}
	return out, true
}

// keepsValid reports whether removing, from v (an object or array that
// the schemas at validate), the member or item named by the last token of
// each removal whose parent is parent, keeps what those schemas require
// of v's members and items.
func keepsValid[P ~[]string](v any, at []*fastSchema, removals []P, parent []string) bool {
	removed := func(tok string) bool {
		for _, q := range removals {
			if len(q) == len(parent)+1 && q[len(q)-1] == tok && slices.Equal(q[:len(parent)], parent) {
				return true
			}
		}
		return false
	}
	n := 0 // removals from v, each of a member or item that is there
	for _, q := range removals {
		if len(q) != len(parent)+1 || !slices.Equal(q[:len(parent)], parent) {
			continue
		}
		n++
		tok := q[len(q)-1]
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x[tok]; !ok {
				return false
			}
		case []any:
			if i, err := strconv.Atoi(tok); err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != tok {
				return false
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, s := range at {
			if s.minProps >= 0 && len(x)-n < s.minProps {
				return false
			}
			for _, name := range s.required {
				if removed(name) {
					return false
				}
			}
			for trigger, reqd := range s.dependentRequired {
				if _, there := x[trigger]; !there || removed(trigger) {
					continue
				}
				for _, name := range reqd {
					if removed(name) {
						return false
					}
				}
			}
		}
		return true
	case []any:
		for _, s := range at {
			if s.minItems >= 0 && len(x)-n < s.minItems {
				return false
			}
		}
		return true
	}
	return false
}
