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
	}
}

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
