package linksim

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// echo starts a TCP server that writes back what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T, l Link) *Proxy {
	t.Helper()
	p, err := Start(echo(t), l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestDelayEachWay: a round trip through the link takes at least twice the
// one-way delay, and the bytes come back whole and in order.
func TestDelayEachWay(t *testing.T) {
	const delay = 60 * time.Millisecond
	p := start(t, Link{Delay: delay})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789"), 10000)
	began := time.Now()
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(began); rtt < 2*delay {
		t.Errorf("round trip %v, want at least %v", rtt, 2*delay)
	}
	if !bytes.Equal(got, msg) {
		t.Error("the bytes came back changed or out of order")
	}
	if p.Cuts() != 0 {
		t.Errorf("%d cuts on a link that never cuts", p.Cuts())
	}
}

// TestCutEach: a connection is cut once CutEach bytes crossed it, and a
// new connection works again.
func TestCutEach(t *testing.T) {
	p := start(t, Link{CutEach: 64 << 10})
	for round := 1; round <= 2; round++ {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		go c.Write(make([]byte, 1<<20))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.Copy(io.Discard, c)
		c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("round %d: the connection was never cut", round)
		}
		if n >= 1<<20 {
			t.Fatalf("round %d: all %d bytes came back through a link that cuts every 64 KiB", round, n)
		}
		if p.Cuts() < int64(round) {
			t.Fatalf("round %d: %d cuts counted", round, p.Cuts())
		}
	}
}

// TestConnectCostsARoundTrip: the TCP handshake, which the proxy's kernel
// completes at once on loopback, costs a round trip of the link, as it
// does over a real one: the first answer comes two round trips after
// connecting (handshake, then the bytes).
func TestConnectCostsARoundTrip(t *testing.T) {
	const delay = 40 * time.Millisecond
	p := start(t, Link{Delay: delay})
	began := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 4*delay {
		t.Errorf("connect and a first round trip in %v, want at least %v", took, 4*delay)
	}
	began = time.Now()
	c.Write([]byte("again"))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 2*delay {
		t.Errorf("a round trip in %v, want at least %v", took, 2*delay)
	}
}
