// Package fedadmin administers an FLX federation on files: it is what
// `flx federation init|add-member|rotate-key|suspend|renew|show` run.
//
// A federation directory (OUT) holds the trust anchor's key pair
// (anchor/anchor.jwk, private, mode 0600: keep it offline; anchor.pub.jwk),
// the development CA (ca/, see federation/devca), the signed manifest
// (manifest.jws, the source of truth for members, keys and status),
// federation.json (administrative settings: algorithms, validity periods,
// host names and listen addresses used to issue a member's files) and one
// folder per member (members/<ID>/) ready to copy to that member's server:
// config.yaml, policy.yaml, tokens.txt (bearer tokens, 0600) and data/ with
// its TLS certificate and key, its signing key (0600), the pinned anchor key
// and a copy of the manifest.
//
// Every change re-signs the manifest: the current one is verified with the
// anchor's public key first, the new one gets version+1, issued_at now and
// expires_at now + the manifest validity, and it is checked with
// federation.VerifyManifest against the old one (no rollback) before it is
// written atomically to OUT and copied to each member's data/trust/.
//
// Package fedadmin works on files only. It must never import node/store, the
// node's HTTP or delivery packages, or conformance: it builds a federation,
// it does not run a node.
package fedadmin
