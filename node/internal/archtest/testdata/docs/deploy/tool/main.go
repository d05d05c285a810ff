// Command tool has no doc.go.
package main
