package schema

import (
	"strings"
	"testing"
)

const validQuery = `{"schema":"flx/v1/match_query","case_id":"XA-RC:TR-1","person_id":"p1","encoding":{"v":1,"alg":"clk-hmac-sha256-blip","kid":"2026-1",
"params":{"l":64,"k_skel":16,"k_phon":0,"k_year":24,"k_sex":8,"flip":0.02,"block_bits":16},"exp":"2026-12-31T00:00:00Z",
"filters":["AAAAAAAAAAA="],"blocks":["q1w"]}}`

// TestMatchDocuments: a query carries an encoding and ids only; anything
// that could hold a name in clear is refused.
func TestMatchDocuments(t *testing.T) {
	if _, err := ParseMatchQuery([]byte(validQuery)); err != nil {
		t.Fatalf("valid query: %v", err)
	}
	bad := map[string]string{
		"a names member":         strings.Replace(validQuery, `"person_id":"p1",`, `"person_id":"p1","names":[{"value":"Karo"}],`, 1),
		"a name as a filter":     strings.Replace(validQuery, `"AAAAAAAAAAA="`, `"Karo Hovsampelyan"`, 1),
		"a name as a block":      strings.Replace(validQuery, `"q1w"`, `"Karo Hovsampelyan"`, 1),
		"a name in the key id":   strings.Replace(validQuery, `"2026-1"`, `"Karo Hovsampelyan"`, 1),
		"a name in the encoding": strings.Replace(validQuery, `"v":1,`, `"v":1,"name":"Karo",`, 1),
		"another algorithm":      strings.Replace(validQuery, `clk-hmac-sha256-blip`, `clk-plain`, 1),
		"no filter":              strings.Replace(validQuery, `["AAAAAAAAAAA="]`, `[]`, 1),
	}
	for name, doc := range bad {
		if _, err := ParseMatchQuery([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	answer := `{"schema":"flx/v1/match_answer","case_id":"XA-RC:TR-1","person_id":"p1","in_reply_to":"j1","responder":"XB-RC",
"candidates":[{"handle":"h-0123456789abcdef01234567","score":0.81}]}`
	if _, err := ParseMatchAnswer([]byte(answer)); err != nil {
		t.Fatalf("valid answer: %v", err)
	}
	for name, doc := range map[string]string{
		"a name as a handle": strings.Replace(answer, `h-0123456789abcdef01234567`, `Karo Hovsampelyan`, 1),
		"a case id":          strings.Replace(answer, `"score":0.81`, `"score":0.81,"case_id":"XB-RC:DN-1"`, 1),
	} {
		if _, err := ParseMatchAnswer([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
