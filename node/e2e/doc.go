// Package e2e holds end-to-end tests: real nodes on real mTLS listeners on
// 127.0.0.1, on both stores, exchanging cases, responses, messages and
// withdrawals, and crash tests with the real flx binary.
//
// It has no production code and must never be imported.
package e2e
