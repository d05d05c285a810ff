// Package e2e holds end-to-end tests: real nodes on real mTLS listeners on
// 127.0.0.1, on both stores, exchanging cases, responses, messages and
// withdrawals, and crash tests with the real flx binary.
//
// It has no production code; nothing imports it, and it must never import
// conformance (the conformance suite proves nodes from outside on its own).
package e2e
