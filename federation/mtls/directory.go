package mtls

import (
	"crypto/x509"
	"strings"
	"sync/atomic"
)

// Directory is what this package needs to know of the federation: the CA
// certificates peer certificates must chain to, and which member a pinned key
// belongs to. It is consulted on every handshake (full or resumed) and, by
// [Middleware], on every request, so an implementation backed by the current
// manifest (typically behind an atomic pointer, see [Dynamic]) makes a new
// manifest effective at once. Implementations must be safe for concurrent use
// and fast: they run inside TLS handshakes.
type Directory interface {
	// RootCAs returns the federation TLS CA certificates. The pool is only
	// read, never modified. nil means nothing is trusted (the system roots are
	// never used).
	RootCAs() *x509.CertPool
	// MemberBySPKI returns the member whose manifest entry lists pin (see
	// [SPKIPin]) in tls_spki_sha256. It must return ok=false for a member
	// that is suspended (or otherwise not active): this package does not know
	// member status, and a false answer is what refuses the peer.
	MemberBySPKI(pin string) (memberID string, ok bool)
}

// Snapshotter is implemented by a Directory whose contents change at run time.
// Verification calls Snapshot once and asks both questions of the returned
// Directory, so CA certificates and pins always come from the same manifest
// even when it is replaced in between.
type Snapshotter interface {
	Snapshot() Directory
}

func snapshot(dir Directory) Directory {
	if s, ok := dir.(Snapshotter); ok {
		return s.Snapshot()
	}
	return dir
}

// Static is an immutable Directory: CA certificates and a pin-to-member map.
// It suits tests, the conformance suite (which trusts one target) and a
// manifest snapshot.
type Static struct {
	roots   *x509.CertPool
	members map[string]string
}

// NewStatic returns a Directory trusting roots and mapping each pin (lowercase
// hex SPKI SHA-256; upper case is accepted and folded) to its member. Only
// active members belong in pins. The map is copied; roots must not be modified
// afterwards.
func NewStatic(roots *x509.CertPool, pins map[string]string) *Static {
	m := make(map[string]string, len(pins))
	for pin, member := range pins {
		m[strings.ToLower(pin)] = member
	}
	return &Static{roots: roots, members: m}
}

// RootCAs implements [Directory].
func (s *Static) RootCAs() *x509.CertPool { return s.roots }

// MemberBySPKI implements [Directory].
func (s *Static) MemberBySPKI(pin string) (string, bool) {
	m, ok := s.members[pin]
	return m, ok
}

// Dynamic is a Directory whose contents are replaced at run time with Store,
// e.g. when a new federation manifest is accepted. Its zero value trusts
// nothing. It implements [Snapshotter].
type Dynamic struct {
	cur atomic.Pointer[dirRef]
}

type dirRef struct{ d Directory }

// NewDynamic returns a Dynamic holding d.
func NewDynamic(d Directory) *Dynamic {
	var dy Dynamic
	dy.Store(d)
	return &dy
}

// Store replaces the directory. Handshakes and requests that start afterwards
// see d; established connections are re-checked by [Middleware] on their next
// request.
func (dy *Dynamic) Store(d Directory) {
	dy.cur.Store(&dirRef{d: d})
}

// Load returns the current directory, or nil.
func (dy *Dynamic) Load() Directory {
	if r := dy.cur.Load(); r != nil {
		return r.d
	}
	return nil
}

// Snapshot implements [Snapshotter].
func (dy *Dynamic) Snapshot() Directory { return snapshot(dy.Load()) }

// RootCAs implements [Directory].
func (dy *Dynamic) RootCAs() *x509.CertPool {
	if d := dy.Load(); d != nil {
		return d.RootCAs()
	}
	return nil
}

// MemberBySPKI implements [Directory].
func (dy *Dynamic) MemberBySPKI(pin string) (string, bool) {
	if d := dy.Load(); d != nil {
		return d.MemberBySPKI(pin)
	}
	return "", false
}
