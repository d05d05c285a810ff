package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// linkSpec is a simulated long link for flx bench exchange --link: a delay
// each way, and optionally a cut of every connection after so many bytes.
type linkSpec struct {
	delay   time.Duration // one way
	cutEach int64         // bytes (both directions) after which a connection is cut; 0: never
}

// parseLink reads "300ms" or "300ms,cut=5MiB" (units B, KiB, MiB).
func parseLink(s string) (linkSpec, error) {
	var l linkSpec
	if s == "" {
		return l, nil
	}
	parts := strings.Split(s, ",")
	d, err := time.ParseDuration(strings.TrimSpace(parts[0]))
	if err != nil || d < 0 {
		return l, fmt.Errorf("--link: %q: want a one-way delay such as 300ms, then optionally ,cut=5MiB", s)
	}
	l.delay = d
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(strings.TrimSpace(p), "cut=")
		if !ok {
			return l, fmt.Errorf("--link: unknown %q", p)
		}
		mult := int64(1)
		for suf, m := range map[string]int64{"MiB": 1 << 20, "KiB": 1 << 10, "B": 1} {
			if t, ok := strings.CutSuffix(v, suf); ok {
				v, mult = t, m
				break
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return l, fmt.Errorf("--link: cut=%q: want a size such as 5MiB", v)
		}
		l.cutEach = n * mult
	}
	return l, nil
}

func (l linkSpec) String() string {
	s := fmt.Sprintf("%s each way (%s round trip)", l.delay, 2*l.delay)
	if l.cutEach > 0 {
		s += fmt.Sprintf(", every connection cut after %d KiB", l.cutEach>>10)
	}
	return s
}

// linkProxy forwards TCP connections to target through the simulated link:
// every chunk is delivered delay after it was read (order kept, bandwidth
// not limited), and a connection is closed once cutEach bytes crossed it.
type linkProxy struct {
	ln     net.Listener
	target string
	spec   linkSpec
	cuts   atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startLinkProxy(target string, spec linkSpec) (*linkProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &linkProxy{ln: ln, target: target, spec: spec, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *linkProxy) Addr() string { return p.ln.Addr().String() }

func (p *linkProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *linkProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *linkProxy) accept() {
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

func (p *linkProxy) serve(c net.Conn) {
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
		if p.spec.cutEach > 0 && crossed.Load() >= p.spec.cutEach {
			p.cuts.Add(1)
			c.Close()
			u.Close()
		}
	}
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		type chunk struct {
			b   []byte
			due time.Time
		}
		q := make(chan chunk, 1024)
		go func() {
			defer close(q)
			for {
				buf := make([]byte, 32<<10)
				n, err := src.Read(buf)
				if n > 0 {
					q <- chunk{buf[:n], time.Now().Add(p.spec.delay)}
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
	go pipe(u, c)
	go pipe(c, u)
	<-done
	<-done
}
