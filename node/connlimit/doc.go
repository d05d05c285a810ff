// Package connlimit bounds the connections a listener holds at once: in
// total, and per source address (an IPv4 address; an IPv6 /64, what one
// host or site is commonly given), counted from Accept to Close. A
// connection over a bound is closed as soon as it is accepted, never
// queued: an Accept that waited for a free slot would let one client that
// holds its connections starve every other. Refusals are reported to a
// callback (a Prometheus counter in flx serve) and summed up in at most
// one log line a minute, which names no address. The bound sits under TLS
// (wrap the TCP listener, then tls.NewListener), so that a handshake that
// never ends holds a slot only until the server's handshake deadline.
//
// It must never import other FLX packages: it depends on the standard
// library only.
package connlimit
