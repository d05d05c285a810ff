// Package helm holds no production code: it carries the flx Helm chart
// (deploy/helm/flx) and tests that render it with Helm's own Go engine
// (chart loader, values schema, engine.Render, helm lint) and strictly
// decode every rendered object into the Kubernetes API types, checking
// probes, security contexts, resources, the PodDisruptionBudget and the
// refusal to share SQLite between replicas.
//
// It must never import node/store, policy or conformance: it packages the
// binary. It reads node/config only to parse the rendered config.yaml the
// way the node will.
package helm
