package federation

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Strict decoding of the documents this package signs and verifies: envelope
// claims, receipt claims and the manifest payload.
//
// encoding/json alone is not strict enough for signed content. It matches
// member names case-insensitively (with Unicode folding, so "ISS", "Iss" and
// "\u212Aind" — KELVIN SIGN — fill iss and kind) and it accepts duplicate
// member names, the last one winning. Either lets two parsers read one signed
// document differently: a signer, a log, a second implementation or a
// conformance tester sees one value and this code acts on another (e.g.
// {"aud":"XA-RC","aud":"XB-RC"}). decodeStrict therefore runs a token pre-pass
// (checkMembers) before decoding:
//
//   - no object anywhere in the document may carry the same member name twice
//     (names compared after JSON unescaping, so "iss" and "\u0069ss" are the
//     same name);
//   - every member of an object whose Go type is a struct must be spelt
//     exactly (case-sensitively) as one of that struct's json names; this
//     holds at every depth (manifest members included), not only at the top.
//
// The pre-pass is guided by a shape precomputed from the Go type. Values
// decoded by their own UnmarshalJSON (time.Time, jose.KeySet) are checked for
// duplicates but their member names are left to their parser (jose checks a
// JWKS strictly itself).
//
// The envelope body (a json.RawMessage) is deliberately NOT inspected: it is
// an opaque document here, and FLX-SCH-002 requires a duplicated member name
// inside the body to be refused with schema_invalid (by schema.Validate, run
// by the node), not with bad_envelope. Refusing it here would answer the
// wrong code. The node must validate the body before acting on any of it.

// maxJSONDepth bounds nesting in the pre-pass, as encoding/json does.
const maxJSONDepth = 10000

// shape is the expected structure of a JSON value, derived from a Go type.
type shape struct {
	// fields: the value is a struct; its exact member names and their shapes.
	// nil: member names are not checked (maps, custom unmarshalers, any).
	fields map[string]*shape
	// elem: the shape of the elements of a slice or array (nil: any).
	elem *shape
	// opaque: nothing inside the value is checked (json.RawMessage).
	opaque bool
}

var (
	claimsShape   = shapeOf(reflect.TypeFor[wireClaims]())
	receiptShape  = shapeOf(reflect.TypeFor[wireReceipt]())
	manifestShape = shapeOf(reflect.TypeFor[Manifest]())
)

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
)

// shapeOf derives the shape of t. The types it is used on are not recursive.
func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType:
		return &shape{opaque: true}
	case t.Implements(jsonUnmarshalerType) || reflect.PointerTo(t).Implements(jsonUnmarshalerType),
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType):
		return &shape{}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{fields: map[string]*shape{}}
		addFields(s.fields, t)
		return s
	case reflect.Slice, reflect.Array:
		return &shape{elem: shapeOf(t.Elem())}
	}
	return &shape{}
}

// addFields adds the json member names of struct t (as encoding/json names
// them: the tag name, else the Go name; "-" and unexported fields skipped;
// untagged embedded structs promoted).
func addFields(into map[string]*shape, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(into, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = shapeOf(f.Type)
	}
}

// checkMembers runs the pre-pass described above over data, which must be
// exactly one syntactically valid JSON value (decodeStrict has encoding/json
// establish that first), of shape root. It walks the bytes once without
// building tokens: strings are skipped, and only member names are read (and
// unescaped when they hold a backslash).
func checkMembers(data []byte, root *shape) error {
	s := memberScan{data: data}
	s.ws()
	if err := s.value(root, 0); err != nil {
		return err
	}
	if s.ws(); s.i != len(s.data) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// memberScan walks one valid JSON document for checkMembers.
type memberScan struct {
	data []byte
	i    int
}

// errInvalidJSON is returned where the document is not the valid JSON the
// scan expects (decodeStrict never hands it such a document).
var errInvalidJSON = errors.New("invalid JSON")

func (s *memberScan) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks the value starting at s.i (no whitespace before it) and
// moves past it. sh is its shape (nil: anything).
func (s *memberScan) value(sh *shape, depth int) error {
	if s.i >= len(s.data) {
		return errInvalidJSON
	}
	c := s.data[s.i]
	if sh != nil && sh.fields != nil && c != '{' {
		// encoding/json would leave the struct zero for null.
		return errors.New("expected a JSON object")
	}
	switch c {
	case '{':
		if depth >= maxJSONDepth {
			return errors.New("JSON nested too deeply")
		}
		return s.object(sh, depth+1)
	case '[':
		if depth >= maxJSONDepth {
			return errors.New("JSON nested too deeply")
		}
		var elem *shape
		if sh != nil {
			elem = sh.elem
		}
		s.i++
		s.ws()
		if s.i < len(s.data) && s.data[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.value(elem, depth+1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.data) {
				return errInvalidJSON
			}
			s.i++
			if s.data[s.i-1] == ']' {
				return nil
			}
			s.ws()
		}
	case '"':
		_, err := s.str()
		return err
	}
	// A number, true, false or null: up to the next delimiter.
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return nil
		}
		s.i++
	}
	return nil
}

// object checks the object starting at s.i.
func (s *memberScan) object(sh *shape, depth int) error {
	s.i++ // '{'
	var fields map[string]*shape
	if sh != nil {
		fields = sh.fields
	}
	// Member names so far: a short list compared in turn, a map once the
	// object is large.
	var seen []string
	var seenMap map[string]struct{}
	for {
		s.ws()
		if s.i >= len(s.data) {
			return errInvalidJSON
		}
		if s.data[s.i] == '}' {
			s.i++
			return nil
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		dup := false
		if seenMap != nil {
			_, dup = seenMap[name]
			seenMap[name] = struct{}{}
		} else {
			for _, n := range seen {
				if n == name {
					dup = true
					break
				}
			}
			seen = append(seen, name)
			if len(seen) > 16 {
				seenMap = make(map[string]struct{}, 2*len(seen))
				for _, n := range seen {
					seenMap[n] = struct{}{}
				}
			}
		}
		if dup {
			return fmt.Errorf("member %q appears twice in one object", name)
		}
		var vs *shape
		if fields != nil {
			var ok bool
			if vs, ok = fields[name]; !ok {
				return unknownMember(name, fields)
			}
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return errInvalidJSON
		}
		s.i++
		s.ws()
		if vs != nil && vs.opaque {
			err = s.skip()
		} else {
			err = s.value(vs, depth)
		}
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.data) {
			return errInvalidJSON
		}
		s.i++
		switch s.data[s.i-1] {
		case ',':
		case '}':
			return nil
		default:
			return errInvalidJSON
		}
	}
}

// str reads the string starting at s.i and returns its value, unescaped
// (by encoding/json) only when it holds an escape.
func (s *memberScan) str() (string, error) {
	start := s.i
	s.i++ // '"'
	esc := false
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\\':
			esc = true
			s.i += 2
			continue
		case '"':
			s.i++
			raw := s.data[start:s.i]
			if !esc {
				return string(raw[1 : len(raw)-1]), nil
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return "", err
			}
			return v, nil
		}
		s.i++
	}
	return "", errInvalidJSON
}

// skip moves past the value starting at s.i without looking inside it.
// (It works on locals and a table: the envelope body is skipped this way
// on every read of the claims.)
func (s *memberScan) skip() error {
	d, i, depth := s.data, s.i, 0
	for i < len(d) {
		switch skipClass[d[i]] {
		case skipQuote:
			j, ok := skipString(d, i)
			if !ok {
				s.i = len(d)
				return errInvalidJSON
			}
			i = j
			if depth == 0 {
				s.i = i
				return nil
			}
			continue
		case skipOpen:
			depth++
		case skipClose:
			if depth == 0 {
				s.i = i
				return nil // the end of the enclosing container
			}
			depth--
			if depth == 0 {
				s.i = i + 1
				return nil
			}
		case skipEnd:
			if depth == 0 {
				s.i = i
				return nil
			}
		}
		i++
	}
	s.i = i
	return nil
}

const (
	skipOther = iota
	skipQuote
	skipOpen
	skipClose
	skipEnd // a comma or whitespace
)

var skipClass = func() (t [256]uint8) {
	t['"'] = skipQuote
	t['{'], t['['] = skipOpen, skipOpen
	t['}'], t[']'] = skipClose, skipClose
	for _, c := range []byte(", \t\n\r") {
		t[c] = skipEnd
	}
	return t
}()

// skipString returns the index just past the string starting at d[i], or
// false when it does not end.
func skipString(d []byte, i int) (int, bool) {
	i++
	for i < len(d) {
		switch d[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1, true
		}
		i++
	}
	return i, false
}

// skipStr moves past the string starting at s.i.
func (s *memberScan) skipStr() (bool, error) {
	i, ok := skipString(s.data, s.i)
	s.i = min(i, len(s.data))
	if !ok {
		return false, errInvalidJSON
	}
	return true, nil
}

// unknownMember describes a member name that is not one of fields, calling
// out a spelling that differs only by case (e.g. "ISS" for "iss").
func unknownMember(name string, fields map[string]*shape) error {
	for f := range fields {
		if strings.EqualFold(f, name) {
			return fmt.Errorf("member %q is not %q: member names are case-sensitive", name, f)
		}
	}
	return fmt.Errorf("unknown member %q", name)
}

// decodeStrict decodes exactly one JSON value of the given shape into v:
// encoding/json refusing invalid JSON, unknown fields and trailing data,
// then the pre-pass checkMembers (no duplicate member names, exact member
// names) over the now known-valid bytes; v is only meaningful without error.
// Envelope and receipt claims, read once or more per envelope, take a
// faster path (decodeClaims, decodeReceipt) that decodes exactly what this
// one would.
func decodeStrict(data []byte, sh *shape, v any) error {
	switch w := v.(type) {
	case *wireClaims:
		if sh == claimsShape {
			if decodeClaims(data, w, false) {
				return nil
			}
			*w = wireClaims{}
		}
	case *wireReceipt:
		if sh == receiptShape {
			if decodeReceipt(data, w, nil) {
				return nil
			}
			*w = wireReceipt{}
		}
	}
	return decodeStrictJSON(data, sh, v)
}

// decodeStrictJSON is decodeStrict through encoding/json.
func decodeStrictJSON(data []byte, sh *shape, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return checkMembers(data, sh)
}

// decodeOwnedClaims is decodeStrict(data, claimsShape, w) for claims the
// caller owns and never changes (a token's decoded payload): w.Body is then
// a slice of data (capacity cut to its length) instead of a copy of it.
func decodeOwnedClaims(data []byte, w *wireClaims) error {
	if decodeClaims(data, w, true) {
		return nil
	}
	*w = wireClaims{}
	return decodeStrictJSON(data, claimsShape, w)
}

// decodeClaims decodes envelope claims in one walk of the top-level
// members that checks each value's validity as it goes, as encoding/json
// would decode them into w. It reports false, leaving the error to
// encoding/json, for anything but a JSON object of exactly-spelt claims of
// the right JSON types. The body is copied unless alias (see
// decodeOwnedClaims).
func decodeClaims(data []byte, w *wireClaims, alias bool) bool {
	return decodeMembers(data, func(name string, raw []byte) bool {
		switch name {
		case "iss":
			return claimString(raw, &w.Iss)
		case "aud":
			return claimString(raw, &w.Aud)
		case "jti":
			return claimString(raw, &w.JTI)
		case "kind":
			if k, ok := knownKind(raw); ok {
				w.Kind = k
				return true
			}
			k := string(w.Kind)
			ok := claimString(raw, &k)
			w.Kind = Kind(k)
			return ok
		case "case_id":
			return claimString(raw, &w.CaseID)
		case "iat":
			return claimInt(raw, &w.Iat)
		case "exp":
			return claimInt(raw, &w.Exp)
		case "body":
			if alias {
				w.Body = raw[:len(raw):len(raw)]
			} else {
				w.Body = append(json.RawMessage(nil), raw...)
			}
			return true
		}
		return false
	})
}

// decodeReceipt is decodeClaims for receipt claims. A string claim equal
// to its value in like (when like is not nil: the claims the caller
// expects) is set to like's string, without a copy of its own.
func decodeReceipt(data []byte, w *wireReceipt, like *ExpectedReceipt) bool {
	var e ExpectedReceipt
	if like != nil {
		e = *like
	}
	return decodeMembers(data, func(name string, raw []byte) bool {
		switch name {
		case "iss":
			return claimStringLike(raw, &w.Iss, e.Issuer)
		case "aud":
			return claimStringLike(raw, &w.Aud, e.Audience)
		case "iat":
			return claimInt(raw, &w.Iat)
		case "receipt_for":
			return claimStringLike(raw, &w.ReceiptFor, e.ReceiptFor)
		case "sha256":
			return claimStringLike(raw, &w.SHA256, e.SHA256)
		case "status":
			switch string(raw) {
			case `"accepted"`:
				w.Status = ReceiptAccepted
				return true
			case `"duplicate"`:
				w.Status = ReceiptDuplicate
				return true
			}
			st := string(w.Status)
			ok := claimString(raw, &st)
			w.Status = ReceiptStatus(st)
			return ok
		}
		return false
	})
}

// decodeMembers checks that data is one valid JSON object without a
// member name twice and hands each of its members, in order, to member,
// which decodes it or reports false (an unknown name, a value of the wrong
// type). That is all checkMembers would check of claims whose values are
// strings, numbers and an opaque body, so a true needs no checkMembers.
// Each value is checked for validity (as scanJSON checks it) while it is
// walked, so the body is read once, not once to validate and once to skip;
// member may have been called on earlier members when a later part of
// data turns out invalid (callers then discard what it decoded).
func decodeMembers(data []byte, member func(name string, raw []byte) bool) bool {
	var seenBuf [8]string // the claims have at most 8 names; member refuses others
	seen := seenBuf[:0]
	s := jsonScan{data: data}
	s.space()
	if s.i >= len(data) || data[s.i] != '{' {
		return false
	}
	s.i++
	s.space()
	if s.i < len(data) && data[s.i] == '}' {
		s.i++
	} else {
		for {
			if s.i >= len(data) || data[s.i] != '"' {
				return false
			}
			start := s.i
			if !s.str() {
				return false
			}
			name, known := claimName(data[start+1 : s.i-1])
			if !known {
				// Escaped (or unknown, which member refuses): unescape it.
				ns := memberScan{data: data[:s.i], i: start}
				var err error
				if name, err = ns.str(); err != nil {
					return false
				}
			}
			if slices.Contains(seen, name) {
				return false
			}
			if len(seen) < len(seenBuf) {
				seen = append(seen, name)
			}
			s.space()
			if s.i >= len(data) || data[s.i] != ':' {
				return false
			}
			s.i++
			s.space()
			vstart := s.i
			if !s.value(1) || !member(name, data[vstart:s.i]) {
				return false
			}
			s.space()
			if s.i >= len(data) {
				return false
			}
			s.i++
			if data[s.i-1] == '}' {
				break
			}
			if data[s.i-1] != ',' {
				return false
			}
			s.space()
		}
	}
	s.space()
	return s.i == len(data)
}

// knownKind returns the kind a JSON string without escapes names when it
// is one of the known kinds, as its constant (no allocation).
func knownKind(raw []byte) (Kind, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	for _, k := range knownKinds {
		if string(raw[1:len(raw)-1]) == string(k) {
			return k, true
		}
	}
	return "", false
}

// knownKinds only saves allocations: a kind missing here is decoded as
// any other string.
var knownKinds = slices.Concat(Kinds, CoordinationKinds, MatchKinds, WitnessKinds)

// claimName returns the claim or receipt member name written as b without
// escapes, as a constant (no allocation per member read); known is false
// for any other bytes.
func claimName(b []byte) (name string, known bool) {
	switch string(b) {
	case "iss":
		return "iss", true
	case "aud":
		return "aud", true
	case "iat":
		return "iat", true
	case "exp":
		return "exp", true
	case "jti":
		return "jti", true
	case "kind":
		return "kind", true
	case "case_id":
		return "case_id", true
	case "body":
		return "body", true
	case "receipt_for":
		return "receipt_for", true
	case "sha256":
		return "sha256", true
	case "status":
		return "status", true
	}
	return "", false
}

// claimString decodes a JSON string (or null, which leaves *v alone) into
// *v; a string with escapes or that is not valid UTF-8 goes through
// encoding/json (which replaces invalid bytes).
func claimString(raw []byte, v *string) bool {
	switch {
	case string(raw) == "null":
		return true
	case len(raw) < 2 || raw[0] != '"':
		return false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		*v = string(in)
		return true
	}
	return json.Unmarshal(raw, v) == nil
}

// claimStringLike is claimString, setting *v to like when the claim is a
// string without escapes whose bytes are like's (the same value: no copy).
func claimStringLike(raw []byte, v *string, like string) bool {
	if like != "" && len(raw) == len(like)+2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		if in := raw[1 : len(raw)-1]; string(in) == like && bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			*v = like
			return true
		}
	}
	return claimString(raw, v)
}

// decodeReceiptLike is decodeStrict(data, receiptShape, ...) for a
// receipt whose claims the caller expects (see decodeReceipt).
func decodeReceiptLike(data []byte, like *ExpectedReceipt) (wireReceipt, error) {
	var w wireReceipt
	if decodeReceipt(data, &w, like) {
		return w, nil
	}
	var slow wireReceipt
	err := decodeStrictJSON(data, receiptShape, &slow)
	return slow, err
}

// claimInt decodes a JSON integer (or null, which leaves *v alone) into *v.
func claimInt(raw []byte, v *int64) bool {
	if string(raw) == "null" {
		return true
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return false
	}
	*v = n
	return true
}
