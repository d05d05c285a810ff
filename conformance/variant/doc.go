// Package variant builds deliberately broken variants of a Go program from
// its own sources, for tests only: the conformance suite's teeth tests (a
// node that breaks one requirement must fail the check of that requirement)
// and the crash tests (a node that exits at the worst moment).
//
// A Variant is a name and small source Mutations: in a file, an exact old
// text (found exactly once, inside a function) and its replacement. Build
// compiles ONE binary that holds every variant: for each function a
// mutation touches it adds a copy with the mutation applied, under a new
// name, and makes the original call that copy when the process runs with
// the environment variable Env set to the variant's name. The mutated files
// are handed to the go command as a build overlay, so the module itself is
// never written and the release binary, built from the real sources, holds
// no hook at all (Scan checks a binary for the leftovers). Without Env, the
// variant binary behaves like the release one.
//
// A mutation whose old text no longer matches fails the build loudly, with
// the file and the text: the variants are kept in step with the code they
// break.
//
// Package variant depends on the standard library only (it knows Go
// source, not FLX): it must never import an FLX package, and only tests may
// import it (node/internal/archtest enforces both).
package variant
