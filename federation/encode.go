package federation

import (
	"slices"
	"strconv"
)

// appendClaims appends the claims as json.Marshal writes them (the same
// bytes, members in wireClaims order) when that needs no escaping and the
// body is valid JSON already in Marshal's form; ok is false otherwise, and
// the caller marshals with encoding/json. The claims have passed
// checkClaims and checkKind: iss, aud, kind and case_id hold no character
// that JSON escapes.
func appendClaims(b []byte, w *wireClaims) (_ []byte, ok bool) {
	if !plainString(w.JTI) || !plainString(string(w.Kind)) {
		return nil, false
	}
	if valid, marshaled := scanJSON(w.Body); !valid || !marshaled {
		return nil, false
	}
	// One allocation of the exact size (two int64s at most 20 bytes each)
	// instead of growing through every power of two.
	b = slices.Grow(b, len(`{"iss":"","aud":"","iat":,"exp":,"jti":"","kind":"","case_id":"","body":}`)+
		len(w.Iss)+len(w.Aud)+40+len(w.JTI)+len(w.Kind)+len(w.CaseID)+len(w.Body))
	b = append(b, `{"iss":"`...)
	b = append(b, w.Iss...)
	b = append(b, `","aud":"`...)
	b = append(b, w.Aud...)
	b = append(b, `","iat":`...)
	b = strconv.AppendInt(b, w.Iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, w.Exp, 10)
	b = append(b, `,"jti":"`...)
	b = append(b, w.JTI...)
	b = append(b, `","kind":"`...)
	b = append(b, w.Kind...)
	b = append(b, `","case_id":"`...)
	b = append(b, w.CaseID...)
	b = append(b, `","body":`...)
	b = append(b, w.Body...)
	return append(b, '}'), true
}

// appendReceipt is appendClaims for receipt claims (checked by
// checkReceipt).
func appendReceipt(b []byte, w *wireReceipt) (_ []byte, ok bool) {
	if !plainString(w.Iss) || !plainString(w.Aud) || !plainString(w.ReceiptFor) || !plainString(w.SHA256) || !plainString(string(w.Status)) {
		return nil, false
	}
	b = slices.Grow(b, len(`{"iss":"","aud":"","iat":,"receipt_for":"","sha256":"","status":""}`)+
		len(w.Iss)+len(w.Aud)+20+len(w.ReceiptFor)+len(w.SHA256)+len(w.Status))
	b = append(b, `{"iss":"`...)
	b = append(b, w.Iss...)
	b = append(b, `","aud":"`...)
	b = append(b, w.Aud...)
	b = append(b, `","iat":`...)
	b = strconv.AppendInt(b, w.Iat, 10)
	b = append(b, `,"receipt_for":"`...)
	b = append(b, w.ReceiptFor...)
	b = append(b, `","sha256":"`...)
	b = append(b, w.SHA256...)
	b = append(b, `","status":"`...)
	b = append(b, w.Status...)
	return append(b, `"}`...), true
}

// plainString reports whether json.Marshal writes s as it is between
// quotes: printable ASCII but for ", \, <, > and &.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
