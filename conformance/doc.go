// Package conformance is FLX's black-box conformance suite: it acts as one or
// more federation members (the tester) towards a node under test (the
// candidate) and checks, through the wire protocol only, the requirements of
// SPEC.md in this folder.
//
// Init writes a throwaway conformance federation (trust anchor, CA, manifest,
// the tester members' keys and certificates, good and deliberately faulty,
// and the candidate's identity); Run drives every registered check against a
// candidate URL and returns a Report, which is written as a table, JSON and
// JUnit XML and can be signed by the tester (SignReport, VerifyReport).
// Each check is a named function (checkReplaySameJTIOtherBytes) written
// with the others of its area in checks_<area>.go, and one line of the
// registry (registry.go) gives its id, the requirement ids it covers, its
// title, mode and level; tests keep the registry, the functions and SPEC.md's
// requirement index in step. A check is selected by id, requirement id,
// prefix or function name.
//
// Outbound checks make the candidate send through the trigger calls of
// SPEC.md §12 (for FLX's own node, its local API) and watch what arrives at
// the tester's own mTLS listener.
//
// Package conformance must never import node, policy or anything under them:
// it tests a node from outside, as a peer would, and may import only
// federation/... and schema of this module (node/internal/archtest enforces
// it). The composition of a candidate's node configuration is left to
// node/cmd/flx.
package conformance
