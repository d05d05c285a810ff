package stats

import (
	"encoding/json"
	"testing"

	"github.com/familylinks/flx/schema"
)

// FuzzParseReport: no panic on a received body; an accepted report
// re-encodes to a valid body, and the aggregate of it writes as CSV.
func FuzzParseReport(f *testing.F) {
	good, err := Body(report("XA-RC", "XA", "2026-03", 1, map[Metric]*int{TracingOpened: ptr(10), PhoneCalls: nil}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"schema":"flx/v1/stats_report","counts":{"phone_calls":"<5"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseReport(body)
		if err != nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseReport(again); err != nil {
			t.Fatalf("an accepted report re-encodes to an invalid one: %v", err)
		}
		if err := WriteCSV(discard{}, Aggregate([]schema.StatsReport{r}, By{Member: true})); err != nil {
			t.Fatal(err)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
