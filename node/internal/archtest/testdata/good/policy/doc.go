// Package policy is a package of the fake tree.
// It must never import node.
package policy
