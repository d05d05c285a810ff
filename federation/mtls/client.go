package mtls

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// NewTransport returns an http.Transport for requests to member expectMember,
// with [ClientConfig] as its TLS configuration. HTTP/2 is attempted; proxies
// from the environment (HTTPS_PROXY) are honoured, TLS being end to end.
func NewTransport(cert tls.Certificate, dir Directory, expectMember string, opts ...Option) *http.Transport {
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       ClientConfig(cert, dir, expectMember, opts...),
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   15 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A connection that went silent (a link dropped without a reset)
		// is found by a ping and replaced, rather than holding every
		// request in flight on it until its timeout.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second},
	}
}

// ServerHTTP2 is the HTTP/2 configuration of the federation listener
// (http.Server.HTTP2). Its receive windows are what a peer may have in
// flight towards it unacknowledged: Go's default of 1 MiB a connection
// caps a link of 600 ms round trip at about 1.7 MB/s (some 650 envelopes
// of 2.5 kB a second) however many requests the sender keeps in flight, so
// the connection window is sized for such a link at several thousand
// envelopes a second. It is memory a peer can make the listener hold only
// while its handler reads, and only an authenticated member's connection.
func ServerHTTP2() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxReceiveBufferPerConnection: ServerConnWindow,
		MaxReceiveBufferPerStream:     ServerStreamWindow,
		SendPingTimeout:               30 * time.Second,
		PingTimeout:                   15 * time.Second,
	}
}

// The federation listener's HTTP/2 receive windows (ServerHTTP2).
const (
	ServerConnWindow   = 16 << 20
	ServerStreamWindow = 4 << 20
)

// NewClient returns an http.Client for requests to member expectMember (see
// [NewTransport]). timeout bounds each request including reading the body;
// zero means none. Redirects are not followed: the federation API has none, and
// a 3xx is handed back to the caller as the response.
func NewClient(cert tls.Certificate, dir Directory, expectMember string, timeout time.Duration, opts ...Option) *http.Client {
	return &http.Client{
		Transport: NewTransport(cert, dir, expectMember, opts...),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
