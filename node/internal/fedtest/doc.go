// Package fedtest builds throwaway federations in memory for the node's
// tests: a trust anchor, a development CA, members with signing keys and
// TLS certificates, and a signed manifest that can be re-issued (new
// version, suspended member, rotated key).
//
// It is test support only: production code must never import it, and it
// must never import the node's store, HTTP or delivery packages.
package fedtest
