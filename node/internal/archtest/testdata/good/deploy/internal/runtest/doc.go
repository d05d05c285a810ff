// Package runtest is a package of the fake tree.
// It must never import node.
package runtest
