package policy

import (
	"crypto/sha256"
	"sync"
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
