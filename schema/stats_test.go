package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const validStats = `{"schema":"flx/v1/stats_report","member":"XA-RC","country":"XA","period":"2026-03","revision":1,"threshold":5,"rounding":5,
"counts":{"rcm_collected":10,"rcm_transmitted":null,"rcm_distributed":0,"phone_calls":125,"video_messages":null,"tracing_opened":35,
"tracing_located":5,"tracing_closed":null,"people_registered":20,"people_reunited":5,"children_reunited":null}}`

// TestStatsCountsMatchSchema: StatsCounts has exactly the counts of the
// schema, each required and an integer or null.
func TestStatsCountsMatchSchema(t *testing.T) {
	s := schemaFile(t, "stats_report.json")
	counts := s["properties"].(map[string]any)["counts"].(map[string]any)
	props := counts["properties"].(map[string]any)
	var req []string
	for _, r := range counts["required"].([]any) {
		req = append(req, r.(string))
	}
	var names []string
	typ := reflect.TypeFor[StatsCounts]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if opts != "" || f.Type != reflect.TypeFor[*int]() {
			t.Errorf("%s: want a required *int, got %s %q", f.Name, f.Type, opts)
		}
		p, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("field %s is not in the schema", name)
			continue
		}
		if !reflect.DeepEqual(p["type"], []any{"integer", "null"}) {
			t.Errorf("%s: type %v", name, p["type"])
		}
		names = append(names, name)
	}
	if len(names) != len(props) || !slices.Equal(names, req) {
		t.Errorf("Go fields %v, schema required %v (%d properties)", names, req, len(props))
	}
}

func TestStatsReportValidates(t *testing.T) {
	if err := Validate(KindStatsReport, []byte(validStats)); err != nil {
		t.Fatal(err)
	}
	var r StatsReport
	if err := decodeInto([]byte(validStats), &r); err != nil {
		t.Fatal(err)
	}
	if r.Counts.PhoneCalls == nil || *r.Counts.PhoneCalls != 125 || r.Counts.VideoMessages != nil {
		t.Fatalf("%+v", r.Counts)
	}
	out, _ := json.Marshal(r)
	if err := Validate(KindStatsReport, out); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if k, ok := KindForEnvelope("stats.report"); !ok || k != KindStatsReport {
		t.Fatal("stats.report does not map to stats_report")
	}
	for name, mut := range map[string]func(string) string{
		"a suppressed count as text": func(s string) string { return strings.Replace(s, `"video_messages":null`, `"video_messages":"<5"`, 1) },
		"a negative count":           func(s string) string { return strings.Replace(s, `"rcm_distributed":0`, `"rcm_distributed":-1`, 1) },
		"a fractional count":         func(s string) string { return strings.Replace(s, `"phone_calls":125`, `"phone_calls":12.5`, 1) },
		"a count missing":            func(s string) string { return strings.Replace(s, `"rcm_distributed":0,`, ``, 1) },
		"an extra count": func(s string) string {
			return strings.Replace(s, `"rcm_distributed":0,`, `"rcm_distributed":0,"detainees_visited":5,`, 1)
		},
		"a name": func(s string) string {
			return strings.Replace(s, `"revision":1,`, `"revision":1,"contact":"Amira Testova",`, 1)
		},
		"a note in the counts": func(s string) string {
			return strings.Replace(s, `"rcm_distributed":0,`, `"rcm_distributed":0,"note":"x",`, 1)
		},
		"month 13":               func(s string) string { return strings.Replace(s, `2026-03`, `2026-13`, 1) },
		"a day as period":        func(s string) string { return strings.Replace(s, `2026-03`, `2026-03-01`, 1) },
		"a lower-case member":    func(s string) string { return strings.Replace(s, `"XA-RC"`, `"xa-rc"`, 1) },
		"a three-letter country": func(s string) string { return strings.Replace(s, `"country":"XA"`, `"country":"XAA"`, 1) },
		"threshold below 3":      func(s string) string { return strings.Replace(s, `"threshold":5`, `"threshold":2`, 1) },
		"revision 0":             func(s string) string { return strings.Replace(s, `"revision":1`, `"revision":0`, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			doc := mut(validStats)
			if doc == validStats {
				t.Fatal("mutation did not apply")
			}
			if err := Validate(KindStatsReport, []byte(doc)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
