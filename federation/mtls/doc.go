// Package mtls is the transport half of FLX trust: the TLS 1.3 configuration of
// the federation listener and of outbound connections to peer members, and the
// HTTP middleware that hands the authenticated peer member to handlers.
//
// A peer is authenticated when, on every handshake (full or resumed), its leaf
// certificate
//
//   - chains to a CA certificate of the current federation manifest
//     ([Directory.RootCAs]) and explicitly carries the TLS client-auth (on the
//     listener) or server-auth (on outbound connections) extended key usage;
//   - is inside its validity period; and
//   - has a SubjectPublicKeyInfo whose SHA-256 pin ([SPKIPin]) the manifest
//     lists for an active member ([Directory.MemberBySPKI]).
//
// Host names are not checked on outbound connections: the pin names the
// member, which is a stronger statement than a DNS name, and a federation
// endpoint may be reached through an address that is not in its certificate.
//
// The checks run in [tls.Config.VerifyConnection], never in
// VerifyPeerCertificate, which crypto/tls skips on resumed sessions: a member
// removed or suspended in a new manifest cannot come back on an old session
// ticket. The [Directory] is consulted on every handshake and every request, so
// a manifest replaced at run time takes effect without restarting listeners.
//
// This package knows nothing of manifests, envelopes or cases: the root
// federation package implements [Directory] from the manifest and imports this
// one. Package mtls must never import the root federation package
// (github.com/familylinks/flx/federation), schema, policy, node or conformance;
// it depends on the standard library only.
package mtls
