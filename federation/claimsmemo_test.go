package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// TestClaimsMemoBounded: the memo keeps at most two generations, never an
// envelope over claimsMemoMaxBytes, and hands out copies.
func TestClaimsMemoBounded(t *testing.T) {
	m := &claimsMemo{generation: 4}
	big := bytes.Repeat([]byte("x"), claimsMemoMaxBytes+1)
	m.put(big, Claims{JTI: "big"})
	if _, ok := m.get(big); ok {
		t.Fatal("an envelope over the bound was kept")
	}
	for i := range 9 {
		m.put([]byte{byte(i)}, Claims{JTI: string(rune('a' + i)), Body: json.RawMessage(`{}`)})
	}
	if n := len(m.cur) + len(m.prev); n > 8 {
		t.Fatalf("memo holds %d entries, want at most two generations of 4", n)
	}
	if _, ok := m.get([]byte{0}); ok {
		t.Fatal("the oldest generation was not dropped")
	}
	c, ok := m.get([]byte{8})
	if !ok || c.JTI != "i" {
		t.Fatalf("latest entry: %+v %t", c, ok)
	}
	c.Body[0] = '['
	if c2, _ := m.get([]byte{8}); string(c2.Body) != "{}" {
		t.Fatalf("a caller changed the memo's body: %s", c2.Body)
	}
}

// TestClaimsMemoBudget: a generation also ends when its bodies reach the
// byte budget, so large bodies cannot make the memo hold more than two
// budgets.
func TestClaimsMemoBudget(t *testing.T) {
	m := &claimsMemo{generation: 100, budget: 10}
	body := json.RawMessage(`"abc"`) // 5 bytes and 1 of envelope: one per generation
	for i := range 5 {
		m.put([]byte{byte(i)}, Claims{JTI: string(rune('a' + i)), Body: body})
		held := 0
		for _, g := range []map[uint64]memoEntry{m.cur, m.prev} {
			for _, e := range g {
				held += len(e.raw) + len(e.c.Body)
			}
		}
		if held > 2*m.budget {
			t.Fatalf("after %d puts the memo holds %d body bytes, over two budgets of %d", i+1, held, m.budget)
		}
	}
	if _, ok := m.get([]byte{2}); ok {
		t.Fatal("an entry older than two generations is still held")
	}
	if c, ok := m.get([]byte{4}); !ok || c.JTI != "e" {
		t.Fatalf("latest entry: %+v %t", c, ok)
	}
}

// TestVerifyKeepsClaimsForClaimsOf: what Verify accepted is in the memo, so
// the inbox processor's ClaimsOf of the same bytes reads the same claims
// without parsing the JWS again; bytes Verify refused are not kept.
func TestVerifyKeepsClaimsForClaimsOf(t *testing.T) {
	f := newFixture(t)
	raw := f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"])
	env, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
	if err != nil {
		t.Fatal(err)
	}
	kept, ok := memo.get(raw)
	if !ok {
		t.Fatal("Verify did not keep the claims it parsed")
	}
	if kept.JTI != env.JTI || kept.Issuer != env.Issuer || !bytes.Equal(kept.Body, env.Body) {
		t.Fatalf("kept %+v, verified %+v", kept, env.Claims)
	}
	c, err := ClaimsOf(raw)
	if err != nil || c.JTI != env.JTI {
		t.Fatalf("ClaimsOf: %+v %v", c, err)
	}

	wrongAud := f.sign(t, f.claims("XA-RC", "ICRC-CTA"), f.keys["XA-RC"])
	if _, err := f.verifier("XB-RC").Verify(context.Background(), wrongAud, "XA-RC"); err == nil {
		t.Fatal("an envelope for another member verified")
	}
	if _, ok := memo.get(wrongAud); ok {
		t.Fatal("the claims of a refused envelope were kept")
	}
}

// TestClaimsMemoCollision: two envelopes under one key (a hash collision)
// never read each other's claims: a hit needs the same bytes.
func TestClaimsMemoCollision(t *testing.T) {
	m := &claimsMemo{generation: 4}
	a, b := []byte("envelope a"), []byte("envelope b")
	k, _ := m.key(a)
	m.putK(k, a, Claims{JTI: "a"})
	if c, ok := m.getK(k, b); ok {
		t.Fatalf("other bytes under the same key read %+v", c)
	}
	if c, ok := m.getK(k, a); !ok || c.JTI != "a" {
		t.Fatalf("the same bytes: %+v %t", c, ok)
	}
}

// TestClaimsMemoForget: an entry forgotten is gone from either generation,
// and its bytes leave the current generation's count; another envelope of
// the same key is not forgotten.
func TestClaimsMemoForget(t *testing.T) {
	m := &claimsMemo{generation: 2, budget: 1 << 20}
	body := json.RawMessage(`"abc"`)
	m.put([]byte{1}, Claims{JTI: "a", Body: body})
	m.put([]byte{2}, Claims{JTI: "b", Body: body})
	m.put([]byte{3}, Claims{JTI: "c", Body: body}) // a and b now the previous generation
	for _, raw := range [][]byte{{1}, {3}} {
		k, _ := m.key(raw)
		m.forget(k, raw)
		if _, ok := m.get(raw); ok {
			t.Fatalf("%v still held after forget", raw)
		}
	}
	if m.curBytes != 0 {
		t.Fatalf("current generation counts %d bytes, none held", m.curBytes)
	}
	if n, held := m.size(); n != 1 || held != 1+len(body) {
		t.Fatalf("size %d entries, %d bytes; want entry b alone, %d bytes", n, held, 1+len(body))
	}
	k, _ := m.key([]byte{2})
	m.forget(k, []byte{9}) // the same key, other bytes (a collision): kept
	if c, ok := m.get([]byte{2}); !ok || c.JTI != "b" {
		t.Fatalf("entry b: %+v %t", c, ok)
	}
}
