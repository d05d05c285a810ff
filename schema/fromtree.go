package schema

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// decodeTyped decodes doc into v (a pointer to one of the Go types of this
// package) exactly as [decodeInto] does, but from the tree decodeStrict
// makes, which is about twice as fast as encoding/json on a case. tree, when
// not nil, is that tree already made (by validation) for doc.
//
// The tree is used only where its meaning is the same as encoding/json's:
// a well-formed document without duplicate members, unpaired surrogates or
// invalid UTF-8, whose every member names a field exactly and whose every
// value has the field's type (no null, no number that does not fit).
// Anything else — including every document encoding/json refuses — is
// decoded by decodeInto, so the value and the error are always decodeInto's
// (FuzzDecodeTyped checks it).
func decodeTyped(doc []byte, tree any, v any) error {
	if tree == nil {
		var violations []Violation
		tree, violations = decodeStrict(doc)
		if len(violations) > 0 {
			tree = nil
		}
	}
	if tree != nil {
		rv := reflect.ValueOf(v).Elem()
		if setFromTree(rv, tree) {
			return nil
		}
		rv.SetZero()
	}
	return decodeInto(doc, v)
}

// setFromTree sets rv from x, a value of a decodeStrict tree; false when x
// is not exactly what rv's type holds (rv is then partly set).
func setFromTree(rv reflect.Value, x any) bool {
	switch rv.Kind() {
	case reflect.String:
		s, ok := x.(string)
		if ok {
			// The tree's strings are substrings of one copy of the
			// document: a typed value often outlives the document (a
			// person's identifiers in the matching index), and one
			// string kept would keep the whole copy.
			rv.SetString(strings.Clone(s))
		}
		return ok
	case reflect.Bool:
		b, ok := x.(bool)
		if ok {
			rv.SetBool(b)
		}
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || rv.OverflowInt(i) {
			return false
		}
		rv.SetInt(i)
		return true
	case reflect.Float32, reflect.Float64:
		n, ok := x.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), rv.Type().Bits())
		if err != nil || rv.OverflowFloat(f) {
			return false
		}
		rv.SetFloat(f)
		return true
	case reflect.Pointer:
		if x == nil {
			return false
		}
		p := reflect.New(rv.Type().Elem())
		if !setFromTree(p.Elem(), x) {
			return false
		}
		rv.Set(p)
		return true
	case reflect.Slice:
		a, ok := x.([]any)
		if !ok {
			return false
		}
		s := reflect.MakeSlice(rv.Type(), len(a), len(a))
		for i, e := range a {
			if !setFromTree(s.Index(i), e) {
				return false
			}
		}
		rv.Set(s)
		return true
	case reflect.Struct:
		m, ok := x.(map[string]any)
		if !ok {
			return false
		}
		fields := fieldsOf(rv.Type())
		for name, e := range m {
			i, ok := fields[name]
			if !ok { // encoding/json may match it without regard to case, or refuse it
				return false
			}
			if !setFromTree(rv.Field(i), e) {
				return false
			}
		}
		return true
	}
	return false
}

// fieldIndexes maps a struct type to the index of its field of each json
// name.
var fieldIndexes sync.Map // reflect.Type -> map[string]int

func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fieldIndexes.Load(t); ok {
		return m.(map[string]int)
	}
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" || f.Anonymous {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
	}
	fieldIndexes.Store(t, m)
	return m
}
