package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ParseCase validates doc as a case document and decodes it.
func ParseCase(doc []byte) (*Case, error) { return parseAs[Case](KindCase, doc) }

// DecodeValidatedCase decodes a case document that [Validate] already
// accepted (a node's inbox body, validated on receipt) without validating it
// again: the second validation was ~20% of a received case's schema cost.
// Members the Go type has no field for are still refused; a document that
// was never validated must go through ParseCase.
func DecodeValidatedCase(doc []byte) (*Case, error) {
	v := new(Case)
	if err := decodeTyped(doc, nil, v); err != nil {
		return nil, fmt.Errorf("schema: decoding %s document: %w", KindCase, err)
	}
	return v, nil
}

// DecodeValidatedCaseObject is [DecodeValidatedCase] from the object
// [ValidateObject] returned for doc, which it decodes without parsing doc
// again. The case may share strings with obj; neither may be changed.
func DecodeValidatedCaseObject(doc []byte, obj map[string]any) (*Case, error) {
	v := new(Case)
	var tree any
	if obj != nil {
		tree = obj
	}
	if err := decodeTyped(doc, tree, v); err != nil {
		return nil, fmt.Errorf("schema: decoding %s document: %w", KindCase, err)
	}
	return v, nil
}

// ParseResponse validates doc as a response document and decodes it.
func ParseResponse(doc []byte) (*Response, error) { return parseAs[Response](KindResponse, doc) }

// ParseMessage validates doc as a message document and decodes it.
func ParseMessage(doc []byte) (*Message, error) { return parseAs[Message](KindMessage, doc) }

// ParseWithdrawal validates doc as a withdrawal document and decodes it.
func ParseWithdrawal(doc []byte) (*Withdrawal, error) {
	return parseAs[Withdrawal](KindWithdrawal, doc)
}

// Parse validates doc as a document of kind k and decodes it into the
// matching Go type: *Case, *Response, *Message or *Withdrawal. Errors are
// those of [Validate].
func Parse(k Kind, doc []byte) (any, error) {
	switch k {
	case KindCase:
		return ParseCase(doc)
	case KindResponse:
		return ParseResponse(doc)
	case KindMessage:
		return ParseMessage(doc)
	case KindWithdrawal:
		return ParseWithdrawal(doc)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownKind, string(k))
}

func parseAs[T any](k Kind, doc []byte) (*T, error) {
	tree, err := validate(k, doc)
	if err != nil {
		return nil, err
	}
	v := new(T)
	// From the tree validation made: the document is parsed once.
	if err := decodeTyped(doc, tree, v); err != nil {
		// A valid document always decodes; this would be a bug in the
		// Go types (FuzzValidate checks it).
		return nil, fmt.Errorf("schema: decoding valid %s document: %w", k, err)
	}
	return v, nil
}

// decodeInto decodes doc into v, refusing members v has no field for.
func decodeInto(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
