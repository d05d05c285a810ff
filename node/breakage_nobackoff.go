//go:build flx_broken_nobackoff

package node

// Conformance teeth test only (see breakage.go): retries without backoff.
func init() { brokenNoBackoff = true }
