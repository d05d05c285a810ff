package config

import "testing"

// FuzzParse: any bytes given as a configuration file are parsed or refused
// without panicking, and a parsed configuration can always be resolved and
// verified.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	f.Add([]byte("member: XA-RC\nlocal_api:\n  tokens:\n    - name: a\n      role: caseworker\n      sha256: x\n"))
	f.Add([]byte("delivery:\n  lease: 1s\n  request_timeout: 2m\n"))
	f.Add([]byte("- not\n- a\n- map\n"))
	f.Add([]byte("member: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		c.Resolve("/etc/flx")
		_ = c.Verify()
		if err := c.ApplyEnv(func(string) (string, bool) { return "", false }); err != nil {
			t.Fatalf("no environment cannot fail: %v", err)
		}
	})
}
