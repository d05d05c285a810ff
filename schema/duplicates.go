package schema

import (
	"encoding/json"
	"errors"
	"fmt"
)

// DuplicateKeyError reports an object member named twice in a JSON text.
// Parsers disagree on which of the two wins, so FLX refuses such a text
// wherever it comes from outside the node (local API bodies, federation
// payloads, manifests, import lines); the local API answers it with the
// problem code duplicate_key.
type DuplicateKeyError struct {
	// Pointer is the RFC 6901 pointer of the second member.
	Pointer string
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("object member %q is given twice", e.Pointer)
}

// CheckDuplicateKeys returns a *DuplicateKeyError for the first object
// member named twice in data (at any depth), or nil. It does not judge
// anything else: a text that is not well-formed JSON returns nil and is left
// to the caller's decoder to refuse.
func CheckDuplicateKeys(data []byte) error {
	_, vs := decodeStrict(data)
	for _, v := range vs {
		if v.Keyword == KeywordDuplicateKey {
			return &DuplicateKeyError{Pointer: v.Pointer}
		}
	}
	return nil
}

// UnmarshalNoDuplicates is json.Unmarshal that first refuses a text with a
// duplicated object member (a *DuplicateKeyError). It is the one helper for
// JSON the node reads from outside with encoding/json.
func UnmarshalNoDuplicates(data []byte, v any) error {
	if err := CheckDuplicateKeys(data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// IsDuplicateKey reports whether err is (or wraps) a *DuplicateKeyError.
func IsDuplicateKey(err error) bool {
	var d *DuplicateKeyError
	return errors.As(err, &d)
}
