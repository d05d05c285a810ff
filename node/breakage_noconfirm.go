//go:build flx_broken_noconfirm

package node

// Conformance teeth test only (see breakage.go): withdrawals never confirmed.
func init() { brokenNoWithdrawConfirm = true }
