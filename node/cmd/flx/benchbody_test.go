package main

import (
	"testing"

	"github.com/familylinks/flx/schema"
)

// TestBenchBodyValid: every bench case is a valid case document with a
// case id and people of its own.
func TestBenchBodyValid(t *testing.T) {
	seen := map[string]bool{}
	for i := range 50 {
		b := benchBody(i)
		if err := schema.Validate(schema.KindCase, b); err != nil {
			t.Fatalf("benchBody(%d): %v", i, err)
		}
		if seen[string(b)] {
			t.Fatalf("benchBody(%d) repeats an earlier body", i)
		}
		seen[string(b)] = true
	}
	t.Log(string(benchBody(7)))
}
