package stats

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/schema"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func ptr(n int) *int { return &n }

func TestProtectionApply(t *testing.T) {
	tests := []struct {
		p    Protection
		in   []int
		want []*int
	}{
		{DefaultProtection, []int{0, 1, 4, 5, 7, 8, 12, 13, 1000}, []*int{ptr(0), nil, nil, ptr(5), ptr(5), ptr(10), ptr(10), ptr(15), ptr(1000)}},
		{Protection{Threshold: 3, Rounding: 1}, []int{0, 2, 3, 17}, []*int{ptr(0), nil, ptr(3), ptr(17)}},
		{Protection{Threshold: 10, Rounding: 4}, []int{9, 10, 14}, []*int{nil, ptr(12), ptr(16)}},
	}
	for _, tc := range tests {
		for i, n := range tc.in {
			got := tc.p.Apply(n)
			if (got == nil) != (tc.want[i] == nil) || (got != nil && *got != *tc.want[i]) {
				t.Errorf("%+v.Apply(%d) = %v, want %v", tc.p, n, show(got), show(tc.want[i]))
			}
		}
	}
	// Never 0 for a count at or above the threshold, for every allowed
	// protection.
	for k := 3; k <= 20; k++ {
		for b := 1; b <= k; b++ {
			p := Protection{Threshold: k, Rounding: b}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			for n := k; n < 3*k; n++ {
				if v := p.Apply(n); v == nil || *v == 0 || *v%b != 0 {
					t.Fatalf("%+v.Apply(%d) = %v", p, n, show(v))
				}
			}
		}
	}
	for _, p := range []Protection{{2, 1}, {5, 0}, {5, 6}, {101, 5}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func show(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func dt(s string) schema.DateTime { return schema.DateTime(s) }

func tracing(id string, statuses ...string) []schema.Case {
	var vs []schema.Case
	for i, s := range statuses {
		at, st, _ := strings.Cut(s, " ")
		vs = append(vs, schema.Case{Schema: "flx/v1/case", CaseID: "XA-RC:" + id, Version: i + 1, Type: schema.CaseTracingRequest,
			Status: schema.CaseStatus(st), Origin: schema.Origin{Member: "XA-RC", CreatedAt: "2026-01-10T08:00:00Z"}, UpdatedAt: dt(at),
			Persons: []schema.Person{{ID: "p1", Roles: []schema.PersonRole{schema.PersonEnquirer}}, {ID: "p2", Roles: []schema.PersonRole{schema.PersonSought}, BirthDate: "2015-04"}}})
	}
	return vs
}

func TestCompute(t *testing.T) {
	jan, feb, mar := Period{2026, 1}, Period{2026, 2}, Period{2026, 3}
	minor := schema.Case{Schema: "flx/v1/case", CaseID: "XA-RC:u1", Version: 1, Type: schema.CaseUnaccompaniedMinorRegistration, Status: schema.StatusOpen,
		Origin:  schema.Origin{Member: "XA-RC", CreatedAt: "2026-02-03T10:00:00+02:00"},
		Persons: []schema.Person{{ID: "c1", Roles: []schema.PersonRole{schema.PersonUnaccompaniedChild}}, {ID: "c2", Roles: []schema.PersonRole{schema.PersonUnaccompaniedChild}}, {ID: "g", Roles: []schema.PersonRole{schema.PersonCaregiver}}}}
	reunitedMinor := minor
	reunitedMinor.Version, reunitedMinor.Status, reunitedMinor.UpdatedAt = 2, schema.StatusReunified, "2026-03-01T00:30:00+01:00" // still February in UTC
	foreign := tracing("x", "2026-01-11T00:00:00Z open")
	for i := range foreign {
		foreign[i].Origin.Member = "XB-RC"
	}
	rcm := func(states ...string) []schema.Message {
		var out []schema.Message
		for _, s := range states {
			at, st, _ := strings.Cut(s, " ")
			m := schema.Message{Schema: "flx/v1/message", MessageID: "XA-RC:m1", CaseID: "XA-RC:1", Kind: schema.MessageRedCrossMessage, Channel: schema.ChannelRCM, CreatedAt: "2026-01-05T09:00:00Z", Body: "news"}
			if st != "" {
				m.Delivery = &schema.Delivery{State: schema.DeliveryState(st), At: dt(at)}
			}
			out = append(out, m)
		}
		return out
	}
	in := Documents{
		CaseHistories: [][]schema.Case{
			tracing("1", "2026-01-10T08:00:00Z open", "2026-02-01T00:00:00Z located_pending_consent", "2026-02-09T00:00:00Z located_contact_restored", "2026-03-05T00:00:00Z reunified"),
			tracing("2", "2026-01-12T08:00:00Z open", "2026-03-31T23:59:59Z closed_negative", "2026-04-02T00:00:00Z tracing_in_progress", "2026-04-20T00:00:00Z closed_negative"),
			// versions handed in out of order are sorted
			{tracing("3", "x open", "2026-02-15T00:00:00Z located_declined_contact")[1], tracing("3", "2026-01-20T00:00:00Z open")[0]},
			{minor, reunitedMinor},
			foreign,
			{},
		},
		MessageHistories: [][]schema.Message{
			rcm(" ", "2026-01-20T00:00:00Z transmitted", "2026-01-29T00:00:00Z transmitted", "2026-02-02T00:00:00Z distributed"),
			rcm("2026-01-06T00:00:00Z collected"),
			{{Schema: "flx/v1/message", MessageID: "XA-RC:c", CaseID: "XA-RC:1", Kind: schema.MessagePhoneCallRecord, Channel: schema.ChannelPhone, CreatedAt: "2026-03-02T00:00:00Z", Call: &schema.Call{StartedAt: "2026-02-28T23:00:00Z"}}},
			{{Schema: "flx/v1/message", MessageID: "XA-RC:v", CaseID: "XA-RC:1", Kind: schema.MessageVideo, Channel: schema.ChannelVideo, CreatedAt: "2026-03-02T00:00:00Z"}},
			{{Schema: "flx/v1/message", MessageID: "XA-RC:f", CaseID: "XA-RC:1", Kind: schema.MessageFamilyNews, Channel: schema.ChannelVerbal, CreatedAt: "2026-03-02T00:00:00Z", Body: "x"}},
			{{Schema: "flx/v1/message", MessageID: "XA-RC:bad", CaseID: "XA-RC:1", Kind: schema.MessageVideo, Channel: schema.ChannelVideo, CreatedAt: "yesterday"}},
		},
	}
	res, err := Compute(context.Background(), in, "XA-RC")
	if err != nil {
		t.Fatal(err)
	}
	want := map[Period]Counts{
		jan: {TracingOpened: 3, RCMCollected: 2, RCMTransmitted: 1},
		feb: {TracingLocated: 2, PeopleRegistered: 2, PeopleReunited: 2, ChildrenReunited: 2, RCMDistributed: 1, PhoneCalls: 1},
		mar: {TracingClosed: 2, PeopleReunited: 1, ChildrenReunited: 1, VideoMessages: 1},
	}
	if !reflect.DeepEqual(res.Periods, want) {
		t.Errorf("got  %v\nwant %v", res.Periods, want)
	}
	// The video message "bad" has the time "yesterday". (Version 1 of
	// tracing("3") has the time "x" but no count needs it.)
	if res.Unreadable != 1 {
		t.Errorf("unreadable = %d", res.Unreadable)
	}
}

// canarize replaces every free-text string in v (fields and list items of
// Go type string: names, notes, addresses, ids, bodies; not the enums and
// dates, which are typed) by a unique canary, and returns the canaries.
func canarize(v reflect.Value, next func() string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			canarize(v.Elem(), next)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			canarize(v.Field(i), next)
		}
	case reflect.Slice:
		for i := range v.Len() {
			canarize(v.Index(i), next)
		}
	case reflect.String:
		if v.Type() == reflect.TypeFor[string]() && v.CanSet() {
			v.SetString(next())
		}
	}
}

// TestReportHoldsNoPersonalData plants a canary in every free-text field of
// every input document (every example document of schema v1, many times
// over), computes the reports and their aggregates, and checks that no
// canary reaches the report bodies or the CSV, while the counts are there.
func TestReportHoldsNoPersonalData(t *testing.T) {
	var canaries []string
	next := func() string {
		c := fmt.Sprintf("CANARY%05dZQ", len(canaries))
		canaries = append(canaries, c)
		return c
	}
	var in Documents
	for copyN := range 12 {
		for _, e := range schema.Examples() {
			switch e.Kind {
			case schema.KindCase:
				var c schema.Case
				if err := json.Unmarshal(e.Doc, &c); err != nil {
					t.Fatal(err)
				}
				canarize(reflect.ValueOf(&c).Elem(), next)
				c.Origin.Member = "XA-RC"
				c.CaseID = "XA-RC:" + next()
				// A second version in the next month with a closing or
				// located status, so those counts are exercised too.
				v2 := c
				v2.Version = c.Version + 1
				v2.UpdatedAt = "2026-02-14T10:00:00Z"
				v2.Status = []schema.CaseStatus{schema.StatusReunified, schema.StatusLocatedContactRestored, schema.StatusClosedNegative}[copyN%3]
				c.Origin.CreatedAt, c.UpdatedAt = "2026-01-14T10:00:00Z", ""
				in.CaseHistories = append(in.CaseHistories, []schema.Case{c, v2})
			case schema.KindMessage:
				var m schema.Message
				if err := json.Unmarshal(e.Doc, &m); err != nil {
					t.Fatal(err)
				}
				canarize(reflect.ValueOf(&m).Elem(), next)
				m.CreatedAt = "2026-01-20T10:00:00Z"
				if m.Call != nil {
					m.Call.StartedAt = ""
				}
				in.MessageHistories = append(in.MessageHistories, []schema.Message{m})
			}
		}
	}
	if len(canaries) < 1000 {
		t.Fatalf("only %d canaries planted", len(canaries))
	}
	res, err := Compute(context.Background(), in, "XA-RC")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var reports []schema.StatsReport
	nonzero := 0
	for p, c := range res.Periods {
		r, err := DefaultProtection.Report("XA-RC", "XA", p, 1, c)
		if err != nil {
			t.Fatal(err)
		}
		body, err := Body(r)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(body)
		reports = append(reports, r)
		for _, m := range Metrics {
			if v := *field(&r.Counts, m); v != nil && *v > 0 {
				nonzero++
			}
		}
	}
	if nonzero < 8 {
		t.Fatalf("only %d published counts above zero: the test would prove nothing (%s)", nonzero, out.String())
	}
	for _, by := range []By{{Member: true, Period: true}, {Country: true}, {Period: true}} {
		if err := WriteCSV(&out, Aggregate(reports, by)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range canaries {
		if strings.Contains(out.String(), c) {
			t.Fatalf("canary %s reached a report or an export", c)
		}
	}
	if strings.Contains(out.String(), "CANARY") {
		t.Fatal("a canary fragment reached a report or an export")
	}
}

// TestReportSchemaAdmitsNoPersonalData walks schema v1's stats_report: every
// value it admits is a number (or null), a month, a member id, a country
// code or the schema tag; every object is closed. So no valid report can
// carry a name, an id of a person or case, or free text.
func TestReportSchemaAdmitsNoPersonalData(t *testing.T) {
	read := func(name string) map[string]any {
		b, err := fs.ReadFile(schema.Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	defs := read("defs.json")["$defs"].(map[string]any)
	allowedPatterns := map[string]string{
		"member id": `^[A-Z0-9][A-Z0-9-]{1,31}$`,
		"country":   `^[A-Z]{2}$`,
		"month":     `^[0-9]{4}-(0[1-9]|1[0-2])$`,
	}
	var walk func(at string, s map[string]any)
	walk = func(at string, s map[string]any) {
		if ref, ok := s["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, "defs.json#/$defs/")
			if !ok {
				t.Errorf("%s: reference %q", at, ref)
				return
			}
			walk(at+"->"+name, defs[name].(map[string]any))
			return
		}
		if c, ok := s["const"]; ok {
			if c != "flx/v1/stats_report" {
				t.Errorf("%s: const %v", at, c)
			}
			return
		}
		for _, k := range []string{"oneOf", "anyOf", "allOf", "if", "then", "else", "patternProperties", "items", "prefixItems", "additionalItems"} {
			if _, ok := s[k]; ok {
				t.Errorf("%s: %s is not expected here", at, k)
			}
		}
		switch typ := s["type"].(type) {
		case string:
			switch typ {
			case "object":
				if s["additionalProperties"] != false {
					t.Errorf("%s: object not closed", at)
				}
				for name, p := range s["properties"].(map[string]any) {
					walk(at+"/"+name, p.(map[string]any))
				}
			case "integer":
			case "string":
				pat, _ := s["pattern"].(string)
				ok := false
				for _, a := range allowedPatterns {
					ok = ok || pat == a
				}
				if !ok || s["format"] != nil || s["enum"] != nil {
					t.Errorf("%s: a string that is not a member id, a country code or a month (pattern %q)", at, pat)
				}
			default:
				t.Errorf("%s: type %q", at, typ)
			}
		case []any:
			if !reflect.DeepEqual(typ, []any{"integer", "null"}) {
				t.Errorf("%s: type %v", at, typ)
			}
		default:
			t.Errorf("%s: no type", at)
		}
	}
	walk("#", read("stats_report.json"))
}

func report(member, country, period string, rev int, counts map[Metric]*int) schema.StatsReport {
	r := schema.StatsReport{Schema: "flx/v1/stats_report", Member: member, Country: country, Period: period, Revision: rev, Threshold: 5, Rounding: 5}
	for _, m := range Metrics {
		v, ok := counts[m]
		if !ok {
			v = ptr(0)
		}
		*field(&r.Counts, m) = v
	}
	return r
}

func TestAggregateAndCSV(t *testing.T) {
	reports := []schema.StatsReport{
		report("XA-RC", "XA", "2026-01", 1, map[Metric]*int{TracingOpened: ptr(10), PhoneCalls: nil}),
		report("XA-RC", "XA", "2026-01", 2, map[Metric]*int{TracingOpened: ptr(15), PhoneCalls: nil}), // replaces revision 1
		report("XA-DEL", "XA", "2026-01", 1, map[Metric]*int{TracingOpened: nil, PhoneCalls: ptr(20)}),
		report("XB-RC", "XB", "2026-01", 1, map[Metric]*int{TracingOpened: ptr(5), PhoneCalls: nil}),
		report("XB-RC", "XB", "2026-02", 1, map[Metric]*int{TracingOpened: ptr(30)}),
	}
	byCountry := Aggregate(reports, By{Country: true, Period: true})
	if len(byCountry) != 3 {
		t.Fatalf("%d rows", len(byCountry))
	}
	xa := byCountry[0]
	if xa.Key != (Key{Country: "XA", Period: "2026-01"}) || xa.Reports != 2 ||
		xa.Cells[TracingOpened] != (Cell{Sum: 15, Suppressed: 1, MaxHidden: 4}) || xa.Cells[PhoneCalls] != (Cell{Sum: 20, Suppressed: 1, MaxHidden: 4}) {
		t.Fatalf("XA January: %+v", xa)
	}
	total := Aggregate(reports, By{})
	if len(total) != 1 || total[0].Cells[TracingOpened] != (Cell{Sum: 50, Suppressed: 1, MaxHidden: 4}) || total[0].Reports != 4 {
		t.Fatalf("total: %+v", total)
	}
	var buf bytes.Buffer
	for _, by := range []By{{Member: true, Country: true, Period: true}, {Country: true, Period: true}, {Period: true}} {
		if err := WriteCSV(&buf, Aggregate(reports, by)); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "aggregate.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("CSV differs from %s (run with -update after checking):\n%s", golden, buf.String())
	}
}

func TestCheck(t *testing.T) {
	good := report("XA-RC", "XA", "2026-03", 1, map[Metric]*int{TracingOpened: ptr(10), PhoneCalls: nil})
	if err := Check(good, "XA-RC", "XA", "XA-RC:stats-2026-03"); err != nil {
		t.Fatal(err)
	}
	raw := report("XA-RC", "XA", "2026-03", 1, map[Metric]*int{TracingOpened: ptr(3)})
	for name, tc := range map[string]struct {
		r                    schema.StatsReport
		iss, country, caseID string
	}{
		"sent by another member": {good, "XB-RC", "XA", "XA-RC:stats-2026-03"},
		"another country":        {good, "XA-RC", "XB", "XA-RC:stats-2026-03"},
		"another case id":        {good, "XA-RC", "XA", "XA-RC:stats-2026-02"},
		"a raw small count":      {raw, "XA-RC", "XA", "XA-RC:stats-2026-03"},
	} {
		if err := Check(tc.r, tc.iss, tc.country, tc.caseID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	body, err := Body(good)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseReport(body)
	if err != nil || !reflect.DeepEqual(back, good) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseReport([]byte(strings.Replace(string(body), `"revision":1`, `"revision":1,"note":"Amira"`, 1))); err == nil {
		t.Fatal("a report with free text parsed")
	}
	if _, err := DefaultProtection.Report("xa", "XA", Period{2026, 1}, 1, nil); err == nil {
		t.Fatal("a report for a bad member id")
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC)
	got := Due(Period{2026, 1}, now, 14*24*time.Hour)
	if fmt.Sprint(got) != "[2026-01 2026-02]" {
		t.Fatalf("Due = %v (March ended less than 14 days ago)", got)
	}
	if got := Due(Period{2026, 4}, now, 0); len(got) != 0 {
		t.Fatalf("the current month is due: %v", got)
	}
	if CaseID("XA-RC", Period{2026, 3}) != "XA-RC:stats-2026-03" {
		t.Fatal(CaseID("XA-RC", Period{2026, 3}))
	}
	if p, err := ParsePeriod("2026-03"); err != nil || p != (Period{2026, 3}) {
		t.Fatal(p, err)
	}
	for _, s := range []string{"2026-3", "2026-13", "26-03", "2026-03-01"} {
		if _, err := ParsePeriod(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}
