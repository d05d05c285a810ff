// Package federation is FLX's trust layer: the signed federation manifest
// (members, their signing keys, TLS pins and CA, suspension), envelope signing
// and verification (compact JWS, typ flx-envelope+jws), signed receipts, the
// replay guard, and the stable error codes every federation refusal carries
// (see Code).
//
// It also holds the coordinator's part of the protocol (coordination.go,
// relay.go): the coordination kinds relay.forward and stats.report; relay
// chains, in which the origin's signed envelope (or the final recipient's
// receipt) travels unchanged inside each relay's own signed envelope with a
// signed, hash-linked hop per relay (Originate, OpenRelay, Relayed.Forward);
// the manifest's optional relay_via, pull_only and enc_jwks, and the routing
// decision built on them (Manifest.RouteFor, MayRelay, PullSources,
// EncKeyFor). Pull and carried bundles are in federation/pull and
// federation/bundle.
//
// Everything it signs or verifies (envelope claims, receipt claims, the
// manifest) is decoded strictly: member names are case-sensitive and may not
// repeat in any object (see strictjson.go), so every parser reads the same
// signed values.
//
// It knows nothing of cases: an envelope body is opaque JSON here, and
// deciding what a body means, whether it is valid, or whether policy allows
// it belongs to the callers.
//
// Package federation must never import schema, policy, node or conformance
// (the dependency direction is node -> {policy, federation, schema} and
// conformance -> {federation, schema}). It must not import jwx either: all
// JOSE work goes through federation/jose, the single importer of jwx.
package federation
