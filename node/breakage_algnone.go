//go:build flx_broken_algnone

package node

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
)

// Conformance teeth test only (see breakage.go): an envelope with alg
// "none" is trusted without any signature check.
func init() {
	brokenVerify = func(v *federation.Verifier, ctx context.Context, raw []byte, peer string) (*federation.Envelope, error) {
		parts := strings.Split(string(raw), ".")
		if len(parts) == 3 {
			var h struct {
				Alg string `json:"alg"`
			}
			hb, _ := b64.DecodeString(parts[0])
			if json.Unmarshal(hb, &h) == nil && strings.EqualFold(h.Alg, "none") {
				var c struct {
					Iss, Aud, JTI, Kind, CaseID string
					Iat, Exp                    int64
					Body                        json.RawMessage
				}
				pb, _ := b64.DecodeString(parts[1])
				var w map[string]json.RawMessage
				if json.Unmarshal(pb, &w) == nil {
					for k, dst := range map[string]any{"iss": &c.Iss, "aud": &c.Aud, "jti": &c.JTI, "kind": &c.Kind, "case_id": &c.CaseID, "iat": &c.Iat, "exp": &c.Exp} {
						_ = json.Unmarshal(w[k], dst)
					}
					c.Body = w["body"]
					return &federation.Envelope{Claims: federation.Claims{
						Issuer: c.Iss, Audience: c.Aud, JTI: c.JTI, Kind: federation.Kind(c.Kind), CaseID: c.CaseID,
						IssuedAt: time.Unix(c.Iat, 0), ExpiresAt: time.Unix(c.Exp, 0), Body: c.Body,
					}}, nil
				}
			}
		}
		return v.Verify(ctx, raw, peer)
	}
}
