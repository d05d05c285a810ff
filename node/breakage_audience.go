//go:build flx_broken_audience

package node

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/familylinks/flx/federation"
)

// Conformance teeth test only (see breakage.go): the audience is ignored
// (verified against whatever aud the envelope names).
func init() {
	brokenVerify = func(v *federation.Verifier, ctx context.Context, raw []byte, peer string) (*federation.Envelope, error) {
		var c struct {
			Aud string `json:"aud"`
		}
		if parts := strings.Split(string(raw), "."); len(parts) == 3 {
			if p, err := b64.DecodeString(parts[1]); err == nil {
				_ = json.Unmarshal(p, &c)
			}
		}
		lax := *v
		if c.Aud != "" {
			lax.Self = c.Aud
		}
		return lax.Verify(ctx, raw, peer)
	}
}
