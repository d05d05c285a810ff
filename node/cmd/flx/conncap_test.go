package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/connlimit"
)

// Sources of the attack tests: Linux routes all of 127/8 to the loopback
// interface, so a client bound to 127.0.0.2 reaches the node's 127.0.0.1
// from another address.
const (
	hostile = "127.0.0.1"
	peerB   = "127.0.0.2"
	peerC   = "127.0.0.3"
)

// dialerFrom dials from the source address src.
func dialerFrom(src string) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
}

// memberTLS is the client configuration of a member presenting cert.
func memberTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}}
}

// handshake opens a connection from src to addr and completes the mTLS
// handshake as a member; the caller closes it. Once it returns, the node
// has accepted the connection and holds it.
func handshake(src, addr string, cert tls.Certificate) (*tls.Conn, error) {
	raw, err := dialerFrom(src).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, memberTLS(cert))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// held opens a connection from src to addr that completes the mTLS
// handshake, the HTTP/2 preface and SETTINGS, then sends nothing: the node
// keeps it until idle_timeout (or 45 s of unanswered pings). Once it
// returns, the node has accepted the connection and holds it.
func held(src, addr string, cert tls.Certificate) (net.Conn, error) {
	raw, err := dialerFrom(src).Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := h2Idle(nil, raw, cert)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// memberGet makes one mTLS request from src to the node's federation
// listener, on a connection of its own, and returns its error (nil: 200).
func memberGet(src, addr string, cert tls.Certificate) error {
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: memberTLS(cert), DialContext: dialerFrom(src).DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("https://" + addr + "/.well-known/flx")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// scrape returns the value of the sample of the node's /metrics whose
// line starts with series (name{labels} as the exposition writes them).
func scrape(t *testing.T, rn *runningNode, series string) float64 {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("http://" + rn.LocalAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", series)
	return 0
}

// counted waits until the sample series of /metrics is want (a refusal is
// counted just after the connection is closed, which the client may see
// first), and fails the test if it does not get there.
func counted(t *testing.T, rn *runningNode, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, rn, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %g, want %g", series, got, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// emptied waits until the listener holds no connection (the server closes
// its side of a connection the client closed once it reads the EOF).
func emptied(t *testing.T, l *connlimit.Listener, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.Open() != 0 || l.Sources() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the listener still holds %d connections from %d sources", what, l.Open(), l.Sources())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holds waits until the listener holds n connections.
func holds(t *testing.T, l *connlimit.Listener, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the listener holds %d connections, want %d", l.Open(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closeAll[C io.Closer](cs []C) {
	for _, c := range cs {
		c.Close()
	}
}

// TestFederationConnectionsPerSource: one source that opens more
// connections than federation.max_connections_per_source, through a real
// flx serve's federation listener, has those beyond it closed at once
// (the handshake of the next one fails), counted by reason; meanwhile a
// peer at another address completes mTLS requests; and once the hostile
// source's connections close it is served again.
func TestFederationConnectionsPerSource(t *testing.T) {
	const perSource = 8
	rn, cert := serveAsPeer(t, func(c *config.Config) {
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource = 4*perSource, perSource
	})
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	var open []net.Conn
	t.Cleanup(func() { closeAll(open) })
	for range perSource {
		c, err := held(hostile, rn.FedAddr, cert)
		if err != nil {
			t.Fatalf("connection %d of %d from one source: %v", len(open)+1, perSource, err)
		}
		open = append(open, c)
	}
	if c, err := handshake(hostile, rn.FedAddr, cert); err == nil {
		c.Close()
		t.Fatalf("connection %d from one source completed its handshake (max_connections_per_source %d)", perSource+1, perSource)
	}
	if err := memberGet(hostile, rn.FedAddr, cert); err == nil {
		t.Fatal("a request from the source at its bound was served")
	}
	if err := memberGet(peerB, rn.FedAddr, cert); err != nil {
		t.Fatalf("a peer at another address is not served while one source holds its bound: %v", err)
	}
	counted(t, rn, `flx_connections_refused_total{listener="federation",reason="per_source"}`, 2)
	counted(t, rn, `flx_connections_refused_total{listener="federation",reason="total"}`, 0)
	if n := scrape(t, rn, `flx_connections_open{listener="federation"}`); n < perSource {
		t.Errorf("flx_connections_open: %g while %d are held", n, perSource)
	}
	closeAll(open)
	emptied(t, rn.fedConns, "the connections closed")
	if err := memberGet(hostile, rn.FedAddr, cert); err != nil {
		t.Fatalf("the source is not served once its connections closed: %v", err)
	}
}

// TestFederationConnectionsTotal: sources each within their bound that
// together hold federation.max_connections leave a third source refused
// (reason total), until some of their connections close.
func TestFederationConnectionsTotal(t *testing.T) {
	const total, perSource = 12, 8
	rn, cert := serveAsPeer(t, func(c *config.Config) {
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource = total, perSource
	})
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	var a, b []net.Conn
	t.Cleanup(func() { closeAll(a); closeAll(b) })
	for i := range total {
		src, into := hostile, &a
		if i >= perSource {
			src, into = peerB, &b
		}
		c, err := held(src, rn.FedAddr, cert)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, total, err)
		}
		*into = append(*into, c)
	}
	if c, err := handshake(peerC, rn.FedAddr, cert); err == nil {
		c.Close()
		t.Fatalf("a third source completed a handshake while %d connections are held (max_connections %d)", total, total)
	}
	counted(t, rn, `flx_connections_refused_total{listener="federation",reason="total"}`, 1)
	closeAll(a[:4])
	holds(t, rn.fedConns, total-4)
	if err := memberGet(peerC, rn.FedAddr, cert); err != nil {
		t.Fatalf("a third source is not served once connections closed: %v", err)
	}
	closeAll(a)
	closeAll(b)
	emptied(t, rn.fedConns, "every connection closed")
}

// TestFederationConnectionSlotsComeBack: four sources open and close
// connections over and over, concurrently, in every way a client can (a
// handshake, half a ClientHello or nothing, then a close; a whole mTLS
// request; a close before any byte; beyond the bounds, refused): once
// they are done the listener holds nothing and tracks no source, and
// each source is served. Run it with -race.
func TestFederationConnectionSlotsComeBack(t *testing.T) {
	const perSource, rounds = 4, 20
	rn, cert := serveAsPeer(t, func(c *config.Config) {
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource = 3*perSource, perSource
	})
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	sources := []string{hostile, peerB, peerC, "127.0.0.4"}
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				// perSource+2 held at once: two beyond the bound each
				// round, and the sources together beyond the total.
				var open []io.Closer
				for j := range perSource + 2 {
					switch (i + j) % 3 {
					case 0:
						if c, err := handshake(src, rn.FedAddr, cert); err == nil {
							open = append(open, c)
						}
					case 1:
						if c, err := dialerFrom(src).Dial("tcp", rn.FedAddr); err == nil {
							halfClientHello(t, c, cert)
							open = append(open, c)
						}
					case 2:
						if c, err := dialerFrom(src).Dial("tcp", rn.FedAddr); err == nil {
							open = append(open, c)
						}
					}
				}
				memberGet(src, rn.FedAddr, cert) // refused, unless a slot came back
				if c, err := dialerFrom(src).Dial("tcp", rn.FedAddr); err == nil {
					c.Close()
				}
				closeAll(open)
			}
		}()
	}
	wg.Wait()
	emptied(t, rn.fedConns, "after the rounds")
	for _, src := range sources {
		if err := memberGet(src, rn.FedAddr, cert); err != nil {
			t.Errorf("%s is not served after the rounds: %v", src, err)
		}
	}
	emptied(t, rn.fedConns, "after the last requests")
	refused := scrape(t, rn, `flx_connections_refused_total{listener="federation",reason="per_source"}`) +
		scrape(t, rn, `flx_connections_refused_total{listener="federation",reason="total"}`)
	t.Logf("%d rounds from %d sources: %g connections refused", rounds, len(sources), refused)
	if refused == 0 {
		t.Errorf("no connection was refused: the rounds never reached a bound, and test nothing")
	}
	if n := scrape(t, rn, `flx_connections_open{listener="federation"}`); n != 0 {
		t.Errorf("flx_connections_open{listener=\"federation\"} %g after every connection closed", n)
	}
}

// TestFederationHalfHandshakesFreeTheirSlots: connections that send half a
// ClientHello and then nothing hold their source's slots (the next one is
// refused), and only until federation.header_timeout: the node closes
// each of them then, its slot comes back, and the source is served.
func TestFederationHalfHandshakesFreeTheirSlots(t *testing.T) {
	const perSource = 4
	const header = time.Second
	rn, cert := serveAsPeer(t, func(c *config.Config) {
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource = 4*perSource, perSource
		c.Federation.HeaderTimeout = header
	})
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	var half []net.Conn
	t.Cleanup(func() { closeAll(half) })
	opened := time.Now()
	for range perSource {
		c, err := dialerFrom(hostile).Dial("tcp", rn.FedAddr)
		if err != nil {
			t.Fatal(err)
		}
		half = append(half, c)
		if _, err := halfClientHello(t, c, cert); err != nil {
			t.Fatal(err)
		}
	}
	holds(t, rn.fedConns, perSource)
	if c, err := handshake(hostile, rn.FedAddr, cert); err == nil {
		c.Close()
		t.Fatalf("a handshake from a source holding %d half handshakes completed (max_connections_per_source %d)", perSource, perSource)
	}
	// Each half handshake is closed by the node: its read ends (EOF or
	// reset), well before a 9 s deadline (header_timeout is 1 s).
	var wg sync.WaitGroup
	late := make(chan time.Duration, perSource)
	for _, c := range half {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(opened.Add(9 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				late <- time.Since(opened)
			}
		}()
	}
	wg.Wait()
	close(late)
	for d := range late {
		t.Errorf("a half handshake still open %s after it opened (header_timeout %s)", d.Round(time.Millisecond), header)
	}
	emptied(t, rn.fedConns, "the half handshakes cut off")
	if err := memberGet(hostile, rn.FedAddr, cert); err != nil {
		t.Fatalf("the source is not served once its half handshakes were cut off: %v", err)
	}
}

// TestLocalAPIConnectionsTotal: the local API holds at most
// local_api.max_connections; one more is closed at once (counted with
// listener local_api), and served again once connections close.
func TestLocalAPIConnectionsTotal(t *testing.T) {
	const total = 4
	// Connections that send nothing are held until header_timeout: its
	// longest, so that they are still held when the next one comes.
	rn, _ := serveAsPeer(t, func(c *config.Config) { c.LocalAPI.MaxConnections, c.LocalAPI.HeaderTimeout = total, 30*time.Second })
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	healthz := func() error {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get("http://" + rn.LocalAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if err := healthz(); err != nil {
		t.Fatal(err)
	}
	emptied(t, rn.localConns, "before")
	var open []net.Conn
	t.Cleanup(func() { closeAll(open) })
	for range total {
		c, err := net.Dial("tcp", rn.LocalAddr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	holds(t, rn.localConns, total)
	if err := healthz(); err == nil {
		t.Fatalf("GET /healthz was served while %d connections are held (local_api.max_connections %d)", total, total)
	}
	closeAll(open)
	emptied(t, rn.localConns, "the connections closed")
	if err := healthz(); err != nil {
		t.Fatalf("not served once the connections closed: %v", err)
	}
	counted(t, rn, `flx_connections_refused_total{listener="local_api",reason="total"}`, 1)
	if n := scrape(t, rn, `flx_connections_max{listener="local_api"}`); n != total {
		t.Errorf("flx_connections_max{listener=\"local_api\"} %g, want %d", n, total)
	}
}

// TestConnectionBoundDefaults: max_connections 0 is a quarter of the
// open-file limit, at most the listener's ceiling; a number is itself.
func TestConnectionBoundDefaults(t *testing.T) {
	for _, tc := range []struct{ configured, ceiling, files, want int }{
		{0, 4096, 65536, 4096},
		{0, 4096, 1024, 256},
		{0, 1024, 20000, 1024},
		{0, 4096, 0, 4096}, // limit unknown
		{0, 4096, 2, 1},
		{10, 4096, 1024, 10},
		{9000, 4096, 1024, 9000}, // what the operator set, even above (serve warns)
	} {
		if got := connectionBound(tc.configured, tc.ceiling, tc.files); got != tc.want {
			t.Errorf("connectionBound(%d, %d, %d) = %d, want %d", tc.configured, tc.ceiling, tc.files, got, tc.want)
		}
	}
	if files := connlimit.FileLimit(); files > 0 {
		t.Logf("open-file limit here %d: federation %d, local API %d", files,
			connectionBound(0, federationConnections, files), connectionBound(0, localAPIConnections, files))
	}
}
