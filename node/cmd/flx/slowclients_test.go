package main

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/familylinks/flx/node/config"
)

// slowOpen starts one hostile connection's conversation on c (the test
// then waits for the node to cut it off). It returns an error when the
// node already refused what it sent.
type slowOpen func(t *testing.T, c net.Conn, cert tls.Certificate) (net.Conn, error)

// silent connects and sends nothing.
func silent(_ *testing.T, c net.Conn, _ tls.Certificate) (net.Conn, error) { return c, nil }

// halfClientHello sends the first bytes of a TLS record announcing a
// ClientHello of 512 bytes, and never the rest.
func halfClientHello(_ *testing.T, c net.Conn, _ tls.Certificate) (net.Conn, error) {
	rec := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
	rec = append(rec, make([]byte, 32)...) // client random, then nothing
	_, err := c.Write(rec)
	return c, err
}

// h2Idle completes the TLS handshake with a member's certificate, the
// HTTP/2 preface and the SETTINGS exchange, then sends nothing.
func h2Idle(_ *testing.T, c net.Conn, cert tls.Certificate) (net.Conn, error) {
	tc := tls.Client(c, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil {
		return tc, err
	}
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		return tc, err
	}
	fr := http2.NewFramer(tc, tc)
	if err := fr.WriteSettings(); err != nil {
		return tc, err
	}
	tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return tc, err
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			tc.SetReadDeadline(time.Time{})
			return pingAnswerer{tc, fr}, fr.WriteSettingsAck()
		}
	}
}

// pingAnswerer is an idle HTTP/2 client connection that answers the
// node's PINGs, as a live client does (the node's pings alone would cut
// one that does not, after 45 s): only the idle timeout ends it. Each Read
// reads one frame.
type pingAnswerer struct {
	*tls.Conn
	fr *http2.Framer
}

func (p pingAnswerer) Read(b []byte) (int, error) {
	f, err := p.fr.ReadFrame()
	if err != nil {
		return 0, err
	}
	if ping, ok := f.(*http2.PingFrame); ok && !ping.IsAck() {
		if err := p.fr.WritePing(true, ping.Data); err != nil {
			return 0, err
		}
	}
	return copy(b, []byte{0}), nil
}

// slowloris sends the start of an HTTP/1.1 request's headers, then one
// byte every 300 ms, never ending them; tlsMember first completes the TLS
// handshake (federation listener) with HTTP/1.1.
func slowloris(tlsMember bool) slowOpen {
	return func(t *testing.T, c net.Conn, cert tls.Certificate) (net.Conn, error) {
		if tlsMember {
			tc := tls.Client(c, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err := tc.Handshake(); err != nil {
				return tc, err
			}
			c = tc
		}
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: node\r\nX-Slow: "); err != nil {
			return c, err
		}
		go func() {
			for {
				time.Sleep(300 * time.Millisecond)
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		return c, nil
	}
}

// TestListenersCutSlowClients: hostile slow clients on both listeners of a
// real flx serve (the federation listener, which also serves media and
// pulls; the local API, which also serves the console and /metrics): 500
// connections that send nothing, half a ClientHello, an HTTP/2 preface
// and then nothing, or headers a byte at a time. While they are open,
// honest requests on both listeners are served; every one of them is cut
// off by the configured header_timeout or idle_timeout (set here far
// below the defaults, which would let them stay 10 s or 2 min); once they
// are gone, the node's goroutines are back where they were.
func TestListenersCutSlowClients(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections to a real node: skipped with -short")
	}
	const (
		header = time.Second
		idle   = 2 * time.Second
		conns  = 500
	)
	rn, cert := serveAsPeer(t, func(c *config.Config) {
		c.Federation.HeaderTimeout, c.Federation.IdleTimeout = header, idle
		c.LocalAPI.HeaderTimeout, c.LocalAPI.IdleTimeout = header, idle
		// All of them come from one address: the connection bounds
		// (TestFederationConnectionsPerSource) are set above them here.
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource = 4*conns, 4*conns
		c.LocalAPI.MaxConnections = 4 * conns
	})
	t.Cleanup(func() { rn.Stop(); rn.Wait() })

	get := func(t *testing.T, c *http.Client, url string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("an honest request is not served: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("an honest GET %s got %d", url, resp.StatusCode)
		}
	}
	honest := func(t *testing.T) {
		t.Helper()
		fed := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
		defer fed.CloseIdleConnections()
		local := &http.Transport{}
		defer local.CloseIdleConnections()
		get(t, &http.Client{Transport: fed, Timeout: 30 * time.Second}, "https://"+rn.FedAddr+"/.well-known/flx")
		for _, p := range []string{"/healthz", "/metrics"} {
			get(t, &http.Client{Transport: local, Timeout: 30 * time.Second}, "http://"+rn.LocalAddr+p)
		}
	}
	honest(t)
	baseline := runtime.NumGoroutine()

	for _, tc := range []struct {
		name string
		addr string
		open slowOpen
		// within: how long after it opened each connection must be cut
		// off: under the default that would otherwise hold it.
		within time.Duration
	}{
		{"federation: connects and sends nothing", rn.FedAddr, silent, 9 * time.Second},
		{"federation: half a ClientHello", rn.FedAddr, halfClientHello, 9 * time.Second},
		{"federation: HTTP2 preface, then nothing", rn.FedAddr, h2Idle, 90 * time.Second},
		{"federation: HTTP1 headers a byte at a time", rn.FedAddr, slowloris(true), 9 * time.Second},
		{"local API: connects and sends nothing", rn.LocalAddr, silent, 9 * time.Second},
		{"local API: headers a byte at a time", rn.LocalAddr, slowloris(false), 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				open    []net.Conn
				late    int
				refused error
			)
			for range conns {
				raw, err := net.Dial("tcp", tc.addr)
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				opened := time.Now()
				c, err := tc.open(t, raw, cert)
				if err != nil {
					refused = err
				}
				open = append(open, c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Read until the node closes the connection.
					c.SetReadDeadline(opened.Add(tc.within))
					_, err := io.Copy(io.Discard, c)
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						mu.Lock()
						late++
						mu.Unlock()
					}
				}()
			}
			t.Cleanup(func() {
				for _, c := range open {
					c.Close()
				}
			})
			if refused != nil {
				t.Fatalf("the slow conversation could not even start: %v", refused)
			}
			// 500 of them are open (the first ones may already be cut off
			// by now): honest clients are served meanwhile.
			honest(t)
			wg.Wait()
			if late > 0 {
				t.Errorf("%d of %d connections still open %s after they opened (header_timeout %s, idle_timeout %s)", late, conns, tc.within, header, idle)
			}
			for _, c := range open {
				c.Close()
			}
			honest(t)
			var n int
			for range 200 {
				if n = runtime.NumGoroutine(); n <= baseline+20 {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Errorf("%d goroutines left after the connections went, %d before", n, baseline)
		})
	}
}
