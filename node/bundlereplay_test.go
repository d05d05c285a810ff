package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestBundleReplayRefused (FLX-BDL-005): a bundle whose exporter and jti
// were imported before with other content is refused whole with replay,
// and nothing of it is stored: one of its envelopes changed by one byte of
// its body, one removed, one added, two swapped, another iat. The same
// bundle again, re-encrypted (another file, the same signed plaintext), is
// imported as before: every envelope a duplicate. Another exporter's
// bundle with the same jti is a bundle of its own.
func TestBundleReplayRefused(t *testing.T) {
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		xbm := f.Member(t, "XB-RC")
		xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true, Tune: func(o *node.Options) {
			o.BundleKeys = []*jose.EncPrivateKey{xbm.EncKey}
		}})
		env := func(from string, i int, bodyVersion int) []byte {
			id := fmt.Sprintf("%s:BR-%03d", from, i)
			doc := body(t, "case.tracing_request", func(m map[string]any) {
				m["case_id"], m["version"] = id, bodyVersion
				m["origin"].(map[string]any)["member"] = from
			})
			return f.Envelope(t, from, "XB-RC", federation.KindCaseCreate, id, doc)
		}
		t0 := time.Now().Truncate(time.Second)
		seal := func(from, jti string, now time.Time, envs ...[]byte) []byte {
			t.Helper()
			file, err := bundle.Seal(bundle.Contents{Envelopes: envs}, bundle.SealOptions{
				From: from, To: "XB-RC", Signer: f.Member(t, from).Key, EncryptTo: xbm.EncKey.Public(), Now: now, JTI: jti,
			})
			if err != nil {
				t.Fatal(err)
			}
			return file
		}
		inbox := func() int {
			t.Helper()
			rows, err := xb.Store.ListInbox(ctx, store.InboxFilter{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		e1, e2, e3 := env("XA-RC", 1, 1), env("XA-RC", 2, 1), env("XA-RC", 3, 1)
		const jti = "bundle-replay-1"
		first := seal("XA-RC", jti, t0, e1, e2)
		if got, err := xb.ImportBundle(ctx, first); err != nil || got.Stored != 2 {
			t.Fatalf("first import: stored %d, refused %d, %v", got.Stored, got.Refused, err)
		}

		fresh := env("XA-RC", 4, 1)
		for _, tc := range []struct {
			what string
			file []byte
		}{
			{"an envelope whose body differs by one byte", seal("XA-RC", jti, t0, e1, env("XA-RC", 2, 2))},
			{"an envelope removed", seal("XA-RC", jti, t0, e1)},
			{"an envelope added", seal("XA-RC", jti, t0, e1, e2, fresh)},
			{"an envelope added first", seal("XA-RC", jti, t0, fresh, e1, e2)},
			{"two envelopes swapped", seal("XA-RC", jti, t0, e2, e1)},
			{"issued a second later", seal("XA-RC", jti, t0.Add(time.Second), e1, e2)},
			{"holding only a new envelope", seal("XA-RC", jti, t0, e3)},
		} {
			got, err := xb.ImportBundle(ctx, tc.file)
			if code := problem.As(err).Code; code != federation.CodeReplay {
				t.Errorf("same (iss, jti), %s: stored %d, duplicates %d, refused %d, %v (code %q); want refused with replay",
					tc.what, got.Stored, got.Duplicates, got.Refused, err, code)
			}
		}
		if n := inbox(); n != 2 {
			t.Fatalf("%d envelopes held after the replays, want 2: a refused bundle stored something", n)
		}

		for _, what := range []string{"the same file again", "the same bundle re-encrypted"} {
			file := first
			if what != "the same file again" {
				file = seal("XA-RC", jti, t0, e1, e2)
			}
			got, err := xb.ImportBundle(ctx, file)
			if err != nil || got.Stored != 0 || got.Duplicates != 2 {
				t.Fatalf("%s: stored %d, duplicates %d, %v; want 2 duplicates", what, got.Stored, got.Duplicates, err)
			}
		}
		// Another exporter's bundle with the same jti.
		if got, err := xb.ImportBundle(ctx, seal("XC-RC", jti, t0, env("XC-RC", 1, 1))); err != nil || got.Stored != 1 {
			t.Fatalf("XC-RC's bundle with XA-RC's jti: stored %d, refused %d, %v; want its envelope stored", got.Stored, got.Refused, err)
		}
		// The envelopes of the refused bundles were not consumed: they are
		// accepted in a bundle of their own.
		if got, err := xb.ImportBundle(ctx, seal("XA-RC", "bundle-replay-2", t0, fresh, e3)); err != nil || got.Stored != 2 {
			t.Fatalf("the refused bundles' new envelopes in another bundle: stored %d, duplicates %d, %v; want both stored", got.Stored, got.Duplicates, err)
		}
		// Nothing has expired: the purge keeps every record.
		if n, err := xb.PurgeBundles(ctx); err != nil || n != 0 {
			t.Fatalf("purge: %d, %v; want nothing purged", n, err)
		}
	})
}
