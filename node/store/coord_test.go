package store_test

import (
	"bytes"
	"testing"

	"github.com/familylinks/flx/node/store"
)

func TestGetOutboxByJTI(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		in := queue(memberB, "XA-RC:0001", "case.create", "o-jti-1")
		o := enqueue(t, b.s, in)
		got := must[store.OutboxItem](t)(b.s.GetOutboxByJTI(ctx, "o-jti-1"))
		if got.ID != o.ID || !bytes.Equal(got.Envelope, in.Envelope) || got.Destination != memberB {
			t.Fatalf("GetOutboxByJTI = %+v", got)
		}
		_, err := b.s.GetOutboxByJTI(ctx, "no-such-jti")
		mustErr(t, err, store.ErrNotFound)
		_, err = store.ReadOnly(b.s).GetOutboxByJTI(ctx, "o-jti-1")
		mustErr(t, err, nil)
	})
}

func TestStatsReports(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		rep := func(member, period string, rev int64) store.StatsReport {
			return store.StatsReport{Member: member, Period: period, Revision: rev, Country: "XA",
				Document: []byte(`{"member":"` + member + `"}`), JTI: member + period}
		}
		for _, r := range []store.StatsReport{rep("XB-RC", "2026-01", 1), rep("XA-RC", "2026-01", 1), rep("XA-RC", "2026-01", 2), rep("XA-RC", "2025-12", 1)} {
			if err := b.s.SaveStatsReport(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			r    store.StatsReport
			want error
		}{
			{"same revision again", rep("XA-RC", "2026-01", 2), store.ErrDuplicate},
			{"no revision", rep("XA-RC", "2026-02", 0), store.ErrInvalid},
			{"no document", store.StatsReport{Member: "XA-RC", Period: "2026-02", Revision: 1}, store.ErrInvalid},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) { mustErr(t, b.s.SaveStatsReport(ctx, tc.r), tc.want) })
		}
		all := must[[]store.StatsReport](t)(store.ReadOnly(b.s).ListStatsReports(ctx, ""))
		var got []string
		for _, r := range all {
			got = append(got, r.Period+"/"+r.Member+"/"+string(rune('0'+r.Revision)))
			if r.ReceivedAt.IsZero() || r.Country != "XA" {
				t.Errorf("report %+v", r)
			}
		}
		want := []string{"2025-12/XA-RC/1", "2026-01/XA-RC/1", "2026-01/XA-RC/2", "2026-01/XB-RC/1"}
		if len(got) != len(want) {
			t.Fatalf("reports = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("reports = %v, want %v", got, want)
			}
		}
		jan := must[[]store.StatsReport](t)(b.s.ListStatsReports(ctx, "2026-01"))
		if len(jan) != 3 {
			t.Fatalf("2026-01 has %d reports, want 3", len(jan))
		}
	})
}
