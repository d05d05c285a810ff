package schema

import "testing"

// TestDecodeStrictAllocs bounds the allocations of decoding the 4 KiB
// detention notification example (Validate's and ValidateObject's parse):
// 157 at this writing, 196 before the strings of the schema's enums and
// consts were boxed once (boxString).
func TestDecodeStrictAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ex, ok := ExampleNamed("case.detention_notification")
	if !ok {
		t.Fatal("example missing")
	}
	decodeStrict(ex.Doc) // the pool's scratch and enumBoxes
	got := testing.AllocsPerRun(50, func() {
		if _, vs := decodeStrict(ex.Doc); len(vs) != 0 {
			t.Fatal(vs)
		}
	})
	if got > 165 {
		t.Errorf("decodeStrict: %.0f allocations per document, want at most 165", got)
	}
}

// TestBoxStringSameValue: a boxed enum string is the string read, equal as
// an any to the plain boxing of it, and strings outside the enums are
// boxed as they are.
func TestBoxStringSameValue(t *testing.T) {
	if len(enumBoxes()) < 50 {
		t.Fatalf("only %d enum strings found in the schema files", len(enumBoxes()))
	}
	for _, s := range []string{"case", "flx/v1/case", "open", "detention_notification", "not-an-enum-value", ""} {
		if b := boxString(s); b != any(s) {
			t.Errorf("boxString(%q) = %#v", s, b)
		}
	}
	if _, ok := enumBoxes()["open"]; !ok {
		t.Error(`"open" (a case status) is not among the enum strings`)
	}
}
