package console

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"slices"
	"time"
)

// expiringSoon is how close to its end a certificate or key is flagged.
const expiringSoon = 30 * 24 * time.Hour

// credRow is one thing that expires: this node's certificate, a CA
// certificate of the manifest, the manifest itself, or a member's signing
// key.
type credRow struct {
	What   string // catalog key of the kind of credential
	Owner  string // member id, or "" for the federation
	ID     string // key id, certificate subject
	Alg    string
	From   time.Time
	Until  time.Time // zero: no end
	State  string    // valid | expiring | expired | not_yet
	Days   int64     // days left (valid, expiring)
	InUse  bool      // this node's signing key in use now
	Pinned *bool     // this node's certificate: its key is pinned in the manifest
}

func credState(now, from, until time.Time) (string, int64) {
	switch {
	case !from.IsZero() && now.Before(from):
		return "not_yet", 0
	case until.IsZero():
		return "valid", 0
	case !now.Before(until):
		return "expired", 0
	case until.Sub(now) < expiringSoon:
		return "expiring", int64(until.Sub(now).Hours() / 24)
	}
	return "valid", int64(until.Sub(now).Hours() / 24)
}

// credentials lists, soonest end first, what expires and would stop this
// node from exchanging: its TLS certificate, the federation's CA
// certificates, the manifest, and every member's signing keys.
func (c *Console) credentials(now time.Time) []credRow {
	var rows []credRow
	add := func(r credRow) {
		r.State, r.Days = credState(now, r.From, r.Until)
		rows = append(rows, r)
	}
	m := c.o.Backend.Manifest()
	self := c.o.Backend.Self()
	if cert := c.o.Backend.Certificate(); cert != nil {
		r := credRow{What: "keys.tls", Owner: self, ID: cert.Subject.CommonName, Alg: cert.PublicKeyAlgorithm.String(), From: cert.NotBefore, Until: cert.NotAfter}
		if m != nil {
			pin := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
			pinned := false
			if mb, ok := m.Member(self); ok {
				pinned = slices.Contains(mb.TLSSPKISHA256, hex.EncodeToString(pin[:]))
			}
			r.Pinned = &pinned
		}
		add(r)
	}
	if m == nil {
		return rows
	}
	add(credRow{What: "keys.manifest", ID: m.Federation, From: m.IssuedAt, Until: m.ExpiresAt})
	for _, p := range m.TLSCAPEM {
		rest := []byte(p)
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if ca, err := x509.ParseCertificate(b.Bytes); err == nil {
				add(credRow{What: "keys.ca", ID: ca.Subject.CommonName, Alg: ca.PublicKeyAlgorithm.String(), From: ca.NotBefore, Until: ca.NotAfter})
			}
		}
	}
	inUse := c.o.Backend.SigningKeyID()
	for _, mb := range m.Members {
		for _, k := range mb.JWKS {
			if k == nil {
				continue
			}
			add(credRow{What: "keys.signing", Owner: mb.ID, ID: k.KID(), Alg: string(k.Alg()), From: k.NotBefore(), Until: k.Expires(),
				InUse: mb.ID == self && k.KID() == inUse})
		}
	}
	slices.SortStableFunc(rows, func(a, b credRow) int {
		switch {
		case a.Until.IsZero() && b.Until.IsZero():
			return 0
		case a.Until.IsZero():
			return 1
		case b.Until.IsZero():
			return -1
		}
		return a.Until.Compare(b.Until)
	})
	return rows
}

func (c *Console) keysPage(w http.ResponseWriter, q *req) {
	rows := c.credentials(c.o.Now())
	var expired, expiring int
	for _, r := range rows {
		switch r.State {
		case "expired":
			expired++
		case "expiring":
			expiring++
		}
	}
	c.render(w, q, http.StatusOK, "keys", struct {
		*view
		Rows              []credRow
		Expired, Expiring int
	}{c.newView(q, "keys.title"), rows, expired, expiring})
}
