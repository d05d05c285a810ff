// Package trust keeps the node's current federation manifest: it loads the
// last good manifest from the store, refreshes it from a file or an https
// URL, accepts a new one only when federation.VerifyManifest does (pinned
// trust anchor, not expired, no rollback), records every adopted version in
// the store, and answers the TLS layer's questions (CA pool, pinned member)
// from whatever manifest is current at each handshake.
//
// It must never import the node's HTTP packages, policy or schema: it
// deals in trust, not cases.
package trust
