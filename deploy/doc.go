// Package deploy holds no production code: it is the home of everything a
// National Society's IT team needs to run an FLX node on the tools it
// already uses — the container image (deploy/image, built with or without a
// Docker engine), a three-member Compose federation (deploy/compose), a
// Helm chart (deploy/helm/flx), a hardened systemd unit (deploy/systemd) —
// and of the operator runbook (RUNBOOK.md). Its tests check that the
// documents only use `flx` commands of the CLI contract; node/internal/archtest
// checks that no deploy package, tests included, links node internals.
//
// Packages under deploy must never import node/store, policy or
// conformance: they package the flx binary, they do not link it. They may
// read node/config (the config file format and FLX_* variable names).
package deploy
