//go:build flx_broken_nobackoff

package delivery

// Conformance teeth test only (see breakage.go): retries without backoff.
func init() { brokenNoBackoff = true }
