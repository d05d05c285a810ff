package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Keywords of the violations found while decoding, before schema validation.
const (
	KeywordJSON         = "json"          // not well-formed JSON
	KeywordUTF8         = "utf8"          // not valid UTF-8
	KeywordDuplicateKey = "duplicate_key" // an object has the same member twice
	KeywordNUL          = "nul"           // a string contains U+0000
	KeywordSurrogate    = "surrogate"     // an unpaired UTF-16 surrogate escape
)

// maxDepth bounds the nesting of arrays and objects. FLX documents nest
// about 6 deep; encoding/json allows 10000.
const maxDepth = 512

// decodeStrict parses doc into the generic form the validator consumes
// (map[string]any, []any, string, json.Number, bool, nil).
//
// It accepts exactly the JSON texts of RFC 8259 (as encoding/json does, up
// to maxDepth) but is stricter about content, because a signed document is
// read by several parsers (validator, policy, store, peers) that must all
// see the same thing. It reports:
//   - invalid UTF-8 (encoding/json silently replaces it): one violation at "";
//   - a syntax error: one violation at "", with the byte offset;
//   - each duplicate object member (parsers disagree on which one wins;
//     the first is kept here), at the member;
//   - each string or member name holding U+0000 or an unpaired surrogate
//     escape such as \ud800 (PostgreSQL jsonb refuses both, so such a
//     document could never be stored), at the string.
//
// What is wrong inside the value of a duplicate member is not reported: that
// value is discarded. Nesting deeper than maxDepth is a syntax error.
//
// v is nil when the document could not be decoded at all.
func decodeStrict(doc []byte) (v any, violations []Violation) {
	if !utf8.Valid(doc) {
		return nil, []Violation{{Pointer: "", Keyword: KeywordUTF8, Message: "document is not valid UTF-8"}}
	}
	// One copy of the document: the strings without escapes, member
	// names and numbers of the tree are substrings of it.
	sc := scratchPool.Get().(*parserScratch)
	p := jsonParser{data: doc, src: string(doc), path: sc.path, buf: sc.buf, members: sc.members, elems: sc.elems}
	v, err := p.document()
	sc.keep(&p)
	if err != nil {
		return nil, []Violation{{Pointer: "", Keyword: KeywordJSON, Message: err.Error()}}
	}
	return v, p.violations
}

// parserScratch is the memory a jsonParser reuses from one document to the
// next: its stacks and buffer.
type parserScratch struct {
	path    []string
	buf     []byte
	members []member
	elems   []any
}

var scratchPool = sync.Pool{New: func() any { return new(parserScratch) }}

// maxScratch bounds the stacks kept for the next document (a huge
// document's are left to the garbage collector).
const maxScratch = 4096

// keep puts p's stacks back into sc, wiped so that nothing of the document
// outlives the call, and sc into the pool.
func (sc *parserScratch) keep(p *jsonParser) {
	if cap(p.path) > maxScratch || cap(p.buf) > 16*maxScratch || cap(p.members) > maxScratch || cap(p.elems) > maxScratch {
		return
	}
	sc.path, sc.buf = wipe(p.path), wipe(p.buf)
	sc.members, sc.elems = wipe(p.members), wipe(p.elems)
	scratchPool.Put(sc)
}

// wipe zeroes all of s's capacity and returns it empty.
func wipe[E any](s []E) []E {
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

type jsonParser struct {
	data       []byte
	src        string // data as a string
	pos        int
	depth      int
	path       []string // unescaped tokens of the current value
	violations []Violation
	buf        []byte // scratch for strings with escapes
	// members and elems are stacks of the members and elements of the
	// objects and arrays being read, so that each map and slice of the
	// tree is allocated once, at its final size.
	members []member
	elems   []any
}

type member struct {
	name string
	val  any
}

// maxScanMembers is how many members of an object are kept on the stack
// (duplicates found by comparing names) before the object's map is built.
const maxScanMembers = 16

// syntaxError describes a malformed document without quoting it.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.offset, e.msg)
}

func (p *jsonParser) fail(msg string) error { return &syntaxError{msg: msg, offset: p.pos} }

func (p *jsonParser) document() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.fail("data after the top-level value")
	}
	return v, nil
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, flags, err := p.str()
		p.stringViolations(flags)
		if err != nil {
			return nil, err
		}
		return boxString(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.fail("unexpected character, looking for a value")
}

func (p *jsonParser) literal(lit string) error {
	if !strings.HasPrefix(p.src[p.pos:], lit) {
		return p.fail("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail(fmt.Sprintf("nesting deeper than %d", maxDepth))
	}
	p.pos++ // '{' or '['
	return nil
}

func (p *jsonParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return map[string]any{}, nil
	}
	// The members are kept on p.members from base until the object ends
	// or has more than maxScanMembers members; then in obj.
	var obj map[string]any
	base := len(p.members)
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail("expected a member name")
		}
		key, flags, err := p.str()
		if err != nil {
			return nil, err
		}
		p.path = append(p.path, key)
		p.stringViolations(flags) // a bad member name is reported at the member
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail("expected ':' after a member name")
		}
		p.pos++
		var dup bool
		if obj != nil {
			_, dup = obj[key]
		} else {
			for _, m := range p.members[base:] {
				if m.name == key {
					dup = true
					break
				}
			}
		}
		if dup {
			p.addViolation(KeywordDuplicateKey, "duplicate object member")
		}
		mark := len(p.violations)
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if dup {
			// The value is discarded: what is wrong inside it would point
			// at the first member's value.
			p.violations = p.violations[:mark]
		} else if obj != nil {
			obj[key] = v
		} else if p.members = append(p.members, member{key, v}); len(p.members)-base > maxScanMembers {
			obj = p.popMembers(base, 2*maxScanMembers)
		}
		p.path = p.path[:len(p.path)-1]
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			if obj == nil {
				obj = p.popMembers(base, 0)
			}
			return obj, nil
		default:
			return nil, p.fail("expected ',' or '}' in an object")
		}
	}
}

// popMembers returns a map of the members on the stack from base, with room
// for at least size members, and pops them.
func (p *jsonParser) popMembers(base, size int) map[string]any {
	ms := p.members[base:]
	obj := make(map[string]any, max(size, len(ms)))
	for _, m := range ms {
		obj[m.name] = m.val
	}
	clear(ms) // the stack must not keep the values alive
	p.members = p.members[:base]
	return obj
}

func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	base := len(p.elems)
	for i := 0; ; i++ {
		p.path = append(p.path, itoa(i))
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.elems = append(p.elems, v)
		p.path = p.path[:len(p.path)-1]
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail("unexpected end of input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			arr := slices.Clone(p.elems[base:])
			clear(p.elems[base:])
			p.elems = p.elems[:base]
			return arr, nil
		default:
			return nil, p.fail("expected ',' or ']' in an array")
		}
	}
}

// number scans an RFC 8259 number and returns it as a json.Number.
func (p *jsonParser) number() (any, error) {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		p.digits()
	default:
		return nil, p.fail("invalid number")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.fail("invalid number: no digits after '.'")
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.fail("invalid number: no digits in the exponent")
		}
	}
	return json.Number(p.src[start:p.pos]), nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// Flags returned by str for content that is well-formed JSON but refused.
const (
	strNUL  = 1 << iota // U+0000
	strLone             // an unpaired surrogate escape
)

// str scans a string starting at '"' and returns its value, with flags for
// U+0000 and unpaired surrogates (which decode to U+FFFD, as in
// encoding/json).
func (p *jsonParser) str() (string, int, error) {
	p.pos++ // opening quote
	start := p.pos
	d := p.data
	// Fast path: no escapes.
	for p.pos < len(d) {
		c := d[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			p.pos++
			return s, 0, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", 0, p.fail("control character in a string")
		}
		p.pos++
	}
	buf := append(p.buf[:0], d[start:p.pos]...)
	flags := 0
	for {
		if p.pos >= len(d) {
			return "", 0, p.fail("unexpected end of input in a string")
		}
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.buf = buf
			return string(buf), flags, nil
		case c < 0x20:
			return "", 0, p.fail("control character in a string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		// Escape.
		if p.pos+1 >= len(d) {
			return "", 0, p.fail("unexpected end of input in a string")
		}
		e := d[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", 0, p.fail(`invalid \u escape`)
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if r < 0xDC00 && p.pos+1 < len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					var ok2 bool
					if r2, ok2 = p.hex4(); !ok2 {
						return "", 0, p.fail(`invalid \u escape`)
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						r2 = -2 // paired
					} else {
						p.pos = save // the second escape stands on its own
					}
				}
				if r2 != -2 {
					flags |= strLone
					r = utf8.RuneError
				}
			}
			if r == 0 {
				flags |= strNUL
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", 0, p.fail("invalid escape in a string")
		}
	}
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *jsonParser) addViolation(keyword, msg string) {
	p.violations = append(p.violations, Violation{Pointer: pointerOf(p.path), Keyword: keyword, Message: msg})
}

// stringViolations reports refused string content at the current path.
func (p *jsonParser) stringViolations(flags int) {
	if flags&strNUL != 0 {
		p.addViolation(KeywordNUL, "string contains U+0000")
	}
	if flags&strLone != 0 {
		p.addViolation(KeywordSurrogate, `string contains an unpaired UTF-16 surrogate escape (\uD800-\uDFFF)`)
	}
}
