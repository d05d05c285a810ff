package delivery

// DELIBERATE BREAKAGES FOR THE CONFORMANCE SUITE'S OWN TESTS. NEVER SET.
// See node/breakage.go: files breakage_<name>.go compiled only under the
// build tag flx_broken_<name> set these.
var (
	// brokenNoBackoff: retries are due at once, without backoff.
	brokenNoBackoff bool
	// brokenNoRetryAfter: a peer's Retry-After is ignored.
	brokenNoRetryAfter bool
)
