package federation

import "encoding/binary"

// scanJSON reports whether data is exactly one valid JSON value, as
// json.Valid decides it (up to maxJSONDepth of nesting, invalid UTF-8 inside
// strings accepted), and, when it is, whether it is already in the form
// json.Marshal writes a json.RawMessage in: no whitespace between tokens,
// and no <, >, & or U+2028/U+2029 (which json.Marshal escapes). It walks
// the bytes once; encoding/json's state machine took about as long as the
// Ed25519 check of a 3 KB envelope, once when claims are signed (Marshal
// compacts the body) and once when they are verified (Valid).
func scanJSON(data []byte) (valid, marshaled bool) {
	s := jsonScan{data: data, marshaled: true}
	s.space()
	if !s.value(0) {
		return false, false
	}
	s.space()
	if s.i != len(data) {
		return false, false
	}
	return true, s.marshaled
}

// value reads one JSON value starting at s.i (no whitespace before it) and
// leaves s.i just past it. depth is the number of containers already open
// around it (maxJSONDepth counts those too).
func (s *jsonScan) value(depth int) bool {
	data := s.data
	var stackBuf [32]byte
	stack := stackBuf[:0] // '{' or '[' of each open container
	for {
		// A value is expected at s.i.
		if s.i >= len(data) {
			return false
		}
		switch c := data[s.i]; {
		case c == '{' || c == '[':
			if depth+len(stack) >= maxJSONDepth {
				return false
			}
			s.i++
			s.space()
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			if s.i < len(data) && data[s.i] == end {
				s.i++
				break // an empty container is a complete value
			}
			stack = append(stack, c)
			if c == '{' && !s.member() {
				return false
			}
			continue // its first value
		case c == '"':
			if !s.str() {
				return false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if !s.number() {
				return false
			}
		case c == 't':
			if !s.literal("true") {
				return false
			}
		case c == 'f':
			if !s.literal("false") {
				return false
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		default:
			return false
		}
		// A value ended: close containers, or go on to the next value.
		for {
			if len(stack) == 0 {
				return true
			}
			s.space()
			if s.i >= len(data) {
				return false
			}
			top, c := stack[len(stack)-1], data[s.i]
			if (top == '{' && c == '}') || (top == '[' && c == ']') {
				s.i++
				stack = stack[:len(stack)-1]
				continue
			}
			if c != ',' {
				return false
			}
			s.i++
			s.space()
			if top == '{' && !s.member() {
				return false
			}
			break
		}
	}
}

type jsonScan struct {
	data      []byte
	i         int
	marshaled bool
}

func (s *jsonScan) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.marshaled = false
			s.i++
		default:
			return
		}
	}
}

// member reads a member name and its colon, leaving s.i at the value.
func (s *jsonScan) member() bool {
	if s.i >= len(s.data) || s.data[s.i] != '"' || !s.str() {
		return false
	}
	s.space()
	if s.i >= len(s.data) || s.data[s.i] != ':' {
		return false
	}
	s.i++
	s.space()
	return true
}

// strPlain marks the bytes a string may hold as they are: not the quote,
// the backslash, control characters, the bytes json.Marshal escapes (<, >,
// &) or 0xE2 (the first byte of U+2028 and U+2029).
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = true
	}
	for _, c := range []byte{'"', '\\', '<', '>', '&', 0xE2} {
		t[c] = false
	}
	return t
}()

func (s *jsonScan) str() bool {
	d := s.data
	i := s.i + 1 // past '"'
	for i < len(d) {
		// Eight plain ASCII bytes at a time; otherwise the next eight
		// (or fewer) one by one.
		if i+8 <= len(d) && plainASCII8(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
			continue
		}
		for end := min(i+8, len(d)); i < end; {
			c := d[i]
			if strPlain[c] {
				i++
				continue
			}
			switch {
			case c == '"':
				s.i = i + 1
				return true
			case c == '\\':
				if i+1 >= len(d) {
					return false
				}
				switch d[i+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					i += 2
				case 'u':
					if i+6 > len(d) {
						return false
					}
					for _, h := range d[i+2 : i+6] {
						if !isHex(h) {
							return false
						}
					}
					i += 6
				default:
					return false
				}
			case c < 0x20:
				return false
			case c == 0xE2:
				if i+2 < len(d) && d[i+1] == 0x80 && d[i+2]&^1 == 0xA8 {
					s.marshaled = false
				}
				i++
			default: // <, >, &
				s.marshaled = false
				i++
			}
		}
	}
	return false
}

// Word-at-a-time byte tests (little-endian loads of eight bytes): any
// byte zero, any byte below 0x20 (both exact as "is there one" tests).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func anyZero(x uint64) bool { return (x-ones)&^x&highs != 0 }

func anyBelow20(x uint64) bool { return (x-0x20*ones)&^x&highs != 0 }

// plainASCII8 reports whether the eight bytes of x are all strPlain ASCII:
// 0x20-0x7F but for ", \, <, > and & (with the high bit clear, none is
// 0xE2). Masking bit 2 folds " (0x22) and & (0x26) together, bit 1 < (0x3C)
// and > (0x3E).
func plainASCII8(x uint64) bool {
	return x&highs == 0 && !anyBelow20(x) &&
		!anyZero((x^0x22*ones)&(0xFB*ones)) &&
		!anyZero((x^0x3C*ones)&(0xFD*ones)) &&
		!anyZero(x^0x5C*ones)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *jsonScan) digits() bool {
	start := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; what follows
// it is checked by the caller.
func (s *jsonScan) number() bool {
	d := s.data
	if d[s.i] == '-' {
		s.i++
	}
	if s.i >= len(d) {
		return false
	}
	if d[s.i] == '0' {
		s.i++
	} else if !s.digits() {
		return false
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *jsonScan) literal(lit string) bool {
	if len(s.data)-s.i < len(lit) || string(s.data[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}
