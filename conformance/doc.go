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
// Checks are registered with the requirement ids they cover; a test keeps
// the registry and SPEC.md's requirement index in step.
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
