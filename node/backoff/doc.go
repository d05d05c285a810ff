// Package backoff is delivery's one backoff formula (after tailscale's
// util/backoff): delay n is a random duration in [d/2, d] where
// d = min(max, initial*2^n), so peers that come back are not hit by every
// node at once, and Wait raises it to a peer's Retry-After, up to max. Both
// an envelope's next attempt and a destination's rest (node/delivery) use
// Policy.Wait.
//
// It must never import other FLX packages: it is pure arithmetic on durations.
package backoff
