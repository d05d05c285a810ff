// Package bundle is FLX's carried bundle (conformance/SPEC.md §16): where
// there is no network at all, the envelopes for one member are written to a
// file, carried (a USB stick, a courier), and imported at the other end with
// the same verification, duplicate handling and receipts as envelopes
// received over the federation API. The receipts come back the same way, in
// a bundle going the other direction.
//
// A bundle file is one compact JWE (typ flx-bundle+jwe, cty flx-bundle+jws;
// ECDH-ES+A256KW on the recipient's X25519 or P-256 key from its enc_jwks in
// the manifest, A256GCM), optionally followed by one newline. Its plaintext
// is a compact JWS (typ flx-bundle+jws) signed by the exporter:
//
//	{"iss": exporter, "aud": recipient, "iat": …, "exp": …, "jti": bundle id,
//	 "envelopes": [compact JWS, …],   envelopes from iss to aud, in queue order
//	 "receipts":  [compact JWS, …],   receipts signed by iss for envelopes aud sent
//	 "refusals":  [{"jti","sha256","code"}, …]}   envelopes of aud that iss refused
//
// Signed, then encrypted: a lost file discloses nothing but its size and the
// recipient's key id; a file opened by someone else's key, or re-encrypted
// to another member after decryption, is refused (aud is signed); a bundle
// whose signature is not an active member's is refused whole.
//
// Each envelope is verified as the exporter's (iss = exporter, the
// authenticated peer of a bundle) and at the bundle's iat rather than at the
// time of import: a carried bundle may take longer to arrive than an
// envelope lives, and the exporter's signature shows the envelope was
// current when it was packed. The bundle's own lifetime (at most MaxTTL)
// bounds how late that may be, and the importer keeps each envelope's
// replay record until the bundle's exp, so importing the same file again,
// or another copy of it, processes nothing twice.
//
// Package bundle must never import schema, policy, node or conformance: it
// carries signed bytes and knows nothing of cases. It must not import jwx
// either: JOSE goes through federation/jose.
package bundle
