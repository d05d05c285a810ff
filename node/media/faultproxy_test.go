package media

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// cutProxy is an in-process TCP proxy that closes the connection it is
// carrying every cutEvery bytes sent by clients (counted across
// connections), like a satellite or mobile link that drops every few MiB.
// TLS runs end to end through it.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutEvery int64

	mu     sync.Mutex
	budget int64 // client bytes until the next cut
	open   map[net.Conn]bool
	// blackhole, when set, makes the next cut a silent one: the proxy stops
	// forwarding and keeps both connections open, like a link that dies
	// without a reset.
	blackhole atomic.Bool
	cuts      atomic.Int64
	bytes     atomic.Int64 // client bytes forwarded to the server
	conns     atomic.Int64
	wg        sync.WaitGroup
}

func startCutProxy(t testing.TB, target string, cutEvery int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutEvery: cutEvery, budget: cutEvery, open: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.carry(c)
	}
}

// take reserves up to n bytes of the budget; 0 means: cut now.
func (p *cutProxy) take(n int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.budget <= 0 {
		p.budget = p.cutEvery
		p.cuts.Add(1)
		return 0
	}
	n = min(n, p.budget)
	p.budget -= n
	return n
}

// track registers a connection for closing at cleanup.
func (p *cutProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.open[c] = true
	} else {
		delete(p.open, c)
	}
}

// smallBuffers keeps the bytes in flight through the proxy small, as on a
// slow link where the TCP window is what the link holds: a cut then loses
// what the receiver had not read yet, not megabytes of loopback buffers.
const proxyBuffer = 128 << 10

func (p *cutProxy) carry(c net.Conn) {
	defer p.wg.Done()
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(proxyBuffer)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(s, true)
	defer p.track(s, false)
	defer s.Close()
	s.(*net.TCPConn).SetWriteBuffer(proxyBuffer)
	done := make(chan struct{}, 2)
	go func() { // server to client: not counted
		io.Copy(c, s)
		done <- struct{}{}
	}()
	go func() { // client to server: cut when the budget runs out
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			for off := 0; off < n; {
				k := int(p.take(int64(n - off)))
				if k == 0 {
					if p.blackhole.CompareAndSwap(true, false) {
						io.Copy(io.Discard, c) // swallow until someone closes c
					}
					done <- struct{}{}
					return
				}
				p.bytes.Add(int64(k))
				if _, werr := s.Write(buf[off : off+k]); werr != nil {
					done <- struct{}{}
					return
				}
				off += k
			}
			if err != nil {
				done <- struct{}{}
				return
			}
		}
	}()
	<-done // either side ends: close both
}

// smallSendBuffer gives c's connections a send buffer of proxyBuffer, as
// the receiver's listener has a small receive buffer: on a slow link the
// sender's window is small too. A cut then loses what the link held, not
// megabytes queued in a loopback socket, each byte read from the source,
// hashed and encrypted for nothing.
func smallSendBuffer(c *http.Client) *http.Client {
	tr := c.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetWriteBuffer(proxyBuffer)
		}
		return conn, err
	}
	return c
}
