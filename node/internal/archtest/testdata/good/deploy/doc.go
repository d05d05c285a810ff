// Package deploy is a package of the fake tree.
// It must never import node.
package deploy
