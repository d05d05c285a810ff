// Package archtest holds no production code: its tests enforce the
// architecture of DESIGN.md across the whole module — the dependency
// direction between the top-level packages, the single importer of each
// wrapped outside dependency, and a package comment in every package.
//
// It must never import any FLX package: it reads the source tree as text.
package archtest
