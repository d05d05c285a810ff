//go:build flx_broken_replay

package node

// Conformance teeth test only (see breakage.go): no replay refusal.
func init() { brokenSkipReplay = true }
