package store_test

import (
	"context"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestSetInsertFloor: the floor writes an envelope's rows on one
// connection (its backend named on PostgreSQL), findable as the exchange's
// are (inbox, cases by a search key and a birth-year range; outbox,
// case_versions, range keys one each), told to the
// caller once before the first transaction and once after the last, and
// removes them all afterwards.
func TestSetInsertFloor(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		envs := make([]store.FloorEnvelope, 250)
		for i := range envs {
			envs[i] = store.FloorEnvelope{Envelope: []byte("envelope"), Document: []byte(`{"case_id":"x"}`), SearchKeys: []string{"t_floor", "by_1970", "by_1970"}}
		}
		held := func() (inbox, cases, ranged int) {
			in, err := b.s.ListInbox(ctx, store.InboxFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			cs, err := b.s.SearchCases(ctx, store.CaseQuery{AllOf: [][]string{{"t_floor"}}, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			rs, err := b.s.SearchCases(ctx, store.CaseQuery{Ranges: []store.KeyRange{{From: "by_1960", To: "by_1980"}}, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, tb := range []string{"outbox", "case_versions", "case_range_keys"} {
				var n int
				if err := b.raw.Get(&n, `SELECT count(*) FROM `+tb); err != nil {
					t.Fatal(err)
				}
				if n != len(in) {
					t.Errorf("%d %s rows beside %d inbox rows", n, tb, len(in))
				}
			}
			return len(in), len(cs.Cases), len(rs.Cases)
		}
		calls, dones := 0, 0
		per, err := store.SetInsertFloor(ctx, b.s, envs, []byte("receipt"), 100, func(pid int) func() {
			calls++
			if (b.dialect == store.Postgres) != (pid > 0) {
				t.Errorf("%s: backend pid %d", b.dialect, pid)
			}
			if in, cs, rs := held(); in+cs+rs != 0 {
				t.Errorf("before the floor: %d inbox rows, %d cases, %d in range", in, cs, rs)
			}
			return func() {
				dones++
				if in, cs, rs := held(); in != 250 || cs != 250 || rs != 250 {
					t.Errorf("after the floor's transactions: %d inbox rows, %d cases, %d in range, want 250 each", in, cs, rs)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if per <= 0 || calls != 1 || dones != 1 {
			t.Errorf("%v per envelope, measure called %d times, done %d", per, calls, dones)
		}
		if in, cs, rs := held(); in+cs+rs != 0 {
			t.Errorf("after the floor: %d inbox rows, %d cases, %d in range left", in, cs, rs)
		}
		if _, err := store.SetInsertFloor(context.Background(), nil, envs, nil, 100, nil); err == nil {
			t.Error("no store: no error")
		}
	})
}
