package fedadmin

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// WriteSummary prints a verified manifest for people: version, validity,
// CA, and each member with its status, endpoint, TLS pins and keys (kid,
// alg, nbf/exp). It prints no secret: a manifest holds none.
func WriteSummary(w io.Writer, m *federation.Manifest, expired bool, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "federation %s, manifest version %d\n", m.Federation, m.Version)
	fmt.Fprintf(&b, "  issued   %s\n", m.IssuedAt.UTC().Format(time.RFC3339))
	left := m.ExpiresAt.Sub(now).Round(time.Minute)
	state := fmt.Sprintf("in %s", left)
	if expired || left <= 0 {
		state = "EXPIRED: nodes refuse it; run flx federation renew"
	}
	fmt.Fprintf(&b, "  expires  %s (%s)\n", m.ExpiresAt.UTC().Format(time.RFC3339), state)
	for _, p := range m.TLSCAPEM {
		rest := []byte(p)
		for {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if c, err := x509.ParseCertificate(block.Bytes); err == nil {
				fmt.Fprintf(&b, "  TLS CA   %s, valid until %s\n", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
			}
		}
	}
	fmt.Fprintf(&b, "members (%d):\n", len(m.Members))
	for _, mb := range m.Members {
		fmt.Fprintf(&b, "  %s  %q  country %s  %s  %s  %s\n", mb.ID, mb.Name, mb.Country, mb.Role, strings.ToUpper(string(mb.Status)), mb.Endpoint)
		for _, p := range mb.TLSSPKISHA256 {
			fmt.Fprintf(&b, "    tls pin  %s\n", p)
		}
		for _, k := range mb.JWKS {
			fmt.Fprintf(&b, "    key      %s  %s  nbf %s  exp %s  (%s)\n", k.KID(), k.Alg(), fmtTime(k.NotBefore()), fmtTime(k.Expires()), keyState(k, now))
		}
		kinds := make([]string, len(mb.Accepts))
		for i, k := range mb.Accepts {
			kinds[i] = string(k)
		}
		fmt.Fprintf(&b, "    accepts  %s\n", strings.Join(kinds, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func keyState(k *jose.PublicKey, now time.Time) string {
	switch {
	case !k.NotBefore().IsZero() && now.Before(k.NotBefore()):
		return "not yet valid"
	case !k.Expires().IsZero() && !now.Before(k.Expires()):
		return "expired"
	case !k.Expires().IsZero():
		return "valid, retiring"
	}
	return "valid"
}
