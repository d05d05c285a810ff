package node

import (
	"testing"
)

func TestReasonLabel(t *testing.T) {
	for in, want := range map[string]string{"http_503: unavailable": "http_503", "transport: dial tcp": "transport", "plain": "plain"} {
		if got := reasonLabel(in); got != want {
			t.Errorf("reasonLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
