//go:build flx_broken_noretryafter

package delivery

// Conformance teeth test only (see breakage.go): ignores Retry-After.
func init() { brokenNoRetryAfter = true }
