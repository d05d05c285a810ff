// Package cputime reads the CPU time (user and system) this process, or a
// local process such as a PostgreSQL backend, has used, for the benchmarks and `flx bench` that report CPU per unit of
// work rather than wall time (machines are noisy; CPU is what a unit of
// work costs). It depends on the standard library only: it must never import an FLX package.
package cputime
