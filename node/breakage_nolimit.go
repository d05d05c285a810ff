//go:build flx_broken_nolimit

package node

// Conformance teeth test only (see breakage.go): no body size limit.
func init() { brokenNoBodyLimit = true }
