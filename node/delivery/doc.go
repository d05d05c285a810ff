// Package delivery is the node's outbound pipeline: one loop per destination
// that claims due envelopes from the outbox, sends each through the
// federation wire client, and records the answer (delivered with its
// receipt, retried later, or dead-lettered), so that a destination that is
// down holds up no other.
//
// What it knows of a destination between attempts is one value, a
// Destination (consecutive failures and the time before which nothing is
// sent to it, after Dendrite's federationapi/statistics), and every wait
// comes from one formula, backoff.Policy.Wait: the wait before an envelope's
// next attempt and a destination's pause both honour the peer's Retry-After
// within the backoff maximum.
//
// It takes its dependencies as small interfaces: Outbox (the store's outbox
// role), Sender (federation.Client) and Observer (the node's metrics), so it
// is tested with a fake outbox and an httptest peer. It must never import
// package node, node/httpapi, node/cmd/..., policy or conformance, and it
// never decodes an envelope itself (federation does); it logs ids, kinds and
// codes only.
package delivery
