// Package pull is the wire of FLX pull (conformance/SPEC.md §15): how a
// member without inbound connectivity (pull_only in the manifest: behind NAT,
// on a satellite link) fetches, as an mTLS client, the envelopes queued for
// it at a peer or at its relay, and acknowledges each with its own signed
// receipt.
//
//	GET  /flx/v1/pull?max=N&wait=S   -> 200 application/json {"envelopes":[…],"lease_until":…,"more":…}
//	POST /flx/v1/pull/ack            <- application/json {"receipts":[…],"refusals":[…]}
//	                                 -> 200 application/json {"receipts":[…],"refusals":[…]}
//
// Delivery stays at least once with exactly-once processing, as for pushed
// envelopes. A pull leases the envelopes it returns until lease_until; an
// envelope is done only when a receipt for its exact bytes, signed by the
// puller, has been verified (or the puller refused it with a code that is
// not retried). A pull or an acknowledgement cut on the way loses nothing:
// the lease runs out and the same bytes are offered again, and the puller's
// replay record turns them into "duplicate" receipts instead of a second
// processing. Envelopes of one case are offered in queue order, and never
// while an earlier one of that case is leased to an earlier pull.
//
// It provides the wire types (Batch, Ack, AckResult), a Client (Pull, Ack and
// Drain, which processes batches in order and acknowledges them), and a
// Handler serving both resources over a Queue. The node implements Queue
// over its outbox; MemoryQueue is an in-memory Queue for tests and the
// reference of its semantics.
//
// Package pull must never import schema, policy, node or conformance: it
// moves signed bytes and knows nothing of cases. It must not import jwx
// either (JOSE goes through federation and federation/jose).
package pull
