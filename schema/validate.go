package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// ErrUnknownKind is returned (wrapped) by [Validate] for a kind that is not
// one of [Kinds].
var ErrUnknownKind = errors.New("schema: unknown document kind")

// Violation is one way in which a document breaks its schema.
type Violation struct {
	// Pointer is the RFC 6901 JSON pointer of the offending value in the
	// document ("" is the whole document). For a missing required member
	// it is the object that lacks it; for a member that is not allowed it
	// is that member.
	Pointer string `json:"pointer"`
	// Keyword is the JSON Schema keyword that failed ("required",
	// "pattern", "format", ...) or one of the Keyword* constants for
	// problems found while decoding.
	Keyword string `json:"keyword"`
	// Message is a short English description. It never quotes the
	// offending value, so it is safe to log and to return to a peer.
	Message string `json:"message"`
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = `""`
	}
	return p + ": " + v.Message
}

// ValidationError reports every violation found in a document. Violations
// are sorted by pointer (array indexes numerically), then keyword, then
// message, and contain no duplicates, so the same document always yields the
// same error.
type ValidationError struct {
	Kind       Kind        `json:"kind"`
	Violations []Violation `json:"violations"`
}

// maxErrorListed bounds how many violations Error() spells out.
const maxErrorListed = 16

// Error lists the pointers and messages of the violations (the first 16, then
// a count of the rest).
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: invalid %s document: %d violation", e.Kind, len(e.Violations))
	if len(e.Violations) != 1 {
		b.WriteByte('s')
	}
	for i, v := range e.Violations {
		if i == maxErrorListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-maxErrorListed)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Pointers returns the distinct pointers of the violations, in order.
func (e *ValidationError) Pointers() []string {
	out := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		out = append(out, v.Pointer)
	}
	return slices.Compact(out)
}

// Validate checks doc, a JSON document of the given kind, against its
// schema v1. It returns nil if the document is valid, a *ValidationError
// listing every violation if it is not (including a single violation at
// pointer "" when doc is not well-formed JSON or not UTF-8), and an error
// wrapping [ErrUnknownKind] for an unknown kind.
//
// Beyond the JSON Schema it rejects duplicate object members, U+0000 in
// strings and unpaired surrogate escapes. Bounding the size of doc is the
// caller's job. Validate is safe for concurrent use.
func Validate(k Kind, doc []byte) error {
	_, err := validate(k, doc)
	return err
}

// ValidateObject is [Validate] that also returns, when doc is valid, its
// top-level object as the validator read it (members map[string]any,
// []any, string, json.Number, bool, nil), for a caller that reads a few
// members without parsing doc again. The tree is made for this call and
// nothing else holds it; a caller that also decodes a case from it
// ([DecodeValidatedCaseObject], which may share its strings) must not
// change it.
func ValidateObject(k Kind, doc []byte) (map[string]any, error) {
	v, err := validate(k, doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok { // every schema v1 document is an object
		return nil, &ValidationError{Kind: k, Violations: []Violation{{Pointer: "", Keyword: "type", Message: "document is not an object"}}}
	}
	return m, nil
}

// DecodeValidatedObject returns the top-level object of doc as
// [ValidateObject] reads it, without checking it against the schema: for a
// document [Validate] already accepted (the same bytes), whose tree a
// caller needs again. It fails on anything the validator's parser refuses
// (not JSON, not UTF-8, duplicate members, U+0000, unpaired surrogates, not
// an object); a document that was never validated must go through
// [ValidateObject]. The tree is the caller's: nothing else holds it.
func DecodeValidatedObject(doc []byte) (map[string]any, error) {
	v, violations := decodeStrict(doc)
	if len(violations) > 0 {
		return nil, &ValidationError{Violations: normalize(violations)}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &ValidationError{Violations: []Violation{{Pointer: "", Keyword: "type", Message: "document is not an object"}}}
	}
	return m, nil
}

// TreeValid reports whether obj, the tree of a document of kind k, is
// certainly valid against schema v1, judged on the tree itself without
// encoding and parsing it: for a caller that changed a tree it read with
// [ValidateObject] or [DecodeValidatedObject] (the policy removing redacted
// members and items) and must know whether the document it encodes is
// still valid. The tree must be one decodeStrict could make: objects,
// arrays, strings that are valid UTF-8 without U+0000, json.Number literals
// of RFC 8259, bools and nil, as those functions return them and anything
// made of their parts. Then true means that [Validate] accepts every
// document that decodes to obj (decodeStrict keeps strings and number
// literals as written, so the document encoding/json writes for obj is
// one). false means only "not known here": the caller validates the
// encoded bytes, which also names what is wrong.
func TreeValid(k Kind, obj map[string]any) bool {
	if obj == nil || !k.Valid() {
		return false
	}
	return fastPasses(k, obj)
}

func validate(k Kind, doc []byte) (any, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, string(k))
	}
	schemas, err := compiled()
	if err != nil {
		return nil, err
	}
	v, ok, violations := decodeDocument(doc)
	if ok && len(violations) == 0 && fastPasses(k, v) {
		return v, nil
	}
	if ok {
		if err := schemas[k].Validate(v); err != nil {
			var verr *jsonschema.ValidationError
			if !errors.As(err, &verr) {
				return nil, fmt.Errorf("schema: validating %s document: %w", k, err)
			}
			violations = flatten(verr, violations)
		}
	}
	if len(violations) == 0 {
		return v, nil
	}
	return nil, &ValidationError{Kind: k, Violations: normalize(violations)}
}

// decodeDocument wraps decodeStrict: ok is false when the document could not
// be decoded at all.
func decodeDocument(doc []byte) (v any, ok bool, violations []Violation) {
	v, violations = decodeStrict(doc)
	for _, vi := range violations {
		if vi.Keyword == KeywordJSON || vi.Keyword == KeywordUTF8 {
			return nil, false, violations
		}
	}
	return v, true, violations
}

// compiled compiles the embedded schemas once.
var compiled = sync.OnceValues(func() (map[Kind]*jsonschema.Schema, error) {
	c, err := newCompiler(schemaFS, "v1")
	if err != nil {
		return nil, err
	}
	out := make(map[Kind]*jsonschema.Schema, len(documentKinds()))
	for _, k := range documentKinds() {
		s, err := c.Compile(k.SchemaID())
		if err != nil {
			return nil, fmt.Errorf("schema: compiling %s: %w", k.SchemaID(), err)
		}
		out[k] = s
	}
	return out, nil
})

// newCompiler returns a compiler holding every *.json file of dir in fsys as
// a resource under BaseURI, with format assertions on, the FLX formats
// registered, and a loader that refuses every URL: references can only
// resolve to these resources or to the metaschemas built into the library.
func newCompiler(fsys fs.FS, dir string) (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(refusingLoader{})
	for _, f := range customFormats {
		c.RegisterFormat(f)
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("schema: reading embedded schemas: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("schema: reading %s: %w", e.Name(), err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("schema: parsing %s: %w", e.Name(), err)
		}
		if err := c.AddResource(BaseURI+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("schema: adding %s: %w", e.Name(), err)
		}
	}
	return c, nil
}

// refusingLoader is the compiler's URL loader: it loads nothing, so schema
// compilation never touches the network or the file system.
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema: refusing to load %q: only the embedded schema files are available", url)
}

// flatten appends the leaf causes of e to out as violations.
func flatten(e *jsonschema.ValidationError, out []Violation) []Violation {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			out = flatten(c, out)
		}
		return out
	}
	ptr := pointerOf(e.InstanceLocation)
	kw := strings.Join(e.ErrorKind.KeywordPath(), "/")
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			out = append(out, Violation{Pointer: ptr, Keyword: kw, Message: fmt.Sprintf("missing required member %q", m)})
		}
		return out
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			out = append(out, Violation{Pointer: ptr + "/" + escapeToken(p), Keyword: kw, Message: "member not allowed here"})
		}
		return out
	}
	if kw == "" {
		kw = "schema"
	}
	return append(out, Violation{Pointer: ptr, Keyword: kw, Message: message(e.ErrorKind)})
}

// message describes a leaf error without quoting the instance value.
func message(ek jsonschema.ErrorKind) string {
	switch k := ek.(type) {
	case *kind.Type:
		return fmt.Sprintf("wrong type: got %s, want %s", k.Got, strings.Join(k.Want, " or "))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = display(w)
		}
		return "must be one of " + strings.Join(want, ", ")
	case *kind.Const:
		return "must be " + display(k.Want)
	case *kind.Format:
		name := k.Want
		if d, ok := formatDescriptions[name]; ok {
			name = d
		}
		if _, ours := customFormatNames[k.Want]; ours && k.Err != nil {
			// Our own errors never quote the value.
			return fmt.Sprintf("not a valid %s: %v", name, k.Err)
		}
		return "not a valid " + name
	case *kind.Pattern:
		if d, ok := patternDescriptions[k.Want]; ok {
			return d
		}
		return "does not match pattern " + k.Want
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("too short: want at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("too long: %d characters, want at most %d", k.Got, k.Want)
	case *kind.Minimum:
		return "must be at least " + k.Want.RatString()
	case *kind.Maximum:
		return "must be at most " + k.Want.RatString()
	case *kind.MinItems:
		return fmt.Sprintf("too few items: %d, want at least %d", k.Got, k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("too many items: %d, want at most %d", k.Got, k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	}
	return "fails " + strings.Join(ek.KeywordPath(), "/")
}

// formatDescriptions names the formats in messages.
var formatDescriptions = map[string]string{
	"date-time":        "RFC 3339 date-time",
	"date":             "date YYYY-MM-DD",
	"email":            "email address",
	"uri":              "absolute URI",
	"flx-partial-date": "partial date",
	"flx-int64":        "integer",
}

// patternDescriptions gives friendlier messages for the common patterns.
var patternDescriptions = map[string]string{
	"^[A-Z0-9][A-Z0-9-]{1,31}$":                      "must be a member id such as XA-RC",
	"^[A-Z0-9][A-Z0-9-]{1,31}:[A-Za-z0-9._-]{1,64}$": "must be a case id <member>:<local id>, such as XA-RC:2024-0001",
	"^[A-Z]{2}$":          "must be an ISO 3166-1 alpha-2 country code",
	"^[a-z0-9_-]{1,32}$":  "must be a person id (a-z, 0-9, _ and -, at most 32)",
	"^[a-z][a-z_]{1,63}$": "must be a lower-case snake_case token",
	"^[0-9a-f]{64}$":      "must be a SHA-256 as 64 lower-case hex digits",
	"^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$": "must be a partial date YYYY, YYYY-MM or YYYY-MM-DD",
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}$":                              "must be a date YYYY-MM-DD",
	"^[A-Z][a-z]{3}$":                                           "must be an ISO 15924 script code such as Latn",
}

func display(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// normalize sorts violations and removes duplicates.
func normalize(vs []Violation) []Violation {
	slices.SortFunc(vs, compareViolations)
	return slices.Compact(vs)
}

func compareViolations(a, b Violation) int {
	if c := comparePointers(a.Pointer, b.Pointer); c != 0 {
		return c
	}
	if c := strings.Compare(a.Keyword, b.Keyword); c != 0 {
		return c
	}
	return strings.Compare(a.Message, b.Message)
}

// comparePointers orders JSON pointers token by token, comparing tokens that
// are both array indexes numerically (so /persons/2 sorts before /persons/10).
func comparePointers(a, b string) int {
	if a == b {
		return 0
	}
	at, bt := splitPointer(a), splitPointer(b)
	for i := 0; i < len(at) && i < len(bt); i++ {
		x, y := at[i], bt[i]
		if x == y {
			continue
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		if xerr == nil && yerr == nil && xn != yn {
			if xn < yn {
				return -1
			}
			return 1
		}
		return strings.Compare(x, y)
	}
	return len(at) - len(bt)
}

func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// pointerOf builds an RFC 6901 JSON pointer from unescaped tokens.
func pointerOf(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escapeToken(t))
	}
	return b.String()
}

var tokenEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapeToken(t string) string {
	if !strings.ContainsAny(t, "~/") {
		return t
	}
	return tokenEscaper.Replace(t)
}

func itoa(i int) string { return strconv.Itoa(i) }
