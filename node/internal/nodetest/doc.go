// Package nodetest starts real nodes for tests: a node.Node on a fresh
// SQLite or PostgreSQL database, trusting a fedtest federation, with its
// federation API on a real mTLS listener on 127.0.0.1 and its local API on
// a plain listener.
//
// It is test support only: production code must never import it.
package nodetest
