package schema

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// newDoc returns a pointer to a zero Go value for documents of kind k.
func newDoc(t testing.TB, k Kind) any {
	t.Helper()
	switch k {
	case KindCase:
		return new(Case)
	case KindResponse:
		return new(Response)
	case KindMessage:
		return new(Message)
	case KindWithdrawal:
		return new(Withdrawal)
	}
	t.Fatalf("no Go type for kind %q", k)
	return nil
}

// generic decodes JSON into the generic form, numbers as json.Number so
// that 92.5 and 92.50 compare by value, not by float rounding.
func generic(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return normalizeNumbers(v)
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = normalizeNumbers(c)
		}
	case []any:
		for i, c := range x {
			x[i] = normalizeNumbers(c)
		}
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x
		}
		return f
	}
	return v
}

// TestRoundTripExamples decodes every example strictly into its Go type,
// re-encodes it and checks that nothing was lost or added, and that the
// result still validates.
func TestRoundTripExamples(t *testing.T) {
	for _, e := range Examples() {
		t.Run(e.Name, func(t *testing.T) {
			v := newDoc(t, e.Kind)
			if err := decodeInto(e.Doc, v); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := generic(t, out), generic(t, e.Doc); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the document:\n got  %s\n want %s", out, e.Doc)
			}
			if err := Validate(e.Kind, out); err != nil {
				t.Errorf("re-encoded document does not validate: %v", err)
			}
			parsed, err := Parse(e.Kind, e.Doc)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(parsed, v) {
				t.Errorf("Parse gave %#v, want %#v", parsed, v)
			}
		})
	}
}

// TestRoundTripKeepsEmptyAndZero: absent, empty and zero values stay
// distinct through the Go types (a redactor may leave [] behind; age 0 and
// false are real values).
func TestRoundTripKeepsEmptyAndZero(t *testing.T) {
	doc := `{"schema":"flx/v1/case","case_id":"XA-RC:1","version":1,"type":"tracing_request","status":"open",` +
		`"origin":{"member":"XA-RC","created_at":"2024-01-01T00:00:00Z"},"purpose":"tracing",` +
		`"consents":[],"relationships":[{"from":"p1","to":"p2","type":"father","verified":false}],` +
		`"persons":[{"id":"p1","names":[],"age":{"min":0,"max":0},"contact":{"phones":[]},"address":{}},` +
		`{"id":"p2","last_known_location":{"place":{"geo":{"lat":0,"lon":0}}}}],"superseded":false}`
	if err := Validate(KindCase, []byte(doc)); err != nil {
		t.Fatalf("test document invalid: %v", err)
	}
	c, err := ParseCase([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := generic(t, out), generic(t, []byte(doc)); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got  %s\n want %s", out, doc)
	}
	// And a zero-valued Go struct marshals only its required members.
	out, err = json.Marshal(Withdrawal{Schema: KindWithdrawal.SchemaTag(), CaseID: "XA-RC:1", Reason: ReasonCaseClosed, WithdrawnAt: "2024-01-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"schema":"flx/v1/withdrawal","case_id":"XA-RC:1","reason":"case_closed","withdrawn_at":"2024-01-01T00:00:00Z"}`; string(out) != want {
		t.Errorf("minimal withdrawal = %s, want %s", out, want)
	}
	if err := Validate(KindWithdrawal, out); err != nil {
		t.Error(err)
	}
}

// schemaFile reads one embedded schema file as a generic value.
func schemaFile(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestTypesMatchSchema checks, for every object of the schema files, that
// the Go struct mirroring it has exactly the same members, that required
// members are exactly the fields without omitempty/omitzero, and that each
// field's Go kind fits the member's JSON type (optional booleans and
// optional numbers that may be 0 must be pointers, so a round trip keeps
// them).
func TestTypesMatchSchema(t *testing.T) {
	defs := schemaFile(t, "defs.json")["$defs"].(map[string]any)
	types := map[string]reflect.Type{
		"case.json":                reflect.TypeFor[Case](),
		"response.json":            reflect.TypeFor[Response](),
		"message.json":             reflect.TypeFor[Message](),
		"withdrawal.json":          reflect.TypeFor[Withdrawal](),
		"stats_report.json":        reflect.TypeFor[StatsReport](),
		"match_query.json":         reflect.TypeFor[MatchQuery](),
		"match_answer.json":        reflect.TypeFor[MatchAnswer](),
		"geo":                      reflect.TypeFor[Geo](),
		"place":                    reflect.TypeFor[Place](),
		"media_ref":                reflect.TypeFor[MediaRef](),
		"contact":                  reflect.TypeFor[Contact](),
		"name":                     reflect.TypeFor[Name](),
		"age":                      reflect.TypeFor[Age](),
		"last_known_location":      reflect.TypeFor[LastKnownLocation](),
		"sensitive":                reflect.TypeFor[Sensitive](),
		"person":                   reflect.TypeFor[Person](),
		"consent_scope":            reflect.TypeFor[ConsentScope](),
		"consent":                  reflect.TypeFor[Consent](),
		"legal_basis":              reflect.TypeFor[LegalBasis](),
		"origin":                   reflect.TypeFor[Origin](),
		"relationship":             reflect.TypeFor[Relationship](),
		"separation":               reflect.TypeFor[Separation](),
		"detention":                reflect.TypeFor[Detention](),
		"death":                    reflect.TypeFor[Death](),
		"best_interest_assessment": reflect.TypeFor[BestInterestAssessment](),
		"risk":                     reflect.TypeFor[Risk](),
		"note":                     reflect.TypeFor[Note](),
		"party":                    reflect.TypeFor[Party](),
		"review":                   reflect.TypeFor[Review](),
		"delivery":                 reflect.TypeFor[Delivery](),
		"call":                     reflect.TypeFor[Call](),
	}
	// Every object definition must have a Go type.
	for name, d := range defs {
		if _, ok := d.(map[string]any)["properties"]; ok {
			if _, ok := types[name]; !ok {
				t.Errorf("defs.json $defs/%s has no Go type in this test", name)
			}
		}
	}
	resolve := func(s map[string]any) map[string]any {
		for {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			_, frag, _ := strings.Cut(ref, "#/$defs/")
			s = defs[frag].(map[string]any)
		}
	}
	for name, typ := range types {
		t.Run(name, func(t *testing.T) {
			var obj map[string]any
			if strings.HasSuffix(name, ".json") {
				obj = schemaFile(t, name)
			} else {
				obj = defs[name].(map[string]any)
			}
			props := obj["properties"].(map[string]any)
			required := map[string]bool{}
			if r, ok := obj["required"].([]any); ok {
				for _, x := range r {
					required[x.(string)] = true
				}
			}
			fields := map[string]reflect.StructField{}
			for i := range typ.NumField() {
				f := typ.Field(i)
				tag := f.Tag.Get("json")
				jname, opts, _ := strings.Cut(tag, ",")
				if jname == "" || jname == "-" {
					t.Errorf("field %s has no json name", f.Name)
					continue
				}
				fields[jname] = f
				optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
				if _, ok := props[jname]; !ok {
					t.Errorf("Go field %s (%q) is not in the schema", f.Name, jname)
					continue
				}
				if optional == required[jname] {
					t.Errorf("member %q: required in schema = %v, but Go tag is %q", jname, required[jname], tag)
				}
				if f.Type.Kind() == reflect.Slice && optional && !strings.Contains(opts, "omitzero") {
					t.Errorf("member %q: optional slices use omitzero so that [] survives a round trip", jname)
				}
				checkFieldKind(t, jname, f.Type, resolve(props[jname].(map[string]any)), !required[jname])
			}
			var missing []string
			for p := range props {
				if _, ok := fields[p]; !ok {
					missing = append(missing, p)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("schema members without a Go field: %v", missing)
			}
		})
	}
}

func checkFieldKind(t *testing.T, name string, typ reflect.Type, s map[string]any, optional bool) {
	t.Helper()
	jtype, _ := s["type"].(string)
	if _, ok := s["const"]; ok {
		jtype = "string"
	}
	ptr := typ.Kind() == reflect.Pointer
	base := typ
	if ptr {
		base = typ.Elem()
	}
	var ok bool
	switch jtype {
	case "string":
		ok = base.Kind() == reflect.String && !ptr
	case "integer":
		ok = base.Kind() == reflect.Int || base.Kind() == reflect.Int64
	case "number":
		ok = base.Kind() == reflect.Float64
	case "boolean":
		ok = base.Kind() == reflect.Bool && (ptr || !optional)
	case "array":
		ok = base.Kind() == reflect.Slice && !ptr
	case "object":
		ok = base.Kind() == reflect.Struct && (ptr || !optional)
	default:
		t.Errorf("member %q: no JSON type in schema", name)
		return
	}
	if !ok {
		t.Errorf("member %q: Go type %s does not fit JSON type %s (optional=%v)", name, typ, jtype, optional)
	}
	if (jtype == "integer" || jtype == "number") && optional && !ptr {
		if min, has := s["minimum"].(float64); !has || min <= 0 {
			t.Errorf("member %q: optional %s that may be 0 must be a pointer", name, jtype)
		}
	}
}

// TestEnumsMatchSchema keeps the Go constants in step with the enum lists.
func TestEnumsMatchSchema(t *testing.T) {
	strs := func(vs ...any) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = reflect.ValueOf(v).String()
		}
		return out
	}
	tests := []struct {
		file, path string
		consts     []string
	}{
		{"case.json", "properties/type", strs(CaseTracingRequest, CaseDetentionNotification, CaseUnaccompaniedMinorRegistration,
			CaseDeathNotification, CaseReunificationRequest, CaseFateClarification, CaseSafeAndWell)},
		{"case.json", "properties/status", strs(StatusOpen, StatusTransmitted, StatusAcknowledged, StatusTracingInProgress,
			StatusLocatedPendingConsent, StatusLocatedContactRestored, StatusLocatedDeclinedContact, StatusDeceased,
			StatusReunified, StatusClosedNegative, StatusClosedWithdrawn)},
		{"defs.json", "$defs/legal_basis/properties/type", strs(BasisConsent, BasisVitalInterest, BasisHumanitarianMandate, BasisOtherDocumented)},
		{"defs.json", "$defs/consent/properties/capacity", strs(CapacitySelf, CapacityGuardian, CapacityRepresentative)},
		{"defs.json", "$defs/consent/properties/form", strs(FormWritten, FormOral, FormElectronic)},
		{"defs.json", "$defs/consent_scope/properties/roles/items", strs(RoleSociety, RoleDelegation, RoleCoordinator)},
		{"defs.json", "$defs/person_role", strs(PersonEnquirer, PersonSought, PersonDetainee, PersonFamilyMember,
			PersonDeceased, PersonCaregiver, PersonGuardian, PersonUnaccompaniedChild)},
		{"defs.json", "$defs/name/properties/part", strs(PartGiven, PartFamily, PartPatronymic, PartFull, PartAlias,
			PartNickname, PartMaiden, PartFather, PartMother)},
		{"defs.json", "$defs/name/properties/scheme", strs(SchemeNative, SchemeICAO9303, SchemeISO9, SchemeBGNPCGN, SchemeAdHoc)},
		{"defs.json", "$defs/person/properties/sex", strs(SexFemale, SexMale, SexOther, SexUnknown)},
		{"defs.json", "$defs/vulnerability", strs(VulnUnaccompaniedMinor, VulnSeparatedChild, VulnMinor, VulnElderlyAlone,
			VulnWomanAtRisk, VulnForeignerWithoutRepresentation, VulnDisability, VulnMedicalCondition, VulnDetainee)},
		{"defs.json", "$defs/person/properties/contact_preference", strs(ContactNotAsked, ContactAgreed, ContactRefused)},
		{"defs.json", "$defs/separation/properties/cause", strs(CauseConflict, CauseDeath, CauseFamilyViolence,
			CauseLackOfServices, CauseArmedGroupAssociation, CauseIllness, CauseEntrustedToAnother, CauseArrestDetention,
			CauseAbandonment, CauseDisaster, CauseMigration, CauseOther)},
		{"defs.json", "$defs/sensitivity_marker", strs(SensitiveEthnicity, SensitiveReligion, SensitivePoliticalOpinion,
			SensitiveHealth, SensitiveBiometrics, SensitiveSGBV, SensitiveDetentionDetails)},
		{"response.json", "properties/outcome", strs(OutcomeLocated, OutcomeLocatedPendingConsent, OutcomeNotFound,
			OutcomeDeclinedContact, OutcomeDeceased, OutcomeTracingInProgress, OutcomeClosed)},
		{"message.json", "properties/kind", strs(MessageRedCrossMessage, MessageFamilyNews, MessagePhoneCallRecord, MessageVideo, MessageVoice)},
		{"message.json", "properties/channel", strs(ChannelRCM, ChannelPhone, ChannelVerbal, ChannelVideo, ChannelVoice)},
		{"defs.json", "$defs/review/properties/state", strs(ReviewNotRequired, ReviewPending, ReviewApproved, ReviewCensored)},
		{"defs.json", "$defs/delivery/properties/state", strs(DeliveryCollected, DeliveryTransmitted, DeliveryDistributed,
			DeliveryUndeliverable, DeliveryReturned)},
		{"withdrawal.json", "properties/reason", strs(ReasonConsentWithdrawn, ReasonCaseClosed, ReasonRetentionExpired, ReasonErasureRequest)},
	}
	enums := 0
	for _, tc := range tests {
		t.Run(tc.file+"#"+tc.path, func(t *testing.T) {
			var node any = schemaFile(t, tc.file)
			for _, tok := range strings.Split(tc.path, "/") {
				node = node.(map[string]any)[tok]
			}
			var enum []string
			for _, v := range node.(map[string]any)["enum"].([]any) {
				enum = append(enum, v.(string))
			}
			if !slices.Equal(enum, tc.consts) {
				t.Errorf("schema enum %v\n Go constants %v", enum, tc.consts)
			}
		})
		enums++
	}
	// Every enum in the files is covered by a row above.
	total := 0
	for _, name := range []string{"defs.json", "case.json", "response.json", "message.json", "withdrawal.json"} {
		total += countEnums(schemaFile(t, name), false)
	}
	if total != enums {
		t.Errorf("the schema files hold %d enums outside if/then, the table above checks %d", total, enums)
	}
}

// countEnums counts "enum" keywords, skipping those inside "if" (they
// restate enums checked elsewhere).
func countEnums(v any, inIf bool) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["enum"]; ok && !inIf {
			n++
		}
		for k, c := range x {
			n += countEnums(c, inIf || k == "if")
		}
	case []any:
		for _, c := range x {
			n += countEnums(c, inIf)
		}
	}
	return n
}

func TestWithdrawalDefaults(t *testing.T) {
	f, tr := false, true
	tests := []struct {
		w     Withdrawal
		erase bool
		whole bool
	}{
		{Withdrawal{}, true, true},
		{Withdrawal{Erase: &tr, PersonIDs: []string{"p1"}}, true, false},
		{Withdrawal{Erase: &f}, false, true},
	}
	for i, tc := range tests {
		if got := tc.w.ShouldErase(); got != tc.erase {
			t.Errorf("%d: ShouldErase = %v, want %v", i, got, tc.erase)
		}
		if got := tc.w.WholeCase(); got != tc.whole {
			t.Errorf("%d: WholeCase = %v, want %v", i, got, tc.whole)
		}
	}
}
