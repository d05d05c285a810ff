// Package node is the FLX node's core: it receives envelopes from peers
// (verify, validate, store with a signed receipt in one transaction),
// processes its inbox exactly once per envelope (create, update from the
// origin only, response, message, withdrawal with erasure and
// confirmation), keeps the Society's own cases, runs the data-protection
// policy before anything leaves, queues signed envelopes, and writes every
// change to the hash-chained audit log.
//
// One envelope's way out: an operation (Forward, Respond, SendMessage,
// Withdraw, a withdrawal's confirmation) signs it with federation.Sign and
// queues it in the same transaction as its decision and audit (enqueue);
// node/delivery claims it and sends it with federation.Client, which
// verifies the receipt; renewExpiring re-signs one that nears its exp
// (federation.Renew) just before its attempt. The way in: Receive verifies
// with federation.Verifier and stores; the inbox processor reads the stored
// claims with federation.ClaimsOf. The node never splits or decodes a JWS
// itself. Rules of the domain live here, not in the store: what delivering
// a kind records (deliveryRecords), what a withdrawal keeps pending.
//
// Errors are problem.Error (federation/problem): one code table for both
// APIs. The HTTP surfaces live in node/httpapi (which reads through View
// and changes data only through the node's operations) and the wiring in
// node/cmd/flx. Package node must never import node/httpapi, node/cmd/...
// or conformance, holds no test-only hook (tests decorate the store it is
// given; conformance/variant builds broken variants from the sources), and
// never logs personal data: only ids, kinds and codes.
package node
