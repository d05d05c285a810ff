//go:build flx_broken_earlyack

package node

// Conformance teeth test only (see breakage.go): 202 before storing.
func init() { brokenAckBeforeStore = true }
