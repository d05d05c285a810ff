// Package archtest holds no production code: its tests enforce the
// architecture of the README ("Layout") across the whole module, test files
// included: the dependency direction between the top-level packages, test
// support kept out of production code, the narrower import rules single
// packages promise in their comments (deploy, the store, fedadmin, jose,
// mtls, devca), the single importer of each wrapped outside dependency, and
// a doc.go in every package saying what it must never import. Package-level
// import tests are not needed: add a rule here instead. The checks also run
// on fake trees under testdata, so that a check that stops finding
// violations fails.
//
// It must never import any FLX package: it reads the source tree as text.
package archtest
