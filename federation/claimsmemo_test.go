package federation

import (
	"bytes"
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
