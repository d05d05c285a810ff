package schema

import (
	"bytes"
	"encoding/json"
)

// PeekCaseID reads the case_id of a case document without decoding or
// validating the rest: it stops reading once it is found (it comes first
// in documents this project writes). For routing a document before it is
// checked (is it stored already), never for trusting it: a document may
// still be invalid, name a member twice or give case_id another type (then
// "" is returned).
func PeekCaseID(doc []byte) string {
	id, _ := peek(doc, false)
	return id
}

// PeekCaseHead is PeekCaseID that also reads origin.member, reading on
// until both are found.
func PeekCaseHead(doc []byte) (caseID, originMember string) { return peek(doc, true) }

func peek(doc []byte, withOrigin bool) (caseID, originMember string) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", ""
	}
	haveID, haveOrigin := false, !withOrigin
	for dec.More() && !(haveID && haveOrigin) {
		t, err := dec.Token()
		if err != nil {
			return caseID, originMember
		}
		key, _ := t.(string)
		switch key {
		case "case_id":
			var v any
			if dec.Decode(&v) != nil {
				return caseID, originMember
			}
			caseID, _ = v.(string)
			haveID = true
		case "origin":
			var o struct {
				Member any `json:"member"`
			}
			if dec.Decode(&o) != nil {
				return caseID, originMember
			}
			originMember, _ = o.Member.(string)
			haveOrigin = true
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return caseID, originMember
			}
		}
	}
	return caseID, originMember
}
