package node

import (
	"bytes"
	"fmt"
	"testing"
	"time"

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
	if n := len(d.m); n > decodedCasesSize {
		t.Fatalf("%d entries held, over %d", n, decodedCasesSize)
	}
	for i := range decodedCasesSize {
		d.take(fmt.Appendf(nil, `{"case_id":"XA-RC:%d"}`, i))
	}
	large := bytes.Repeat([]byte(" "), decodedCaseMaxBytes)
	for i := range 3 * decodedCasesBudget / decodedCaseMaxBytes {
		d.put(append(fmt.Appendf(nil, "%d", i), large[:len(large)-8]...), c)
	}
	if held := len(d.m); held*(decodedCaseMaxBytes-8) > decodedCasesBudget || d.bytes > decodedCasesBudget {
		t.Fatalf("%d large documents (%d bytes) held, over the budget of %d bytes", held, d.bytes, decodedCasesBudget)
	}
}

// TestDecodedCasesBurstKeepsOldest: in a burst longer than the bound (the
// matching worker far behind processing), the cases decoded first, those
// the worker reads next, are still held when it reads them; a case
// decoded once the holder is full goes without, and one decoded after the
// worker took some is held. Evicting the oldest, it never hit again once
// it was more than the bound behind.
func TestDecodedCasesBurstKeepsOldest(t *testing.T) {
	var d decodedCases
	doc := func(i int) []byte { return fmt.Appendf(nil, `{"case_id":"XA-RC:%d"}`, i) }
	c := decodedCase{c: &schema.Case{CaseID: "XA-RC:1"}, names: new(names.Memo)}
	const burst = 3 * 8192
	for i := range burst {
		d.put(doc(i), c)
	}
	hits := 0
	for i := range 100 { // the worker reads the burst from its start
		if _, ok := d.take(doc(i)); ok {
			hits++
		}
	}
	if hits != 100 {
		t.Fatalf("%d of the first 100 cases of a burst of %d held when the worker reads them, want 100", hits, burst)
	}
	d.put(doc(burst), c)
	if _, ok := d.take(doc(burst)); !ok {
		t.Fatal("a case decoded after the worker took some is not held")
	}
}

// TestDecodedCasesExpire: an entry never taken (a rolled back batch, a case
// superseded before it was matched) leaves after decodedCaseMaxAge, so it
// does not keep newer cases out for good.
func TestDecodedCasesExpire(t *testing.T) {
	var d decodedCases
	c := decodedCase{c: &schema.Case{CaseID: "XA-RC:1"}, names: new(names.Memo)}
	t0 := time.Now()
	for i := range decodedCasesSize {
		d.putAt(fmt.Appendf(nil, `{"case_id":"XA-RC:%d"}`, i), c, t0)
	}
	late := []byte(`{"case_id":"XA-RC:late"}`)
	d.putAt(late, c, t0.Add(time.Second))
	if _, ok := d.take(late); ok {
		t.Fatal("a case was kept over the bound")
	}
	d.putAt(late, c, t0.Add(decodedCaseMaxAge))
	if _, ok := d.take(late); !ok {
		t.Fatal("entries never taken kept a new case out after decodedCaseMaxAge")
	}
	if _, ok := d.take([]byte(`{"case_id":"XA-RC:0"}`)); ok {
		t.Fatal("an entry older than decodedCaseMaxAge is still held")
	}
}
