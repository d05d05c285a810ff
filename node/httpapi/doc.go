// Package httpapi is the node's HTTP surface, and the only importer of
// gorilla/mux: the federation API (mTLS listener: /.well-known/flx and
// /flx/v1/envelopes), the local API for caseworkers, operators and
// auditors (bearer tokens with roles), health, readiness and Prometheus
// metrics. Every error is an RFC 9457 problem document with a stable code
// from the one code table (federation/problem).
//
// It reads through the node's read-only store view (node.View) and changes
// data only through the node's operations: it must never import node/store
// for writes (archtest checks it never names the store's writing side),
// nor node/cmd/..., conformance or policy internals.
package httpapi
