// Package jose is FLX's narrow wrapper around JSON Web Signatures and JSON Web
// Keys: signing-key generation (Ed25519 by default, ECDSA P-256), public JWK
// and JWKS encoding that publishes only the members FLX means to publish,
// private-key files, RFC 7638 thumbprints, and compact-JWS signing and
// verification that refuses the classic JOSE attacks before any signature
// check runs.
//
// It also wraps JSON Web Encryption for what must travel encrypted to one
// member (carried bundles): encryption keys (EncPrivateKey, EncPublicKey,
// EncKeySet: ECDH-ES+A256KW on X25519, the default, or P-256, published with
// "use":"enc"), and compact-JWE encryption and decryption (Encrypt, ParseJWE,
// Encrypted.Decrypt) with exactly one algorithm pair, ECDH-ES+A256KW and
// A256GCM. ParseJWE refuses before any key agreement: another serialization,
// another algorithm ("dir", RSA, PBES2, CBC), compression ("zip"), header
// members other than alg/enc/epk/kid/typ/cty, and an ephemeral key that is
// not a valid point of X25519 or P-256 (invalid-curve and low-order points).
// Every failure of the decryption itself is one error, ErrDecrypt.
//
// It is the only FLX package that imports github.com/lestrrat-go/jwx, and
// only for JWE now. Its exported surface is free of jwx types, so replacing
// jwx v2 (no longer maintained upstream) touches this package alone.
//
// Compact JWS is signed and verified here with the standard library
// (crypto/ed25519; crypto/ecdsa with the fixed 64-byte R || S of RFC 7518):
// a token is parsed once, by Parse, and its signature checked on that parse,
// so no second parser can read another header or payload from the same bytes
// (jwx parsed every token again, a third of a verification's cost). Protected
// headers are cached by their exact bytes (a peer uses one or two).
//
// Many Ed25519 signatures are verified at once with VerifyAll (the
// envelopes of a batch, the receipts of a batch's answer): one equation
// over all of them, built with filippo.io/edwards25519 (the maintained
// library Go's own crypto/ed25519 is made from; this package is its only
// importer), each signature falling back to crypto/ed25519 alone when the
// equation fails. ed25519Batch says what it accepts.
//
// Verification is deliberately strict (jwx v2, for one, does not check the
// header "alg" against the key):
//
//   - only the compact serialization, with exactly one signature and
//     canonical unpadded base64url in all three parts (so one signature has
//     exactly one encoding);
//   - the protected header may carry only "alg", "kid" and "typ"; "jku",
//     "jwk", "x5u", "x5c", "x5t", "crit", "b64" and anything else are refused,
//     as are duplicate members;
//   - "alg" must be EdDSA or ES256 (never "none", HMAC, RSA or anything
//     else);
//   - "typ" must be the one the caller expects, so a receipt can never pass
//     as an envelope or a manifest;
//   - the key comes only from the caller's lookup by "kid", never from the
//     message; the key's own pinned algorithm must equal the header "alg",
//     and the signature is then checked with that pinned algorithm.
//
// JWK parsing refuses a member name twice. A JWKS (ParseKeySet, the jwks of
// a manifest member) is exactly {"keys":[...]} and every key in it carries an
// explicit "kid" (FLX-KEY-002); only a lone JWK (ParsePublicJWK) falls back to
// the RFC 7638 thumbprint as its kid.
//
// Package jose must never import other FLX packages but federation/keyfile,
// which writes and reads its key files (federation and above depend on jose,
// not the other way round); it knows nothing of manifests,
// members or envelopes.
package jose
