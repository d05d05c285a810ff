//go:build flx_broken_receipthash

package node

import "github.com/familylinks/flx/federation"

// Conformance teeth test only (see breakage.go): receipts bound to the
// SHA-256 of the body instead of the exact envelope bytes.
func init() {
	brokenReceiptSHA256 = func(_ []byte, env *federation.Envelope) string { return sha256Hex(env.Body) }
}
