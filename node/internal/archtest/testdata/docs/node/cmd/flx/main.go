// The flx binary.
package main
