// Package linksim simulates a long, failing network link in-process: a TCP
// proxy that delays every byte by a fixed time each way and cuts each
// connection after so many bytes, so that flx bench exchange --link and
// delivery's fault tests measure and exercise a satellite link on loopback.
// It depends on the standard library only: it must never import an FLX
// package.
package linksim
