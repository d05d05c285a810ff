// Package httpapi is the node's HTTP surface, and the only importer of
// gorilla/mux: the federation API (mTLS listener: /.well-known/flx and
// /flx/v1/envelopes), the local API for caseworkers, operators and
// auditors (bearer tokens with roles), health, readiness and Prometheus
// metrics. Every error is an RFC 9457 problem document with a stable code.
//
// It must never import node/store directly for writes (it calls package
// node), node/cmd/..., conformance or policy internals.
package httpapi
