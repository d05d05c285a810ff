package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A pointer is a parsed RFC 6901 JSON pointer: the reference tokens with
// "~1" and "~0" already unescaped.
type pointer []string

// parsePointer parses an RFC 6901 JSON pointer. The empty string (the whole
// document) is rejected: policy never removes the whole document.
func parsePointer(s string) (pointer, error) {
	return appendPointer(make(pointer, 0, strings.Count(s, "/")), s)
}

// appendPointer is parsePointer appending the tokens to dst (a caller's
// stack array, so that a pointer looked up once is not allocated).
func appendPointer(dst pointer, s string) (pointer, error) {
	if s == "" {
		return nil, fmt.Errorf("empty JSON pointer (the whole document) cannot be redacted")
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must start with /", s)
	}
	for rest := s[1:]; ; {
		p := rest
		i := strings.IndexByte(rest, '/')
		if i >= 0 {
			p, rest = rest[:i], rest[i+1:]
		}
		if strings.Contains(p, "~") {
			for j := 0; j < len(p); j++ {
				if p[j] == '~' && (j+1 >= len(p) || (p[j+1] != '0' && p[j+1] != '1')) {
					return nil, fmt.Errorf("JSON pointer %q: bad escape in %q (only ~0 and ~1)", s, p)
				}
			}
			p = strings.ReplaceAll(p, "~1", "/")
			p = strings.ReplaceAll(p, "~0", "~")
		}
		dst = append(dst, p)
		if i < 0 {
			return dst, nil
		}
	}
}

// String formats the pointer with RFC 6901 escaping.
func (p pointer) String() string {
	n := 0
	for _, t := range p {
		n += 1 + len(t)
	}
	var b strings.Builder
	b.Grow(n) // once, unless a token needs escapes
	for _, t := range p {
		b.WriteByte('/')
		if needsEscape(t) {
			t = strings.ReplaceAll(t, "~", "~0")
			t = strings.ReplaceAll(t, "/", "~1")
		}
		b.WriteString(t)
	}
	return b.String()
}

// needsEscape reports whether the reference token t holds "~" or "/":
// strings.ContainsAny(t, "~/") without building its set of bytes for every
// call (the free-text rule asks it of every member it walks).
func needsEscape(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c == '~' || c == '/' {
			return true
		}
	}
	return false
}

// escapeToken escapes one reference token (RFC 6901).
func escapeToken(t string) string {
	if needsEscape(t) {
		t = strings.ReplaceAll(t, "~", "~0")
		t = strings.ReplaceAll(t, "/", "~1")
	}
	return t
}

// appendToken appends one reference token, escaped (RFC 6901), to b.
func appendToken(b []byte, t string) []byte {
	if !needsEscape(t) {
		return append(b, t...)
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '~':
			b = append(b, '~', '0')
		case '/':
			b = append(b, '~', '1')
		default:
			b = append(b, t[i])
		}
	}
	return b
}

// ptr builds a pointer string from tokens (ints become array indices).
func ptr(tokens ...any) string {
	var buf [64]byte
	b := buf[:0]
	for _, t := range tokens {
		b = append(b, '/')
		switch v := t.(type) {
		case string:
			b = appendToken(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		default:
			panic(fmt.Sprintf("policy: bad pointer token %T", t))
		}
	}
	return string(b)
}

// atoi is strconv.Atoi without the allocation of its error for a token
// that cannot be a number (a member name): Atoi accepts only an optional
// sign and decimal digits, so anything else fails here at once, and the
// rest is Atoi's own answer.
func atoi(tok string) (int, error) {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; (c < '0' || c > '9') && c != '+' && c != '-' {
			return 0, errNotNumber
		}
	}
	return strconv.Atoi(tok)
}

var errNotNumber = errors.New("not a number")

// arrayIndex parses an RFC 6901 array index: "0" or a decimal number without
// a leading zero.
func arrayIndex(tok string, n int) (int, bool) {
	if tok == "" || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i >= n {
		return 0, false
	}
	return i, true
}

// lookup returns the value the pointer refers to in a generic JSON value.
func lookup(doc any, p pointer) (any, bool) {
	cur := doc
	for _, tok := range p {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, ok := arrayIndex(tok, len(v))
			if !ok {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// exists reports whether the pointer (string form) refers to a value.
func exists(doc any, s string) bool {
	if s == "" || s[0] != '/' || strings.IndexByte(s, '~') >= 0 {
		// Not a pointer, or one with escapes: parsed in full.
		p, err := parsePointer(s)
		if err != nil {
			return false
		}
		_, ok := lookup(doc, p)
		return ok
	}
	// lookup token by token, without making the token list.
	cur := doc
	for rest := s[1:]; ; {
		tok := rest
		i := strings.IndexByte(rest, '/')
		if i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		}
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return false
			}
			cur = next
		case []any:
			j, ok := arrayIndex(tok, len(v))
			if !ok {
				return false
			}
			cur = v[j]
		default:
			return false
		}
		if i < 0 {
			return true
		}
	}
}

// expandWildcards resolves a pointer pattern in which a "*" token matches
// every key of an object or every element of an array. It returns the
// pointers that exist in doc. A pattern without "*" yields itself if it
// exists.
func expandWildcards(doc any, pattern pointer) []string {
	var out []string
	var ex expander
	ex.each(doc, pattern, func(p []byte) { out = append(out, string(p)) })
	return out
}

// expander resolves pointer patterns (expandWildcards), reusing its
// buffers from one pattern to the next: the pointer being built (escaped
// as pointer.String escapes) and the members of the objects a "*" walks.
type expander struct {
	buf  []byte
	keys []member
}

// each calls found with every pointer of doc the pattern matches, in
// expandWildcards' order; the bytes are valid only during the call.
func (x *expander) each(doc any, pattern pointer, found func([]byte)) {
	x.buf = x.buf[:0]
	var walk func(cur any, i int)
	walk = func(cur any, i int) {
		if i == len(pattern) {
			found(x.buf)
			return
		}
		tok := pattern[i]
		n := len(x.buf)
		switch v := cur.(type) {
		case map[string]any:
			if tok == "*" {
				base := len(x.keys)
				x.keys = appendMembers(x.keys, v)
				for j := base; j < base+len(v); j++ {
					mb := x.keys[j]
					x.buf = appendToken(append(x.buf, '/'), mb.name)
					walk(mb.val, i+1)
					x.buf = x.buf[:n]
				}
				clear(x.keys[base:])
				x.keys = x.keys[:base]
				return
			}
			if next, ok := v[tok]; ok {
				x.buf = appendToken(append(x.buf, '/'), tok)
				walk(next, i+1)
				x.buf = x.buf[:n]
			}
		case []any:
			if tok == "*" {
				for j := range v {
					x.buf = strconv.AppendInt(append(x.buf, '/'), int64(j), 10)
					walk(v[j], i+1)
					x.buf = x.buf[:n]
				}
				return
			}
			if j, ok := arrayIndex(tok, len(v)); ok {
				x.buf = appendToken(append(x.buf, '/'), tok)
				walk(v[j], i+1)
				x.buf = x.buf[:n]
			}
		}
	}
	walk(doc, 0)
}

// tokenPrefix returns the number of tokens of the pointer p when it is a
// prefix of, or equal to, the pointer q (as parsePointer(p).isPrefixOf(
// parsePointer(q)) says), else -1. Both must be well-formed and written
// as pointer.String writes them (so a token holds no "/"): then token
// prefixes are the string prefixes that end at a "/" or at q's end.
func tokenPrefix(p, q string) int {
	if !strings.HasPrefix(q, p) || (len(q) > len(p) && q[len(p)] != '/') {
		return -1
	}
	return strings.Count(p, "/")
}

// secondToken returns the second reference token of the pointer s as
// written (escapes not undone), if it has one.
func secondToken(s string) (string, bool) {
	if s == "" || s[0] != '/' {
		return "", false
	}
	rest := s[1:]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", false
	}
	rest = rest[i+1:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest, true
}

// isPrefix reports whether a is a proper or equal prefix of b.
func (p pointer) isPrefixOf(q pointer) bool {
	if len(p) > len(q) {
		return false
	}
	for i := range p {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// comparePointers orders pointers token by token, numeric tokens by value,
// so /persons/2 sorts before /persons/10.
func comparePointers(a, b pointer) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		ai, aerr := atoi(a[i])
		bi, berr := atoi(b[i])
		if aerr == nil && berr == nil {
			if ai < bi {
				return -1
			}
			return 1
		}
		if aerr == nil { // numbers before names
			return -1
		}
		if berr == nil {
			return 1
		}
		return strings.Compare(a[i], b[i])
	}
	return len(a) - len(b)
}

// comparePointerStrings is comparePointers on the parsed pointers a and b
// (a pointer that does not parse compares as the empty one), token by
// token without making the token lists; a pointer with an escape is
// parsed in full.
func comparePointerStrings(a, b string) int {
	if !plainPointer(a) || !plainPointer(b) {
		pa, _ := parsePointer(a)
		pb, _ := parsePointer(b)
		return comparePointers(pa, pb)
	}
	a, b = a[1:], b[1:]
	for {
		ta, ra, moreA := nextToken(a)
		tb, rb, moreB := nextToken(b)
		if ta != tb {
			ai, aerr := atoi(ta)
			bi, berr := atoi(tb)
			if aerr == nil && berr == nil {
				if ai < bi {
					return -1
				}
				return 1
			}
			if aerr == nil {
				return -1
			}
			if berr == nil {
				return 1
			}
			return strings.Compare(ta, tb)
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = ra, rb
	}
}

// plainPointer reports whether s is a pointer (not the whole document)
// without escapes.
func plainPointer(s string) bool {
	return s != "" && s[0] == '/' && strings.IndexByte(s, '~') < 0
}

// nextToken splits the first token off s (a pointer without its leading
// "/"); more is false when it was the last.
func nextToken(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// minimalPointers parses, de-duplicates and sorts a set of pointers and drops
// every pointer that lies under another pointer of the set (removing the
// ancestor removes it too).
func minimalPointers(in []string) ([]pointer, error) {
	ps := make([]pointer, 0, len(in))
	// The tokens of all of them in one array, each pointer its own part
	// with no room after it.
	n := 0
	for _, s := range in {
		n += strings.Count(s, "/")
	}
	toks := make([]string, 0, n)
	for _, s := range in {
		start := len(toks)
		var err error
		if toks, err = appendPointer(toks, s); err != nil {
			return nil, err
		}
		ps = append(ps, pointer(toks[start:len(toks):len(toks)]))
	}
	slices.SortFunc(ps, comparePointers)
	out := ps[:0]
	for _, p := range ps {
		// Sorted order puts an ancestor before all its descendants.
		if len(out) > 0 && out[len(out)-1].isPrefixOf(p) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// removeAll removes every pointer (a minimal, sorted set as returned by
// minimalPointers) from doc. Pointers are interpreted against the input
// document: removals run from the last pointer to the first so that removing
// an array element never shifts an index that is still to be removed.
// The (possibly new) root is returned.
func removeAll(doc any, ps []pointer) (any, error) {
	for i := len(ps) - 1; i >= 0; i-- {
		var err error
		doc, err = remove(doc, ps[i])
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// remove deletes the value at p from doc (an object key or an array element).
func remove(doc any, p pointer) (any, error) {
	if len(p) == 0 {
		return nil, fmt.Errorf("cannot remove the whole document")
	}
	parent, ok := lookup(doc, p[:len(p)-1])
	if !ok {
		return nil, fmt.Errorf("redaction %s: parent does not exist", p)
	}
	last := p[len(p)-1]
	switch v := parent.(type) {
	case map[string]any:
		if _, ok := v[last]; !ok {
			return nil, fmt.Errorf("redaction %s: no such member", p)
		}
		delete(v, last)
		return doc, nil
	case []any:
		i, ok := arrayIndex(last, len(v))
		if !ok {
			return nil, fmt.Errorf("redaction %s: no such array element", p)
		}
		nv := append(v[:i:i], v[i+1:]...)
		// Store the shortened slice back into its own parent.
		gp := p[:len(p)-1]
		if len(gp) == 0 {
			return nv, nil
		}
		holder, _ := lookup(doc, gp[:len(gp)-1])
		switch h := holder.(type) {
		case map[string]any:
			h[gp[len(gp)-1]] = nv
		case []any:
			j, _ := arrayIndex(gp[len(gp)-1], len(h))
			h[j] = nv
		}
		return doc, nil
	default:
		return nil, fmt.Errorf("redaction %s: parent is not an object or array", p)
	}
}

// leafStrings collects every string (object keys excluded) at or under v.
func leafStrings(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]any:
		for _, e := range x {
			out = leafStrings(e, out)
		}
	case []any:
		for _, e := range x {
			out = leafStrings(e, out)
		}
	}
	return out
}
