package federation

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
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
// exactly one JSON value of shape root.
func checkMembers(data []byte, root *shape) error {
	// Each turn of the loop reads one value's first token (after its member
	// name, inside an object) or the token closing the current container.
	type frame struct {
		sh   *shape // shape of this container (nil: anything)
		obj  bool
		seen map[string]struct{} // object: member names so far
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not converted (no range errors, no cost)
	var st []frame
	done := false
	for !done {
		var vs *shape // shape of the value starting at the next token
		if n := len(st); n == 0 {
			vs = root
		} else if top := &st[n-1]; top.obj {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if tok == json.Delim('}') {
				st = st[:n-1]
				done = len(st) == 0
				continue
			}
			name, ok := tok.(string)
			if !ok {
				return errors.New("object member name is not a string")
			}
			if _, dup := top.seen[name]; dup {
				return fmt.Errorf("member %q appears twice in one object", name)
			}
			top.seen[name] = struct{}{}
			vs = nil
			if top.sh != nil && top.sh.fields != nil {
				if vs, ok = top.sh.fields[name]; !ok {
					return unknownMember(name, top.sh.fields)
				}
			}
		} else if top.sh != nil {
			vs = top.sh.elem
		}

		if vs != nil && vs.opaque {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			done = len(st) == 0
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if vs != nil && vs.fields != nil && tok != json.Delim('{') && tok != json.Delim(']') {
			// encoding/json would leave the struct zero for null.
			return errors.New("expected a JSON object")
		}
		switch tok {
		case json.Delim('{'):
			if len(st) >= maxJSONDepth {
				return errors.New("JSON nested too deeply")
			}
			st = append(st, frame{sh: vs, obj: true, seen: map[string]struct{}{}})
		case json.Delim('['):
			if len(st) >= maxJSONDepth {
				return errors.New("JSON nested too deeply")
			}
			st = append(st, frame{sh: vs})
		case json.Delim(']'):
			// The end of the array being read (Token refuses any other ']').
			st = st[:len(st)-1]
			done = len(st) == 0
		default:
			done = len(st) == 0
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
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

// decodeStrict decodes exactly one JSON value of the given shape into v: the
// pre-pass checkMembers (no duplicate member names, exact member names), then
// encoding/json refusing unknown fields and trailing data.
func decodeStrict(data []byte, sh *shape, v any) error {
	if err := checkMembers(data, sh); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
