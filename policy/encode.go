package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// appendJSON appends the generic JSON value v (a document tree: objects,
// arrays, strings, json.Number, bools, null) to b exactly as encode
// writes it (encoding/json with HTML escaping off: members in name order,
// control characters, invalid UTF-8, U+2028 and U+2029 escaped as it
// escapes them), without its reflection and map iteration. ok is false
// for anything else (another type, a number that is not a JSON number),
// which the caller leaves to encode. FuzzAppendJSON holds the two equal.
func appendJSON(b []byte, v any, keys *[]member) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		if x {
			return append(b, "true"...), true
		}
		return append(b, "false"...), true
	case string:
		return appendJSONString(b, x), true
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0"
		}
		if !validNumber(s) {
			return b, false
		}
		return append(b, s...), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		base := len(*keys)
		*keys = appendMembers(*keys, x)
		b = append(b, '{')
		ok := true
		for i := base; i < base+len(x); i++ {
			mb := (*keys)[i]
			if i > base {
				b = append(b, ',')
			}
			b = appendJSONString(b, mb.name)
			b = append(b, ':')
			if b, ok = appendJSON(b, mb.val, keys); !ok {
				break
			}
		}
		clear((*keys)[base:])
		*keys = (*keys)[:base]
		return append(b, '}'), ok
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSON(b, e, keys); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// member is one member of an object.
type member struct {
	name string
	val  any
}

// appendMembers appends the members of m to stack in name order: one
// pass over the map, no lookup per name.
func appendMembers(stack []member, m map[string]any) []member {
	base := len(stack)
	for k, v := range m {
		stack = append(stack, member{k, v})
	}
	ms := stack[base:]
	if len(ms) <= 24 {
		// Insertion sort: the names are distinct, so any sort gives this
		// order; small objects are the common case.
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && ms[j].name < ms[j-1].name; j-- {
				ms[j], ms[j-1] = ms[j-1], ms[j]
			}
		}
		return stack
	}
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
	return stack
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping
// off.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// validNumber reports whether s is a JSON number (RFC 8259), as
// encoding/json checks a json.Number before writing it.
func validNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// encodeTree is encode for a document tree: appendJSON when it can, else
// encode (with its error).
func encodeTree(v any, sizeHint int) ([]byte, error) {
	keys := memberStacks.Get().(*[]member)
	b, ok := appendJSON(make([]byte, 0, sizeHint), v, keys)
	if cap(*keys) <= maxMemberStack {
		*keys = (*keys)[:0] // appendJSON cleared what it used
		memberStacks.Put(keys)
	}
	if ok {
		return b, nil
	}
	return encode(v)
}

// memberStacks holds the stacks appendJSON sorts members on, so that
// encoding a document does not grow one from nothing.
var memberStacks = sync.Pool{New: func() any { s := make([]member, 0, 64); return &s }}

// maxMemberStack bounds the stacks kept (an odd document's are left to the
// garbage collector).
const maxMemberStack = 1024
