package pprl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `{"kid":"2026-1","key":"` + strings.Repeat("QUJD", 11) + `"}` // 33 bytes
	s, err := LoadSecret(write("good.json", good, 0o600))
	if err != nil || s.ID != "2026-1" || len(s.Key) != 33 {
		t.Fatalf("good secret: %+v %v", s, err)
	}
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"readable by others": {good, 0o644, "chmod 600"},
		"short key":          {`{"kid":"2026-1","key":"QUJD"}`, 0o600, "too short"},
		"not base64":         {`{"kid":"2026-1","key":"Karo Hovsampelyan"}`, 0o600, "base64"},
		"bad kid":            {`{"kid":"a b","key":"` + strings.Repeat("QUJD", 11) + `"}`, 0o600, "kid"},
		"not JSON":           {`kid=1`, 0o600, "not {"},
	} {
		_, err := LoadSecret(write(strings.ReplaceAll(name, " ", "_"), tc.body, tc.mode))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
	if _, err := LoadSecret(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}
