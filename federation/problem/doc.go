// Package problem is FLX's one error model: the table of stable codes (each
// with its HTTP status and title), the RFC 9457 problem document both of the
// node's APIs answer with, and Error, the one error type that carries a code
// from where a refusal is decided to where it is written.
//
// The federation API (conformance/SPEC.md §8) and the local API share the
// table: a code means the same and has the same status on both. Adding a code
// is one line in codes.go.
//
// Package problem depends on the standard library only. It must never import
// another FLX package (federation imports it, not the other way round), nor
// node, policy, schema or conformance.
package problem
