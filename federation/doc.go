// Package federation is FLX's trust layer: the signed federation manifest
// (members, their signing keys, TLS pins and CA, suspension), envelope signing
// and verification (compact JWS, typ flx-envelope+jws), signed receipts, the
// replay guard, and the stable error codes every federation refusal carries
// (see Code).
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
