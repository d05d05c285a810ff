package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pk is an expected violation: pointer and keyword.
type pk struct{ ptr, kw string }

func (p pk) String() string { return fmt.Sprintf("%q %s", p.ptr, p.kw) }

// violationsOf validates doc and returns the (pointer, keyword) pairs
// reported, failing the test if the error is not a *ValidationError.
func violationsOf(t *testing.T, k Kind, doc []byte) []pk {
	t.Helper()
	err := Validate(k, doc)
	if err == nil {
		return nil
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate(%s) returned %T (%v), want *ValidationError", k, err, err)
	}
	if verr.Kind != k {
		t.Errorf("ValidationError.Kind = %q, want %q", verr.Kind, k)
	}
	out := make([]pk, len(verr.Violations))
	for i, v := range verr.Violations {
		out[i] = pk{v.Pointer, v.Keyword}
		if v.Message == "" {
			t.Errorf("violation at %q has no message", v.Pointer)
		}
	}
	return out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "invalid", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExamplesValidate(t *testing.T) {
	ex := Examples()
	if len(ex) == 0 {
		t.Fatal("no examples embedded")
	}
	for _, e := range ex {
		t.Run(e.Name, func(t *testing.T) {
			if !e.Kind.Valid() {
				t.Fatalf("example %s has unknown kind prefix %q", e.Name, e.Kind)
			}
			if err := Validate(e.Kind, e.Doc); err != nil {
				t.Fatalf("example does not validate: %v", err)
			}
			// An example must not validate as any other kind.
			for _, other := range Kinds() {
				if other != e.Kind && Validate(other, e.Doc) == nil {
					t.Errorf("example also validates as %s", other)
				}
			}
		})
	}
}

// TestExamplesCoverage checks that the examples cover every case type,
// the main response outcomes, every message kind and a withdrawal, and that
// they stay within the invented world of the fixtures.
func TestExamplesCoverage(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Examples() {
		var head struct {
			Type, Outcome, Kind string
		}
		if err := json.Unmarshal(e.Doc, &head); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		seen[string(e.Kind)+":"+head.Type+head.Outcome+head.Kind] = true
		if e.Kind == KindWithdrawal {
			seen["withdrawal:"] = true
		}
		checkInventedWorld(t, e.Name, e.Doc)
	}
	want := []string{
		"case:tracing_request", "case:detention_notification", "case:unaccompanied_minor_registration",
		"case:death_notification", "case:reunification_request", "case:fate_clarification", "case:safe_and_well",
		"response:located", "response:not_found", "response:declined_contact", "response:deceased",
		"response:located_pending_consent",
		"message:red_cross_message", "message:family_news", "message:phone_call_record", "message:video_message",
		"message:voice_message",
		"withdrawal:",
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no example for %s", w)
		}
	}
}

// checkInventedWorld fails if a document names a member or country outside
// the fixture world (members XA-RC, XB-RC, XC-RC, ICRC-CTA; countries XA-XD).
func checkInventedWorld(t *testing.T, name string, doc []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	members := map[string]bool{"XA-RC": true, "XB-RC": true, "XC-RC": true, "ICRC-CTA": true}
	countries := map[string]bool{"XA": true, "XB": true, "XC": true, "XD": true}
	memberKeys := map[string]bool{"member": true, "responder": true, "author_member": true, "members": true}
	countryKeys := map[string]bool{"country": true, "countries": true, "nationalities": true, "feared_countries": true, "parties_to_conflict": true}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				walk(k, c)
			}
		case []any:
			for _, c := range x {
				walk(key, c)
			}
		case string:
			if memberKeys[key] && !members[x] {
				t.Errorf("%s: %s %q is not a fixture member", name, key, x)
			}
			if countryKeys[key] && !countries[x] {
				t.Errorf("%s: %s %q is not a fixture country", name, key, x)
			}
			if key == "case_id" || key == "message_id" {
				m, _, _ := strings.Cut(x, ":")
				if !members[m] {
					t.Errorf("%s: %s %q is not scoped by a fixture member", name, key, x)
				}
			}
		}
	}
	walk("", v)
}

func TestInvalidDocuments(t *testing.T) {
	p := func(ptr, kw string) pk { return pk{ptr, kw} }
	tests := []struct {
		name string // file in testdata/invalid, or a label for inline docs
		kind Kind
		doc  string // inline document; empty: read the file
		want []pk
	}{
		{name: "case.missing_required.json", kind: KindCase, want: []pk{
			p("", "required"), p("/origin", "required"), p("/persons/0", "required"), p("/persons/0/names/0", "required"),
		}},
		{name: "case.bad_enum.json", kind: KindCase, want: []pk{
			p("/legal_basis/type", "enum"), p("/persons/0/names/0/part", "enum"), p("/persons/0/names/0/scheme", "enum"),
			p("/persons/0/roles/1", "enum"), p("/persons/0/sex", "enum"), p("/sensitivity/0", "enum"),
			p("/status", "enum"), p("/type", "enum"),
		}},
		{name: "case.bad_pattern.json", kind: KindCase, want: []pk{
			p("/case_id", "pattern"), p("/origin/member", "pattern"), p("/persons/0/contact/phones/0", "pattern"),
			p("/persons/0/feared_countries/0", "pattern"), p("/persons/0/id", "pattern"),
			p("/persons/0/names/0/lang", "pattern"), p("/persons/0/names/0/script", "pattern"),
			p("/persons/0/nationalities/0", "pattern"), p("/purpose", "pattern"),
		}},
		{name: "case.bad_partial_date.json", kind: KindCase, want: []pk{
			p("/detention/detained_since", "pattern"),
			p("/persons/0/birth_date", "pattern"), p("/persons/0/last_known_location/date", "pattern"),
			p("/persons/1/age/as_of", "format"), p("/persons/1/birth_date", "pattern"),
			p("/retention_until", "format"), // a failing format stops the other checks of that value
			p("/separation/date", "format"),
		}},
		{name: "case.additional_property.json", kind: KindCase, want: []pk{
			p("/origin/signature", "additionalProperties"), p("/owner", "additionalProperties"),
			p("/persons/0/address/street", "additionalProperties"), p("/persons/0/names/0/translit", "additionalProperties"),
			p("/persons/0/religion", "additionalProperties"), p("/risk/a~1b~0c", "additionalProperties"),
		}},
		{name: "case.wrong_type.json", kind: KindCase, want: []pk{
			p("/consents/0/scope/non_movement", "type"), p("/consents/0/scope/uses", "type"), p("/notes/0", "type"),
			p("/origin/created_at", "type"), p("/persons", "type"), p("/superseded", "type"), p("/version", "type"),
		}},
		{name: "case.bad_format.json", kind: KindCase, want: []pk{
			p("/consents/0/given_at", "format"), p("/origin/created_at", "format"),
			p("/persons/0/contact/emails/0", "format"), p("/updated_at", "format"),
		}},
		{name: "case.bad_numbers.json", kind: KindCase, want: []pk{
			p("/persons/0/age/max", "type"), p("/persons/0/age/min", "minimum"),
			p("/persons/0/last_known_location/place/geo/lat", "maximum"),
			p("/persons/0/last_known_location/place/geo/lon", "minimum"),
			p("/persons/0/photo/size_bytes", "format"), p("/version", "format"),
		}},
		{name: "case.bad_arrays.json", kind: KindCase, want: []pk{
			p("/persons", "minItems"), p("/sensitivity", "uniqueItems"),
		}},
		{name: "case.duplicate_key.json", kind: KindCase, want: []pk{
			p("/case_id", KeywordDuplicateKey), p("/persons/0/contact", KeywordDuplicateKey),
		}},
		{name: "case.invalid_json.json", kind: KindCase, want: []pk{p("", KeywordJSON)}},
		{name: "case.not_object.json", kind: KindCase, want: []pk{p("", "type")}},
		{name: "case.wrong_schema_tag.json", kind: KindCase, want: []pk{p("/schema", "const")}},
		{name: "case.nul_in_string.json", kind: KindCase, want: []pk{p("/persons/0/names/0/value", KeywordNUL)}},
		{name: "case.unpaired_surrogate.json", kind: KindCase, want: []pk{p("/persons/0/names/0/value", KeywordSurrogate)}},
		{name: "message.bad_sha256.json", kind: KindMessage, want: []pk{
			p("/media/media_type", "pattern"), p("/media/sha256", "pattern"), p("/media/uri", "format"),
		}},
		{name: "message.bad_media_transfer.json", kind: KindMessage, want: []pk{
			p("/media", "dependentRequired/chunk_bytes"), p("/media/chunk_bytes", "multipleOf"), p("/media/uri", "pattern"),
		}},
		{name: "message.missing_body.json", kind: KindMessage, want: []pk{
			p("", "required"), p("/delivery/state", "enum"),
		}},
		{name: "message.video_without_media.json", kind: KindMessage, want: []pk{p("", "required")}},
		{name: "message.voice_incomplete_media.json", kind: KindMessage, want: []pk{
			p("/media", "required"), p("/media", "required"),
		}},
		{name: "response.bad_member_id.json", kind: KindResponse, want: []pk{
			p("/in_reply_to_version", "minimum"), p("/notes/0/author_member", "pattern"),
			p("/outcome", "enum"), p("/responder", "pattern"),
		}},
		{name: "withdrawal.bad_fields.json", kind: KindWithdrawal, want: []pk{
			p("/erase", "type"), p("/person_ids", "minItems"), p("/reason", "enum"), p("/withdrawn_at", "format"),
		}},
		// Inline documents: things a file fixture cannot show well.
		{name: "confirmation with a bad jti", kind: KindWithdrawal, doc: `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-07-01T08:00:00Z","confirms":"abc def","erased_at":"yesterday"}`,
			want: []pk{p("/confirms", "pattern"), p("/erased_at", "format")}},
		{name: "empty document", kind: KindCase, doc: "", want: []pk{p("", KeywordJSON)}},
		{name: "trailing value", kind: KindWithdrawal, doc: `{}{}`, want: []pk{p("", KeywordJSON)}},
		{name: "trailing garbage", kind: KindWithdrawal, doc: `{} x`, want: []pk{p("", KeywordJSON)}},
		{name: "null document", kind: KindMessage, doc: `null`, want: []pk{p("", "type")}},
		{name: "invalid UTF-8", kind: KindCase, doc: "{\"schema\": \"flx/v1/case\xff\"}", want: []pk{p("", KeywordUTF8)}},
		{name: "response as case", kind: KindCase, doc: `{"schema":"flx/v1/response","case_id":"XA-RC:1","responder":"XC-RC","outcome":"not_found","responded_at":"2024-06-20T11:00:00Z"}`,
			want: []pk{
				p("", "required"), p("", "required"), p("", "required"), p("", "required"), p("", "required"),
				p("", "required"),
				p("/outcome", "additionalProperties"), p("/responded_at", "additionalProperties"),
				p("/responder", "additionalProperties"), p("/schema", "const"),
			}},
		{name: "escaped member names", kind: KindWithdrawal, doc: `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-07-01T08:00:00Z","~0":1,"/":2,"":3}`,
			want: []pk{p("/", "additionalProperties"), p("/~00", "additionalProperties"), p("/~1", "additionalProperties")}},
		{name: "sorted numerically", kind: KindWithdrawal, doc: `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-07-01T08:00:00Z","person_ids":["p0","p1","p2","p3","p4","p5","p6","p7","p8","P9","PA","p11"]}`,
			want: []pk{p("/person_ids/9", "pattern"), p("/person_ids/10", "pattern")}},
		{name: "duplicate in array of objects", kind: KindWithdrawal, doc: `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-07-01T08:00:00Z","erase":true,"erase":false}`,
			want: []pk{p("/erase", KeywordDuplicateKey)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.doc)
			if strings.HasSuffix(tc.name, ".json") {
				doc = readTestdata(t, tc.name)
			}
			got := violationsOf(t, tc.kind, doc)
			if !slices.Equal(got, tc.want) {
				t.Errorf("violations:\n got  %v\n want %v\n(error: %v)", got, tc.want, Validate(tc.kind, doc))
			}
		})
	}
}

// TestInvalidFixturesAllListed makes sure no fixture file is left out of the
// table above.
func TestInvalidFixturesAllListed(t *testing.T) {
	src, err := os.ReadFile("validate_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("only %d invalid fixtures", len(files))
	}
	for _, f := range files {
		if !strings.Contains(string(src), `name: "`+filepath.Base(f)+`"`) {
			t.Errorf("fixture %s has no row in TestInvalidDocuments", f)
		}
	}
}

func TestValidateUnknownKind(t *testing.T) {
	for _, k := range []Kind{"", "Case", "case.create", "receipt"} {
		err := Validate(k, []byte(`{}`))
		if !errors.Is(err, ErrUnknownKind) {
			t.Errorf("Validate(%q) = %v, want ErrUnknownKind", k, err)
		}
		var verr *ValidationError
		if errors.As(err, &verr) {
			t.Errorf("Validate(%q) returned a *ValidationError", k)
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	doc := readTestdata(t, "case.bad_enum.json")
	err := Validate(KindCase, doc)
	if err == nil {
		t.Fatal("want error")
	}
	msg := err.Error()
	for _, want := range []string{"schema: invalid case document: 8 violations", "/persons/0/roles/1: must be one of", "/type:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
	var verr *ValidationError
	errors.As(err, &verr)
	if got := verr.Pointers(); len(got) != 8 || got[0] != "/legal_basis/type" {
		t.Errorf("Pointers() = %v", got)
	}

	// Long lists are cut.
	var ids []string
	for i := range 40 {
		ids = append(ids, fmt.Sprintf(`"BAD%d"`, i))
	}
	many := `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-07-01T08:00:00Z","person_ids":[` + strings.Join(ids, ",") + `]}`
	msg = Validate(KindWithdrawal, []byte(many)).Error()
	if !strings.Contains(msg, "40 violations") || !strings.Contains(msg, "and 24 more") || strings.Contains(msg, "/person_ids/16:") {
		t.Errorf("Error() of 40 violations = %q", msg)
	}

	// The root pointer is shown as "".
	msg = Validate(KindCase, []byte(`{`)).Error()
	if !strings.HasPrefix(msg, `schema: invalid case document: 1 violation: "": invalid JSON`) {
		t.Errorf("Error() = %q", msg)
	}
}

// TestMessagesDoNotQuoteValues: violation messages must not disclose the
// personal data that failed validation (they are logged and sent to peers).
func TestMessagesDoNotQuoteValues(t *testing.T) {
	const secret = "Zebulon"
	docs := map[Kind]string{
		KindCase: `{"schema":"flx/v1/case","case_id":"Zebulon","version":1,"type":"Zebulon","status":"open",
			"origin":{"member":"XA-RC","created_at":"Zebulon"},"purpose":"tracing",
			"persons":[{"id":"Zebulon","birth_date":"Zebulon","sex":"Zebulon","names":[{"value":"Zebulon","script":"Zebulon"}],
			"contact":{"emails":["Zebulon"],"phones":["Zebulon"]},"nationalities":["Zebulon"]}]}`,
		KindMessage: `{"schema":"Zebulon","message_id":"m","case_id":"XA-RC:1","kind":"red_cross_message","channel":"rcm","created_at":"2024-01-01T00:00:00Z","body":"","media":{"sha256":"Zebulon","media_type":"x","uri":"Zebulon with spaces"}}`,
	}
	for k, doc := range docs {
		err := Validate(k, []byte(doc))
		if err == nil {
			t.Fatalf("%s: want error", k)
		}
		var verr *ValidationError
		errors.As(err, &verr)
		if len(verr.Violations) < 5 {
			t.Errorf("%s: only %d violations: %v", k, len(verr.Violations), err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error quotes the value: %v", k, err)
		}
	}
}

func TestValidateDeterministicAndConcurrent(t *testing.T) {
	docs := [][]byte{readTestdata(t, "case.bad_pattern.json"), readTestdata(t, "case.additional_property.json")}
	for _, e := range Examples() {
		docs = append(docs, e.Doc)
	}
	want := make([]string, len(docs))
	for i, d := range docs {
		want[i] = fmt.Sprint(Validate(KindCase, d))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				for i, d := range docs {
					if got := fmt.Sprint(Validate(KindCase, d)); got != want[i] {
						errs <- fmt.Sprintf("doc %d: got %s, want %s", i, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestComparePointers(t *testing.T) {
	in := []string{"/persons/10/id", "/persons/2", "", "/persons/2/id", "/a", "/persons/x", "/persons/10"}
	slices.SortFunc(in, comparePointers)
	want := []string{"", "/a", "/persons/2", "/persons/2/id", "/persons/10", "/persons/10/id", "/persons/x"}
	if !slices.Equal(in, want) {
		t.Errorf("sorted = %v, want %v", in, want)
	}
}

// TestValidateObject: a valid document comes back as the object the
// validator read; an invalid one gives Validate's error and no object.
func TestValidateObject(t *testing.T) {
	ex, ok := ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("example missing")
	}
	m, err := ValidateObject(KindCase, ex.Doc)
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := m["origin"].(map[string]any)
	if m["case_id"] != "XA-RC:TR-2024-0117" || origin["member"] != "XA-RC" {
		t.Fatalf("case_id %v, origin %v", m["case_id"], m["origin"])
	}
	for _, doc := range [][]byte{[]byte(`{"schema":"flx/v1/case"}`), []byte(`[1]`), []byte(`{"a":1,"a":2}`), []byte(`{`)} {
		m, err := ValidateObject(KindCase, doc)
		var ve *ValidationError
		if m != nil || !errors.As(err, &ve) {
			t.Fatalf("%s: object %v, error %v", doc, m, err)
		}
		if want := Validate(KindCase, doc); want == nil || want.Error() != err.Error() {
			t.Fatalf("%s: ValidateObject %v, Validate %v", doc, err, want)
		}
	}
}
