// Package runtest is test support for the deploy tests that play a
// deployment without its platform: it finds the module root, builds the
// real flx binary, picks free loopback ports, runs `flx federation init`,
// and starts, watches and stops an flx process the way a container engine,
// the kubelet or systemd would (SIGTERM, then a grace period).
//
// It is for tests only. Like the rest of deploy it drives the flx binary
// from outside: it must never import node internals (node/store, the node's
// HTTP packages, policy) or conformance, nor any other FLX package but
// conformance/variant (test support of the standard library only), whose
// Release builds the one flx binary the test processes of a tree share.
package runtest
