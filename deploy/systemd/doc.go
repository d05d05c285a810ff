// Package systemd holds no production code: it carries the systemd unit of
// an FLX node (flx.service, hardened: dedicated user, ProtectSystem=strict,
// no capabilities, system-call filter), its sysusers.d file and an example
// /etc/flx layout, and tests that parse the unit, check every hardening
// directive, run systemd-analyze verify and security where systemd is
// installed, and start the real binary from the runbook's layout.
//
// It must never import node/store, policy or conformance: it packages the
// binary. It reads node/config only to check the example config and the
// FLX_* variables the unit sets.
package systemd
