// Command tool is a command of the fake tree.
// It must never import node.
package main
