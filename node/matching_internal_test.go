package node

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/names"
	"github.com/familylinks/flx/schema"
)

// TestDecodedCasesBounded: a decoded case is taken once, by the exact
// bytes it was decoded from; documents over the size bound are never kept;
// the entries and document bytes held stay within two generations.
func TestDecodedCasesBounded(t *testing.T) {
	var d decodedCases
	doc := []byte(`{"case_id":"XA-RC:1"}`)
	c := decodedCase{c: &schema.Case{CaseID: "XA-RC:1"}, names: new(names.Memo)}
	d.put(doc, c)
	if _, ok := d.take([]byte(`{"case_id":"XA-RC:1"} `)); ok {
		t.Fatal("taken by other bytes")
	}
	if got, ok := d.take(doc); !ok || got != c {
		t.Fatalf("take: %v %t", got, ok)
	}
	if _, ok := d.take(doc); ok {
		t.Fatal("taken twice")
	}
	big := bytes.Repeat([]byte(" "), decodedCaseMaxBytes+1)
	d.put(big, c)
	if _, ok := d.take(big); ok {
		t.Fatal("a document over the bound was kept")
	}
	for i := range 3 * decodedCasesSize {
		d.put(fmt.Appendf(nil, `{"case_id":"XA-RC:%d"}`, i), c)
	}
	if n := len(d.cur) + len(d.prev); n > 2*decodedCasesSize {
		t.Fatalf("%d entries held, over two generations of %d", n, decodedCasesSize)
	}
	large := bytes.Repeat([]byte(" "), decodedCaseMaxBytes)
	for i := range 3 * decodedCasesBudget / decodedCaseMaxBytes {
		d.put(append(fmt.Appendf(nil, "%d", i), large[:len(large)-8]...), c)
	}
	held := 0
	for _, g := range []map[[32]byte]decodedCase{d.cur, d.prev} {
		held += len(g)
	}
	if held*(decodedCaseMaxBytes-8) > 2*decodedCasesBudget {
		t.Fatalf("%d large documents held, over two budgets of %d bytes", held, decodedCasesBudget)
	}
}
