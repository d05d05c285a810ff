// Package compose holds no production code: it carries compose.yaml, a
// three-member demo federation (XA-RC, XB-RC, ICRC-CTA, each with its own
// PostgreSQL, and a one-shot `flx federation init`), and tests that load it
// with the Compose specification's own loader (compose-go, with schema
// validation, so unknown keys fail) and check the hardening and wiring.
//
// It must never import node/store, policy or conformance: it packages the
// binary. It reads node/config only to check FLX_* variable names.
package compose
