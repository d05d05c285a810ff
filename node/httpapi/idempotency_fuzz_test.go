package httpapi

import (
	"strings"
	"testing"
)

// FuzzValidIdempotencyKey holds the header check of an Idempotency-Key to
// its documented rule: 1 to 255 bytes, each visible ASCII (0x21-0x7e), so
// that no space, control byte or non-ASCII byte reaches the stored key.
func FuzzValidIdempotencyKey(f *testing.F) {
	for _, s := range []string{"a", "order-1", "", " ", "a b", "é", "\x00", "\x7f", strings.Repeat("k", 255), strings.Repeat("k", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		want := len(k) >= 1 && len(k) <= maxIdempotencyKey
		for _, b := range []byte(k) {
			if b < '!' || b > '~' {
				want = false
			}
		}
		if got := validIdempotencyKey(k); got != want {
			t.Fatalf("validIdempotencyKey(%q) = %v, want %v", k, got, want)
		}
	})
}
