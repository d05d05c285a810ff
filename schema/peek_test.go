package schema

import "testing"

func TestPeekCase(t *testing.T) {
	for _, tc := range []struct {
		doc, id, origin string
	}{
		{`{"schema":"flx/v1/case","case_id":"XA-RC:1","type":"x","origin":{"member":"XA-RC","x":1},"persons":[{"a":[1,2]}]}`, "XA-RC:1", "XA-RC"},
		{`{"origin":{"member":"XB-RC"},"case_id":"XB-RC:2"}`, "XB-RC:2", "XB-RC"},
		{`{"case_id":7,"origin":"XA-RC"}`, "", ""},
		{`{"case_id":"XA-RC:3"`, "XA-RC:3", ""},
		{`[1,2]`, "", ""},
		{`not json`, "", ""},
		{`{"persons":[{"case_id":"XA-RC:inner"}]}`, "", ""},
	} {
		id, origin := PeekCaseHead([]byte(tc.doc))
		if id != tc.id || origin != tc.origin {
			t.Errorf("PeekCaseHead(%s) = %q, %q; want %q, %q", tc.doc, id, origin, tc.id, tc.origin)
		}
		if id := PeekCaseID([]byte(tc.doc)); id != tc.id {
			t.Errorf("PeekCaseID(%s) = %q, want %q", tc.doc, id, tc.id)
		}
	}
}

// FuzzPeekCaseID: any input, no panic; a document ParseCase accepts gives
// its case_id and origin.member.
func FuzzPeekCaseID(f *testing.F) {
	f.Add([]byte(`{"case_id":"XA-RC:1","origin":{"member":"XA-RC"}}`))
	f.Add([]byte(`{"origin":{"member":1},"case_id":null}`))
	f.Add([]byte(`{"a":[{"b":"c"}],"case_id":"x"`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		id, origin := PeekCaseHead(doc)
		if c, err := ParseCase(doc); err == nil && (c.CaseID != id || c.Origin.Member != origin || PeekCaseID(doc) != id) {
			t.Fatalf("valid case %q of %q peeked as %q of %q", c.CaseID, c.Origin.Member, id, origin)
		}
	})
}
