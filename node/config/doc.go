// Package config is the node's configuration: one YAML file per node, every
// field documented with its default, overridden by FLX_* environment
// variables and then by command-line flags (the composition root applies
// flags). Verify collects every problem before failing, so an operator sees
// all mistakes at once.
//
// It must never import the node's HTTP, store or delivery packages, nor
// federation, policy or schema: it only describes settings.
package config
