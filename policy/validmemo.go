package policy

import (
	"crypto/sha256"
	"reflect"
	"sync"

	"github.com/familylinks/flx/schema"
)

// validMemo remembers the documents the schema validator accepted, by kind
// and SHA-256 of their exact bytes, so that the same document evaluated
// again (a case forwarded to several members, asked about in a match query
// for each member, given as the context of its responses and messages) is
// not validated again: validation was the largest part of an evaluation.
// A hit stands for a full validation of the same bytes (the validator is a
// function of them); refusals are never kept, so an invalid document is
// always checked and refused in full. Two generations bound it.
type validMemo struct {
	mu        sync.Mutex
	cur, prev map[validKey]struct{}
}

type validKey struct {
	docKind string
	sum     [sha256.Size]byte
}

// validMemoSize is the documents per generation (40 bytes each, or so).
const validMemoSize = 4096

func (m *validMemo) has(k validKey) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.cur[k]; ok {
		return true
	}
	_, ok := m.prev[k]
	return ok
}

func (m *validMemo) add(k validKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cur) >= validMemoSize {
		m.prev, m.cur = m.cur, nil
	}
	if m.cur == nil {
		m.cur = make(map[validKey]struct{}, 64)
	}
	m.cur[k] = struct{}{}
}

// check validates doc with the engine's validator, once per document when
// it is the default (schema v1) validator.
func (e *Engine) check(docKind string, doc []byte) error {
	if e.valid == nil {
		return e.validate(docKind, doc)
	}
	k := validKey{docKind: docKind, sum: sha256.Sum256(doc)}
	if e.valid.has(k) {
		return nil
	}
	if err := e.validate(docKind, doc); err != nil {
		return err
	}
	e.valid.add(k)
	return nil
}

// Validate validates doc as a schema v1 document of docKind (case,
// response, message, withdrawal, ...) for a caller that must have it valid
// whatever the engine's own validator is: a node checking what it takes in
// before evaluating it. With the default validator it goes through the
// memo, so the evaluation that follows does not validate the same bytes
// again (and a document already validated by an evaluation is not validated
// twice); with a validator of its own (WithValidator, nil included) the
// engine validates against schema v1 in full every time, never skipping.
func (e *Engine) Validate(docKind string, doc []byte) error {
	if e.valid == nil {
		return schemaValidator(docKind, doc)
	}
	return e.check(docKind, doc)
}

// validTree returns doc's top-level object when the engine's validator is
// the default one (schema v1) and doc passes it: read once, by the
// validator's own parser, instead of validated and then decoded again.
// Through the memo as check is: a document validated before (or, with
// validated, by the caller) is only decoded. ok is false for anything else (another validator, none, a
// document too large or not valid), which the caller reads and checks the
// long way. For a valid document the tree is the one decodeObject makes
// (objects, arrays, strings, json.Number, bools, null; no duplicate
// members, which is where the two parsers could differ); it is fresh, so
// the caller may change it.
func (e *Engine) validTree(docKind string, doc []byte, validated bool) (m map[string]any, ok bool) {
	if e.validate == nil || len(doc) > maxDocSize || !isSchemaValidator(e.validate) {
		return nil, false
	}
	if validated {
		m, err := schema.DecodeValidatedObject(doc)
		return m, err == nil
	}
	var k validKey
	if e.valid != nil {
		k = validKey{docKind: docKind, sum: sha256.Sum256(doc)}
		if e.valid.has(k) {
			m, err := schema.DecodeValidatedObject(doc)
			return m, err == nil
		}
	}
	m, err := schema.ValidateObject(schema.Kind(docKind), doc)
	if err != nil {
		return nil, false
	}
	if e.valid != nil {
		e.valid.add(k)
	}
	return m, true
}

// schemaValidatorPC identifies the default validator, so that a validator
// set in its place (a test's counting wrapper) is always called.
var schemaValidatorPC = reflect.ValueOf(schemaValidator).Pointer()

func isSchemaValidator(v Validator) bool { return reflect.ValueOf(v).Pointer() == schemaValidatorPC }
