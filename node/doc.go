// Package node is the FLX node's core: it receives envelopes from peers
// (verify, validate, store with a signed receipt in one transaction),
// processes its inbox exactly once per envelope (create, update from the
// origin only, response, message, withdrawal with erasure and
// confirmation), keeps the Society's own cases, runs the data-protection
// policy before anything leaves, queues signed envelopes and delivers them
// to peers over mTLS with retries, and writes every change to the
// hash-chained audit log.
//
// The HTTP surfaces live in node/httpapi and the wiring in node/cmd/flx.
// Package node must never import node/httpapi, node/cmd/... or conformance,
// and it never logs personal data: only ids, kinds and codes.
package node
