package schema

import (
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast check answers "valid" for a decoded document without running
// jsonschema's validator, whose cost is mostly the allocation of its
// per-value bookkeeping (error trees, evaluated-member sets, scopes).
//
// It interprets the very schemas jsonschema compiled (references already
// resolved, the same compiled patterns, the same format functions), for
// the keywords schema v1 uses, and answers with a tri-state: pass and fail
// only when jsonschema would certainly answer the same, unsure otherwise (a
// keyword it does not implement, a number written with an exponent, ...).
// validate runs jsonschema for every document the fast check does not pass,
// so verdicts and violations are jsonschema's except for documents that are
// valid; TestFastCheckAgreesWithJSONSchema and FuzzFastCheck compare the
// two.
type verdict uint8

const (
	pass verdict = iota
	unsure
	fail
)

// and combines the verdicts of two conjoined conditions: fail if either
// fails, else unsure if either is unsure.
func (v verdict) and(w verdict) verdict { return max(v, w) }

// Value types, as jsonschema distinguishes them.
const (
	typeNull uint8 = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeBits = map[string]uint8{
	"null": typeNull, "boolean": typeBoolean, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject,
}

// fastSchema is one compiled schema as the fast check reads it.
type fastSchema struct {
	// unsupported is set when the schema uses a keyword (or a keyword
	// value) the fast check does not implement: checking any value
	// against it is unsure.
	unsupported bool
	boolSchema  *bool

	types uint8 // 0: any
	// enum holds the values of enum and constVals the one value of
	// const (nil: no such keyword): a value must equal one of each.
	// Only null, booleans, strings and numbers (see compile).
	enum      []any
	constVals []any
	format    *jsonschema.Format
	ref       *fastSchema
	allOf     []*fastSchema
	not       *fastSchema
	ifS       *fastSchema
	thenS     *fastSchema
	elseS     *fastSchema

	minProps, maxProps int // -1: none
	required           []string
	props              map[string]*fastSchema
	propList           []propSchema // props, by name
	additionalFalse    bool
	additional         *fastSchema
	dependentRequired  map[string][]string

	minItems, maxItems int // -1: none
	uniqueItems        bool
	items              *fastSchema

	minLength, maxLength int // -1: none
	pattern              jsonschema.Regexp
	simplePattern        *bytePattern // pattern without regexp, when simple

	minimum, maximum bound
	multipleOf       int64 // 0: none
}

// fastSchemas compiles the fast check of every kind from the schemas
// jsonschema compiled.
var fastSchemas = sync.OnceValues(func() (map[Kind]*fastSchema, error) {
	schemas, err := compiled()
	if err != nil {
		return nil, err
	}
	c := fastCompiler{seen: map[*jsonschema.Schema]*fastSchema{}}
	out := make(map[Kind]*fastSchema, len(schemas))
	for k, s := range schemas {
		out[k] = c.compile(s)
	}
	return out, nil
})

// fastPasses reports whether the fast check finds v, a decoded document of
// kind k, valid: then jsonschema would too.
func fastPasses(k Kind, v any) bool {
	schemas, err := fastSchemas()
	if err != nil {
		return false
	}
	f, ok := schemas[k]
	return ok && f.check(v) == pass
}

type fastCompiler struct {
	seen map[*jsonschema.Schema]*fastSchema
}

func optInt(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// compile translates s. Every field of jsonschema.Schema is either
// translated, known to be an annotation, or makes the result unsupported
// (TestFastCheckKnowsEveryKeyword keeps this list in step with the
// library).
func (c *fastCompiler) compile(s *jsonschema.Schema) *fastSchema {
	if s == nil {
		return nil
	}
	if f, ok := c.seen[s]; ok {
		return f
	}
	f := &fastSchema{}
	c.seen[s] = f // before the children: references may be recursive
	if s.DraftVersion != 2020 ||
		s.RecursiveRef != nil || s.DynamicRef != nil ||
		len(s.AnyOf) > 0 || len(s.OneOf) > 0 ||
		s.PropertyNames != nil || len(s.PatternProperties) > 0 || len(s.Dependencies) > 0 ||
		len(s.DependentSchemas) > 0 || s.UnevaluatedProperties != nil ||
		s.Contains != nil || s.MinContains != nil || s.MaxContains != nil ||
		s.Items != nil || s.AdditionalItems != nil || len(s.PrefixItems) > 0 || s.UnevaluatedItems != nil ||
		s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.ExclusiveMinimum != nil || s.ExclusiveMaximum != nil ||
		len(s.Extensions) > 0 {
		f.unsupported = true
		return f
	}
	if s.Bool != nil {
		b := *s.Bool
		f.boolSchema = &b
		return f
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			f.types |= typeBits[t]
		}
	}
	if s.Const != nil {
		f.constVals = []any{*s.Const}
	}
	if s.Enum != nil {
		f.enum = s.Enum.Values
	}
	for _, v := range append(slices.Clip(f.constVals), f.enum...) {
		switch v.(type) {
		case nil, bool, string, json.Number:
		default: // objects, arrays: compared deeply by jsonschema
			f.unsupported = true
			return f
		}
	}
	f.format = s.Format
	f.ref = c.compile(s.Ref)
	for _, a := range s.AllOf {
		f.allOf = append(f.allOf, c.compile(a))
	}
	f.not = c.compile(s.Not)
	f.ifS, f.thenS, f.elseS = c.compile(s.If), c.compile(s.Then), c.compile(s.Else)

	f.minProps, f.maxProps = optInt(s.MinProperties), optInt(s.MaxProperties)
	f.required = s.Required
	if len(s.Properties) > 0 {
		f.props = make(map[string]*fastSchema, len(s.Properties))
		for name, p := range s.Properties {
			f.props[name] = c.compile(p)
			f.propList = append(f.propList, propSchema{name, f.props[name]})
		}
		slices.SortFunc(f.propList, func(a, b propSchema) int { return strings.Compare(a.name, b.name) })
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		f.additionalFalse = !a
	case *jsonschema.Schema:
		f.additional = c.compile(a)
	default:
		f.unsupported = true
		return f
	}
	f.dependentRequired = s.DependentRequired

	f.minItems, f.maxItems = optInt(s.MinItems), optInt(s.MaxItems)
	f.uniqueItems = s.UniqueItems
	f.items = c.compile(s.Items2020)

	f.minLength, f.maxLength = optInt(s.MinLength), optInt(s.MaxLength)
	f.pattern = s.Pattern
	if s.Pattern != nil {
		f.simplePattern = compileBytePattern(s.Pattern.String())
	}

	f.minimum, f.maximum = newBound(s.Minimum), newBound(s.Maximum)
	if s.MultipleOf != nil {
		m, ok := ratInt(s.MultipleOf)
		if !ok || *m <= 0 {
			f.unsupported = true
		} else {
			f.multipleOf = *m
		}
	}
	return f
}

// bound is a minimum or a maximum: rat (nil: none), and the same as an
// int64 when it is an integer ratInt accepts.
type bound struct {
	rat   *big.Rat
	isInt bool
	i     int64
}

func newBound(r *big.Rat) bound {
	b := bound{rat: r}
	if i, ok := ratInt(r); ok && i != nil {
		b.isInt, b.i = true, *i
	}
	return b
}

// ratInt returns r as an int64 well inside the int64 range, ok false when it
// is not such an integer; (nil, true) for a nil r.
func ratInt(r *big.Rat) (*int64, bool) {
	if r == nil {
		return nil, true
	}
	if !r.IsInt() || !r.Num().IsInt64() {
		return nil, false
	}
	i := r.Num().Int64()
	if i <= math.MinInt64/2 || i >= math.MaxInt64/2 {
		return nil, false
	}
	return &i, true
}

// check answers whether v, a value decoded by decodeStrict, is valid
// against f.
func (f *fastSchema) check(v any) verdict {
	if f.unsupported {
		return unsure
	}
	if f.boolSchema != nil {
		if *f.boolSchema {
			return pass
		}
		return fail
	}
	r := pass

	// type
	t, num := typeOfValue(v)
	if t == 0 {
		return unsure
	}
	if f.types != 0 && f.types&t == 0 {
		if f.types&typeInteger == 0 || t != typeNumber {
			return fail
		}
		switch num.integral() {
		case unsure:
			return unsure
		case fail:
			return fail
		}
	}

	// const, enum: scalars only (see compile)
	if f.constVals != nil {
		if r = r.and(oneOfScalars(f.constVals, v, num)); r == fail {
			return fail
		}
	}
	if f.enum != nil {
		if r = r.and(oneOfScalars(f.enum, v, num)); r == fail {
			return fail
		}
	}

	// format: jsonschema's own function
	if f.format != nil && !fastFormat(f.format.Name, v) {
		if f.format.Validate(v) != nil {
			return fail
		}
	}

	if f.ref != nil {
		if r = r.and(f.ref.check(v)); r == fail {
			return fail
		}
	}

	switch v := v.(type) {
	case map[string]any:
		r = r.and(f.checkObject(v))
	case []any:
		r = r.and(f.checkArray(v))
	case string:
		r = r.and(f.checkString(v))
	case json.Number:
		r = r.and(f.checkNumber(num))
	}
	if r == fail {
		return fail
	}

	for _, a := range f.allOf {
		if r = r.and(a.check(v)); r == fail {
			return fail
		}
	}
	if f.not != nil {
		switch f.not.check(v) {
		case pass:
			return fail
		case unsure:
			r = unsure
		}
	}
	if f.ifS != nil {
		switch f.ifS.check(v) {
		case pass:
			if f.thenS != nil {
				r = r.and(f.thenS.check(v))
			}
		case fail:
			if f.elseS != nil {
				r = r.and(f.elseS.check(v))
			}
		default:
			r = unsure
		}
	}
	return r
}

// oneOfScalars answers whether v equals one of list (null, booleans,
// strings, numbers), as jsonschema compares them: numbers by value.
func oneOfScalars(list []any, v any, num number) verdict {
	r := fail
	for _, x := range list {
		switch x := x.(type) {
		case nil:
			if v == nil {
				return pass
			}
		case bool:
			if b, ok := v.(bool); ok && b == x {
				return pass
			}
		case string:
			if s, ok := v.(string); ok && s == x {
				return pass
			}
		case json.Number:
			n, ok := v.(json.Number)
			if !ok {
				continue
			}
			if n == x {
				return pass
			}
			xr, ok := new(big.Rat).SetString(string(x))
			if !ok {
				r = unsure
				continue
			}
			c, known := num.cmpBound(newBound(xr))
			switch {
			case !known:
				r = unsure
			case c == 0:
				return pass
			}
		}
	}
	return r
}

func (f *fastSchema) checkObject(obj map[string]any) verdict {
	if f.minProps >= 0 && len(obj) < f.minProps {
		return fail
	}
	if f.maxProps >= 0 && len(obj) > f.maxProps {
		return fail
	}
	for _, name := range f.required {
		if _, ok := obj[name]; !ok {
			return fail
		}
	}
	var r verdict
	switch {
	case f.props == nil && !f.additionalFalse && f.additional == nil:
		r = pass // nothing here constrains the members themselves
	case len(f.propList) <= 2*len(obj):
		r = f.membersByProps(obj)
	default:
		r = f.membersByWalk(obj)
	}
	if r == fail {
		return fail
	}
	for name, reqd := range f.dependentRequired {
		if _, ok := obj[name]; !ok {
			continue
		}
		for _, m := range reqd {
			if _, ok := obj[m]; !ok {
				return fail
			}
		}
	}
	return r
}

// membersByWalk checks each member of obj against its property's schema,
// or additionalProperties, walking the object's map.
func (f *fastSchema) membersByWalk(obj map[string]any) verdict {
	r := pass
	for name, val := range obj {
		var sub *fastSchema
		if p, ok := f.props[name]; ok {
			sub = p
		} else if f.additionalFalse {
			return fail
		} else {
			sub = f.additional
		}
		if sub != nil {
			if r = r.and(sub.check(val)); r == fail {
				return fail
			}
		}
	}
	return r
}

// membersByProps is membersByWalk looking up, in obj, each property the
// schema names, which costs less than walking a map and looking up each
// member in props when the schema names few more properties than obj has
// members. Unless some member is not a property (found < len(obj)), no
// walk is needed. The same verdicts are combined, in another order, and
// the result does not depend on the order (fail wins, then unsure):
// TestMembersByPropsIsByWalk.
func (f *fastSchema) membersByProps(obj map[string]any) verdict {
	r := pass
	found := 0
	for _, ps := range f.propList {
		val, ok := obj[ps.name]
		if !ok {
			continue
		}
		found++
		if ps.s != nil {
			if r = r.and(ps.s.check(val)); r == fail {
				return fail
			}
		}
	}
	if found == len(obj) {
		return r
	}
	if f.additionalFalse {
		return fail
	}
	if f.additional != nil {
		for name, val := range obj {
			if _, ok := f.props[name]; ok {
				continue
			}
			if r = r.and(f.additional.check(val)); r == fail {
				return fail
			}
		}
	}
	return r
}

// propSchema is one of a schema's properties.
type propSchema struct {
	name string
	s    *fastSchema
}

func (f *fastSchema) checkArray(arr []any) verdict {
	if f.minItems >= 0 && len(arr) < f.minItems {
		return fail
	}
	if f.maxItems >= 0 && len(arr) > f.maxItems {
		return fail
	}
	r := pass
	if f.uniqueItems && len(arr) > 1 {
		r = uniqueStrings(arr)
		if r == fail {
			return fail
		}
	}
	if f.items != nil {
		for _, it := range arr {
			if r = r.and(f.items.check(it)); r == fail {
				return fail
			}
		}
	}
	return r
}

// uniqueStrings decides uniqueItems for an array of strings (unsure for any
// other array: jsonschema compares numbers by value, objects deeply).
func uniqueStrings(arr []any) verdict {
	for _, it := range arr {
		if _, ok := it.(string); !ok {
			return unsure
		}
	}
	if len(arr) <= 16 {
		for i := 1; i < len(arr); i++ {
			for j := range i {
				if arr[i].(string) == arr[j].(string) {
					return fail
				}
			}
		}
		return pass
	}
	seen := make(map[string]struct{}, len(arr))
	for _, it := range arr {
		s := it.(string)
		if _, dup := seen[s]; dup {
			return fail
		}
		seen[s] = struct{}{}
	}
	return pass
}

func (f *fastSchema) checkString(s string) verdict {
	if f.minLength >= 0 || f.maxLength >= 0 {
		n := utf8.RuneCountInString(s)
		if (f.minLength >= 0 && n < f.minLength) || (f.maxLength >= 0 && n > f.maxLength) {
			return fail
		}
	}
	switch {
	case f.simplePattern != nil:
		if !f.simplePattern.match(s) {
			return fail
		}
	case f.pattern != nil:
		if !f.pattern.MatchString(s) {
			return fail
		}
	}
	return pass
}

func (f *fastSchema) checkNumber(n number) verdict {
	r := pass
	if f.minimum.rat != nil {
		c, known := n.cmpBound(f.minimum)
		switch {
		case !known:
			r = unsure
		case c < 0:
			return fail
		}
	}
	if f.maximum.rat != nil {
		c, known := n.cmpBound(f.maximum)
		switch {
		case !known:
			r = unsure
		case c > 0:
			return fail
		}
	}
	if f.multipleOf != 0 {
		switch n.integral() {
		case fail:
			return fail // a fraction is no multiple of an integer
		case unsure:
			return unsure
		}
		i, ok := n.intPart()
		if !ok {
			return unsure
		}
		if i%f.multipleOf != 0 {
			return fail
		}
	}
	return r
}

// typeOfValue returns the jsonschema type of a decoded value (0 for a Go
// type decodeStrict never produces) and, for a number, its parsed form.
func typeOfValue(v any) (uint8, number) {
	switch v := v.(type) {
	case nil:
		return typeNull, number{}
	case bool:
		return typeBoolean, number{}
	case string:
		return typeString, number{}
	case json.Number:
		return typeNumber, parseNumber(string(v))
	case []any:
		return typeArray, number{}
	case map[string]any:
		return typeObject, number{}
	}
	return 0, number{}
}

// number is a JSON number literal split into its parts: -?int(.frac)?(e...)?
type number struct {
	lit      string
	neg      bool
	intDigit string // the integer part's digits
	fracZero bool   // no fraction, or a fraction of zeros only
	exp      bool   // written with an exponent: left to jsonschema
	valid    bool
}

func parseNumber(s string) number {
	n := number{lit: s, fracZero: true}
	i := 0
	if i < len(s) && s[i] == '-' {
		n.neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n.intDigit = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if s[i] != '0' {
				n.fracZero = false
			}
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		n.exp = true
		return n
	}
	n.valid = i == len(s) && len(n.intDigit) > 0
	return n
}

// integral answers whether the number is an integer as jsonschema judges it
// (1.0 is).
func (n number) integral() verdict {
	if !n.valid || n.exp {
		return unsure
	}
	if n.fracZero {
		return pass
	}
	return fail
}

// intPart returns the integer part's absolute value, ok false if it does not
// fit comfortably in an int64.
func (n number) intPart() (int64, bool) {
	if len(n.intDigit) > 18 {
		return 0, false
	}
	var i int64
	for _, c := range []byte(n.intDigit) {
		i = i*10 + int64(c-'0')
	}
	return i, true
}

// maxRatLiteral bounds the literals cmpBound compares as big.Rat.
const maxRatLiteral = 64

// cmpBound compares the number with b exactly, as jsonschema does, known
// false when the number is not simple enough (then jsonschema decides).
func (n number) cmpBound(b bound) (c int, known bool) {
	if b.isInt {
		if c, known := n.cmp(b.i); known {
			return c, true
		}
	}
	if !n.valid || n.exp || len(n.lit) > maxRatLiteral {
		return 0, false
	}
	x, ok := new(big.Rat).SetString(n.lit)
	if !ok {
		return 0, false
	}
	return x.Cmp(b.rat), true
}

// cmp compares the number with b exactly: -1, 0 or +1, known false when the
// number is not simple enough.
func (n number) cmp(b int64) (c int, known bool) {
	if !n.valid || n.exp {
		return 0, false
	}
	i, ok := n.intPart()
	if !ok {
		return 0, false
	}
	// |n| = i + f with 0 <= f < 1, f > 0 exactly when !fracZero.
	cmpAbs := func(x int64) int { // compares |n| with x
		switch {
		case i < x:
			return -1
		case i > x:
			return 1
		case n.fracZero:
			return 0
		}
		return 1
	}
	if !n.neg {
		return cmpAbs(b), true
	}
	return -cmpAbs(-b), true // n = -|n|: n ? b  <=>  |n| ?' -b, reversed
}

// fastFormat reports whether s certainly satisfies the named format as
// jsonschema checks it, for the formats frequent in documents; false means
// "ask jsonschema's function".
func fastFormat(name string, v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch name {
	case "date-time":
		return isSimpleDateTime(s)
	case "date":
		return len(s) == 10 && isSimpleDate(s)
	}
	return false
}

// isSimpleDate accepts YYYY-MM-DD (year 1000 to 9999) naming a day that
// exists: a string time.Parse("2006-01-02") accepts.
func isSimpleDate(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1000 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(m, y)
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// isSimpleDateTime accepts YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
// with a date isSimpleDate accepts, T or t, and no leap second.
func isSimpleDateTime(s string) bool {
	if len(s) < 20 || (s[10] != 'T' && s[10] != 't') || !isSimpleDate(s[:10]) {
		return false
	}
	if s[13] != ':' || s[16] != ':' {
		return false
	}
	h, ok1 := digits(s[11:13])
	mi, ok2 := digits(s[14:16])
	se, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || se > 59 {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zh, ok1 := digits(rest[1:3])
		zm, ok2 := digits(rest[4:6])
		return ok1 && ok2 && zh <= 23 && zm <= 59
	}
	return false
}

// digits parses a short run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}
