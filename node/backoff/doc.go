// Package backoff computes jittered exponential retry delays for the outbox
// (after tailscale's util/backoff and dendrite's per-destination statistics):
// delay n is a random duration in [d/2, d] where d = min(max, initial*2^n),
// so peers that come back are not hit by every node at once.
//
// It must never import other FLX packages: it is pure arithmetic on durations.
package backoff
