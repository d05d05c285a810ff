package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// bundlePlain is a generated stand-in for a bundle's signed plaintext:
// what the store keeps of a bundle is its (iss, jti) and the SHA-256 of
// these bytes.
type bundlePlain struct {
	Iss       string   `json:"iss"`
	Aud       string   `json:"aud"`
	Iat       int64    `json:"iat"`
	Exp       int64    `json:"exp"`
	JTI       string   `json:"jti"`
	Envelopes []string `json:"envelopes"`
}

func (p bundlePlain) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p bundlePlain) clone() bundlePlain {
	p.Envelopes = append([]string(nil), p.Envelopes...)
	return p
}

// otherContents are bundles with p's (iss, jti) and other content, each
// named: one byte changed (at generated positions), an envelope removed,
// added, replaced, two reordered, another iat or exp.
func otherContents(t *testing.T, rnd *rand.Rand, p bundlePlain) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	orig := p.bytes(t)
	for range 24 {
		i := rnd.IntN(len(orig))
		b := append([]byte(nil), orig...)
		b[i] ^= byte(1 + rnd.IntN(255))
		out[fmt.Sprintf("byte %d changed", i)] = b
	}
	for i := range p.Envelopes {
		q := p.clone()
		q.Envelopes = append(q.Envelopes[:i], q.Envelopes[i+1:]...)
		out[fmt.Sprintf("envelope %d removed", i)] = q.bytes(t)
		q = p.clone()
		q.Envelopes[i] = q.Envelopes[i] + "A"
		out[fmt.Sprintf("envelope %d one byte longer", i)] = q.bytes(t)
	}
	q := p.clone()
	q.Envelopes = append(q.Envelopes, genToken(rnd))
	out["an envelope added at the end"] = q.bytes(t)
	q = p.clone()
	q.Envelopes = append([]string{genToken(rnd)}, q.Envelopes...)
	out["an envelope added at the start"] = q.bytes(t)
	q = p.clone()
	q.Envelopes = nil
	out["every envelope removed"] = q.bytes(t)
	for range 4 {
		q = p.clone()
		i, j := rnd.IntN(len(q.Envelopes)), rnd.IntN(len(q.Envelopes)-1)
		if j >= i {
			j++
		}
		q.Envelopes[i], q.Envelopes[j] = q.Envelopes[j], q.Envelopes[i]
		out[fmt.Sprintf("envelopes %d and %d swapped", i, j)] = q.bytes(t)
	}
	q = p.clone()
	q.Iat++
	out["iat a second later"] = q.bytes(t)
	q = p.clone()
	q.Exp++
	out["exp a second later"] = q.bytes(t)
	return out
}

func genToken(rnd *rand.Rand) string {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 40+rnd.IntN(200))
	for i := range b {
		b[i] = b64[rnd.IntN(len(b64))]
	}
	b[10], b[25] = '.', '.'
	return string(b)
}

// TestBundleReplays: a carried bundle's replay record (FLX-BDL-005). The
// same (iss, jti) with the same digest is a duplicate and writes nothing;
// with another digest — generated: a byte changed, an envelope removed,
// added, lengthened or two swapped, another iat or exp — it is a replay
// and writes nothing; the same jti from another exporter is a bundle of
// its own. Records expire: PurgeBundles deletes those before its bound
// (strictly), after which the (iss, jti) may be recorded anew.
func TestBundleReplays(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		seed := time.Now().UnixNano()
		t.Logf("seed %d", seed)
		rnd := rand.New(rand.NewPCG(uint64(seed), 0))
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		p := bundlePlain{Iss: memberA, Aud: memberB, Iat: t0.Unix(), Exp: t0.Add(24 * time.Hour).Unix(), JTI: "bundle-jti-1"}
		for range 5 {
			p.Envelopes = append(p.Envelopes, genToken(rnd))
		}
		rec := func(iss string, plain []byte) store.BundleRecord {
			return store.BundleRecord{Iss: iss, JTI: p.JTI, SHA256: sha(plain), ExpiresAt: time.Unix(p.Exp, 0).Add(time.Minute)}
		}
		orig := rec(memberA, p.bytes(t))
		if dup := must[bool](t)(b.s.RememberBundle(ctx, orig)); dup {
			t.Fatal("first import recorded as a duplicate")
		}
		records := func() int { return b.count(t, `SELECT count(*) FROM bundle_replays`) }
		storedSum := func(iss string) string {
			var s string
			if err := b.raw.GetContext(ctx, &s, b.raw.Rebind(`SELECT sha256 FROM bundle_replays WHERE iss = ? AND jti = ?`), iss, p.JTI); err != nil {
				t.Fatalf("read the record of %s: %v", iss, err)
			}
			return s
		}

		others := otherContents(t, rnd, p)
		for what, plain := range others {
			dup, err := b.s.RememberBundle(ctx, rec(memberA, plain))
			var re *store.ReplayError
			if dup || !errors.Is(err, store.ErrReplay) || !errors.As(err, &re) || re.Stored != orig.SHA256 || re.Got != sha(plain) {
				t.Fatalf("same (iss, jti), %s: dup %t, %v; want a replay naming both digests", what, dup, err)
			}
		}
		if n := records(); n != 1 || storedSum(memberA) != orig.SHA256 {
			t.Fatalf("after %d replays: %d records, digest %s; want the one first recorded", len(others), n, storedSum(memberA))
		}
		// The same bundle again: a duplicate, however often.
		for range 3 {
			if dup := must[bool](t)(b.s.RememberBundle(ctx, orig)); !dup {
				t.Fatal("the same bundle again: not a duplicate")
			}
		}
		// The same jti from another exporter, with other content: its own.
		for _, plain := range others {
			other := rec(memberB, plain)
			if dup := must[bool](t)(b.s.RememberBundle(ctx, other)); dup {
				t.Fatal("another exporter's bundle with the same jti: a duplicate")
			}
			break
		}
		if n := records(); n != 2 {
			t.Fatalf("%d records, want 2 (one per exporter)", n)
		}

		// A record written in a transaction that rolls back is not kept.
		rolled := store.BundleRecord{Iss: memberA, JTI: "bundle-rolled-back", SHA256: orig.SHA256, ExpiresAt: orig.ExpiresAt}
		errRollback := errors.New("roll back")
		err := b.s.Tx(ctx, func(tx store.Tx) error {
			if _, err := tx.RememberBundle(ctx, rolled); err != nil {
				return err
			}
			return errRollback
		})
		mustErr(t, err, errRollback)
		if n := records(); n != 2 {
			t.Fatalf("%d records after a rolled-back one, want 2", n)
		}

		// Invalid records.
		for _, bad := range []store.BundleRecord{
			{JTI: "j", SHA256: orig.SHA256, ExpiresAt: t0},
			{Iss: memberA, SHA256: orig.SHA256, ExpiresAt: t0},
			{Iss: memberA, JTI: "j", SHA256: "abc", ExpiresAt: t0},
			{Iss: memberA, JTI: "j", SHA256: orig.SHA256},
		} {
			_, err := b.s.RememberBundle(ctx, bad)
			mustErr(t, err, store.ErrInvalid)
		}

		// Purge: strictly before the bound.
		young := store.BundleRecord{Iss: memberA, JTI: "bundle-young", SHA256: orig.SHA256, ExpiresAt: orig.ExpiresAt.Add(time.Hour)}
		must[bool](t)(b.s.RememberBundle(ctx, young))
		_, err = b.s.PurgeBundles(ctx, time.Time{})
		mustErr(t, err, store.ErrInvalid)
		if n := must[int64](t)(b.s.PurgeBundles(ctx, orig.ExpiresAt)); n != 0 {
			t.Fatalf("purged %d records expiring at the bound, want none", n)
		}
		if n := must[int64](t)(b.s.PurgeBundles(ctx, orig.ExpiresAt.Add(time.Second))); n != 2 {
			t.Fatalf("purged %d, want 2 (both exporters' bundle-jti-1)", n)
		}
		if n := records(); n != 1 {
			t.Fatalf("%d records after the purge, want 1 (the young one)", n)
		}
		// Once purged (its bundle refused as expired by then), the
		// (iss, jti) is free.
		for _, plain := range others {
			if dup := must[bool](t)(b.s.RememberBundle(ctx, rec(memberA, plain))); dup {
				t.Fatal("after the purge: a duplicate")
			}
			break
		}
	})
}

// TestBundleReplaysConcurrent: of bundles with one (iss, jti) and other
// contents recorded at once, exactly one is recorded and the others are
// replays; copies of that one are duplicates.
func TestBundleReplaysConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		exp := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		const n = 8
		var (
			wg                    sync.WaitGroup
			mu                    sync.Mutex
			fresh, replays, other int
			won                   string
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sum := sha([]byte(fmt.Sprintf("content %d", i)))
				dup, err := b.s.RememberBundle(ctx, store.BundleRecord{Iss: memberA, JTI: "race", SHA256: sum, ExpiresAt: exp})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && !dup:
					fresh++
					won = sum
				case errors.Is(err, store.ErrReplay):
					replays++
				default:
					other++
					t.Errorf("content %d: dup %t, %v", i, dup, err)
				}
			}()
		}
		wg.Wait()
		if fresh != 1 || replays != n-1 || other != 0 {
			t.Fatalf("recorded %d, replays %d, other %d; want 1, %d, 0", fresh, replays, other, n-1)
		}
		if dup := must[bool](t)(b.s.RememberBundle(ctx, store.BundleRecord{Iss: memberA, JTI: "race", SHA256: won, ExpiresAt: exp})); !dup {
			t.Fatal("the recorded content again: not a duplicate")
		}
	})
}
