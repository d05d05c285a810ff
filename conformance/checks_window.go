package conformance

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"time"

	"github.com/familylinks/flx/federation/mtls"
)

// minConnWindow is the least a node should let a peer have in flight on
// one HTTP/2 connection (FLX-BAT-007): 8 MiB carries some 5,000 envelopes
// of 2.5 kB a second over a 600 ms round trip. Go's default, 1 MiB, caps
// such a link at about 650 a second however many requests are in flight.
const minConnWindow = 8 << 20

// checkReceiveWindow checks FLX-BAT-007: the candidate's federation
// listener speaks HTTP/2 and opens its connection-level receive window to
// at least minConnWindow (the SETTINGS and WINDOW_UPDATE it sends first).
func checkReceiveWindow(t *T) {
	cfg := mtls.ClientConfig(t.id.Certs[certTester], t.dir, t.candidate)
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", t.target.Host, cfg)
	if err != nil {
		t.Abortf("TLS handshake with the candidate offering h2: %v", err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("the federation listener does not speak HTTP/2 (ALPN %q)", p)
	}
	// The client preface and an empty SETTINGS frame.
	if _, err := conn.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)); err != nil {
		t.Abortf("writing the HTTP/2 preface: %v", err)
	}
	w, err := readConnWindow(conn, time.Now().Add(5*time.Second))
	if err != nil {
		t.Abortf("reading the candidate's first HTTP/2 frames: %v", err)
	}
	if w < minConnWindow {
		t.Errorf("the connection's receive window is %d bytes, want at least %d (a long link is capped at window / round trip)", w, minConnWindow)
		return
	}
	t.Logf("connection receive window %d bytes", w)
}

// readConnWindow reads a server's first HTTP/2 frames and returns its
// connection-level receive window: 65,535 plus the WINDOW_UPDATEs of
// stream 0 that come with or right after its SETTINGS.
func readConnWindow(conn net.Conn, deadline time.Time) (int64, error) {
	window := int64(65535)
	settings := false
	for {
		if settings {
			// The window update follows the SETTINGS at once if there
			// is one: a short wait after them, not the whole deadline.
			if soon := time.Now().Add(500 * time.Millisecond); soon.Before(deadline) {
				deadline = soon
			}
		}
		_ = conn.SetReadDeadline(deadline)
		var h [9]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && settings {
				return window, nil
			}
			return 0, err
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		typ, flags, stream := h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff
		payload := make([]byte, n)
		if _, err := io.ReadFull(conn, payload); err != nil {
			return 0, err
		}
		switch {
		case typ == 0x4 && flags&0x1 == 0: // SETTINGS, not an ack
			settings = true
		case typ == 0x8 && stream == 0 && n == 4: // WINDOW_UPDATE of the connection
			window += int64(binary.BigEndian.Uint32(payload) & 0x7fffffff)
		}
	}
}
