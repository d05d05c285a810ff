// Package devca is a small certificate authority for development, tests, demos
// and `flx federation init`: an ECDSA P-256 CA that issues member certificates
// fit for the federation listener and for dialling peers (client-auth and
// server-auth extended key usages, the member id as subject common name and as
// the URI SAN urn:flx:member:ID).
//
// It is not a production CA: no revocation, no HSM, keys in files (mode 0600).
// A federation in production uses the CA its members agree on; FLX needs from
// it only what the manifest lists (the CA certificates and each member's SPKI
// pin).
//
// Package devca imports federation/mtls (for the member URI and SPKI pin),
// federation/keyfile (its key files) and the standard library; it must never import the root federation package
// (github.com/familylinks/flx/federation), schema, policy, node or conformance.
package devca
