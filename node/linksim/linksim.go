package linksim

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Link is a simulated link: a delay each way, and optionally a cut of every
// connection after so many bytes.
type Link struct {
	Delay   time.Duration // one way
	CutEach int64         // bytes (both directions) after which a connection is cut; 0: never
}

// Proxy forwards TCP connections to a target through the simulated link:
// every chunk is delivered Delay after it was read (order kept, bandwidth
// not limited), and a connection is closed once CutEach bytes crossed it.
// The TCP handshake, which the client's kernel completes with the proxy at
// once, costs the round trip it costs over the link: what the client sends
// first goes on no sooner than 2 × Delay after it connected.
type Proxy struct {
	ln     net.Listener
	target string
	spec   Link
	cuts   atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

// Start listens on a loopback port and forwards what it accepts to target
// through link.
func Start(target string, spec Link) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, spec: spec, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cuts is how many connections the proxy cut so far.
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) serve(c net.Conn) {
	connected := time.Now().Add(2 * p.spec.Delay) // SYN, SYN-ACK: then the client's bytes go
	defer c.Close()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	p.track(c, true)
	p.track(u, true)
	defer p.track(c, false)
	defer p.track(u, false)
	var crossed atomic.Int64
	done := make(chan struct{}, 2)
	cut := func() {
		if p.spec.CutEach > 0 && crossed.Load() >= p.spec.CutEach {
			p.cuts.Add(1)
			c.Close()
			u.Close()
		}
	}
	pipe := func(dst, src net.Conn, from time.Time) {
		defer func() { done <- struct{}{} }()
		type chunk struct {
			b   []byte
			due time.Time
		}
		q := make(chan chunk, 1024)
		go func() {
			defer close(q)
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					q <- chunk{bytes.Clone(buf[:n]), maxTime(time.Now(), from).Add(p.spec.Delay)}
				}
				if err != nil {
					return
				}
			}
		}()
		for ch := range q {
			time.Sleep(time.Until(ch.due))
			if _, err := dst.Write(ch.b); err != nil {
				src.Close()
				for range q { // drain: the reader ends on the closed source
				}
				return
			}
			crossed.Add(int64(len(ch.b)))
			cut()
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	go pipe(u, c, connected)
	go pipe(c, u, time.Time{})
	<-done
	<-done
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
