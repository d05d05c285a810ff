package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/familylinks/flx/node/httpapi"
)

// h2Peer is a member's authenticated HTTP/2 connection to the federation
// listener, written frame by frame: a hostile member holds a valid
// certificate and key and may send anything the framing allows.
type h2Peer struct {
	conn *tls.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	sent int64 // bytes written
	next uint32
}

func dialH2(t *testing.T, addr string, cert tls.Certificate) *h2Peer {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("negotiated %q, want h2", c.ConnectionState().NegotiatedProtocol)
	}
	p := &h2Peer{conn: c, next: 1}
	p.fr = http2.NewFramer(countingWriter{c, &p.sent}, c)
	p.fr.SetMaxReadFrameSize(1 << 20)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(1<<20, nil)
	p.fr.MaxHeaderListSize = 1 << 20
	p.enc = hpack.NewEncoder(&p.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return p
}

type countingWriter struct {
	w io.Writer
	n *int64
}

func (cw countingWriter) Write(b []byte) (int, error) {
	n, err := cw.w.Write(b)
	*cw.n += int64(n)
	return n, err
}

// block encodes a request's header block, with extra fields appended.
func (p *h2Peer) block(method, path string, extra ...hpack.HeaderField) []byte {
	p.hbuf.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "node"}, {Name: ":path", Value: path},
		{Name: "content-type", Value: "application/jose"},
	}, extra...) {
		p.enc.WriteField(f)
	}
	return append([]byte(nil), p.hbuf.Bytes()...)
}

// stream returns the next client stream id.
func (p *h2Peer) stream() uint32 {
	id := p.next
	p.next += 2
	return id
}

// drain reads frames until the connection ends or deadline passes,
// answering nothing; it reports whether the server closed the connection
// (GOAWAY or EOF) and counts RST_STREAM frames and response HEADERS.
type drained struct {
	closed, goaway bool
	resets, heads  int
	statuses       []string
}

func (p *h2Peer) drain(d time.Duration) drained {
	var out drained
	p.conn.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return out
			}
			out.closed = true
			return out
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			out.goaway = true
		case *http2.RSTStreamFrame:
			out.resets++
		case *http2.MetaHeadersFrame:
			out.heads++
			out.statuses = append(out.statuses, f.PseudoValue("status"))
		}
	}
}

// h2Target is a running node's federation listener, the member
// certificate to reach it with, and checks of its state.
type h2Target struct {
	addr     string
	cert     tls.Certificate
	served   func(t *testing.T) // another request is answered 200
	settled  func(t *testing.T, what string)
	baseline int // goroutines before the attacks
}

func startH2Target(t *testing.T) h2Target {
	rn, cert := serveAsPeer(t)
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	addr := rn.FedAddr

	served := func(t *testing.T) {
		t.Helper()
		tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/.well-known/flx")
		if err != nil {
			t.Fatalf("another peer is not served: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("another peer got %d", resp.StatusCode)
		}
	}
	served(t)
	baseline := runtime.NumGoroutine()
	settled := func(t *testing.T, what string) {
		t.Helper()
		var n int
		for range 100 {
			if n = runtime.NumGoroutine(); n <= baseline+20 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("%s: %d goroutines left, %d before", what, n, baseline)
	}

	return h2Target{addr: addr, cert: cert, served: served, settled: settled, baseline: baseline}
}

// TestFederationListenerHTTP2Abuse: a member with a valid certificate
// abuses HTTP/2 framing on the federation listener of a real node (flx
// serve's own http.Server and limits). Each attack must end with the
// abusive connection refused or closed, the node's goroutines back near
// where they were, and another peer served.
func TestFederationListenerHTTP2Abuse(t *testing.T) {
	h := startH2Target(t)
	addr, cert, served, settled, baseline := h.addr, h.cert, h.served, h.settled, h.baseline
	t.Run("rapid reset", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		const pairs = 5000
		var werr error
		for i := 0; i < pairs && werr == nil; i++ {
			id := p.stream()
			if werr = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.block("POST", "/flx/v1/envelopes"), EndHeaders: true}); werr == nil {
				werr = p.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
		}
		d := p.drain(2 * time.Second)
		t.Logf("rapid reset: %d KiB written, write error %v, server closed %v (GOAWAY %v)", p.sent>>10, werr, d.closed, d.goaway)
		p.conn.Close()
		served(t)
		settled(t, "rapid reset")
	})

	t.Run("CONTINUATION flood", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		// What this side writes is what the server read plus what the two
		// kernels buffer: a send buffer left to grow (tcp_wmem's maximum,
		// 4 MiB on Linux's defaults) once let 4192 KiB be written before
		// the reset on a loaded machine. A fixed small send buffer keeps
		// the count close to what the server read.
		if tc, ok := p.conn.NetConn().(*net.TCPConn); ok {
			if err := tc.SetWriteBuffer(64 << 10); err != nil {
				t.Fatal(err)
			}
		}
		id := p.stream()
		if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.block("POST", "/flx/v1/envelopes")}); err != nil {
			t.Fatal(err)
		}
		// Continuations of distinct literal fields, 16 KiB each, without
		// END_HEADERS: 64 MiB unless the server stops reading.
		var werr error
		p.hbuf.Reset()
		p.enc.WriteField(hpack.HeaderField{Name: "x-junk", Value: strings.Repeat("j", 1000), Sensitive: true})
		chunk := bytes.Repeat(p.hbuf.Bytes(), 16)
		p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for p.sent < 64<<20 && werr == nil {
			werr = p.fr.WriteContinuation(id, false, chunk)
		}
		d := p.drain(2 * time.Second)
		t.Logf("CONTINUATION flood: %d KiB written before %v; server closed %v", p.sent>>10, werr, d.closed)
		if werr == nil {
			t.Errorf("the server read 64 MiB of one header block")
		}
		if p.sent > 4<<20 {
			t.Errorf("the server read %d KiB of one header block (MaxHeaderBytes 64 KiB)", p.sent>>10)
		}
		p.conn.Close()
		served(t)
		settled(t, "CONTINUATION flood")
	})

	t.Run("huge header list", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		id := p.stream()
		var extra []hpack.HeaderField
		for i := range 256 {
			extra = append(extra, hpack.HeaderField{Name: "x-h" + strconv.Itoa(i), Value: strings.Repeat("v", 1000), Sensitive: true})
		}
		blk := p.block("POST", "/flx/v1/envelopes", extra...)
		first, rest := blk[:16<<10], blk[16<<10:]
		werr := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: true})
		for werr == nil && len(rest) > 0 {
			n := min(len(rest), 16<<10)
			werr = p.fr.WriteContinuation(id, n == len(rest), rest[:n])
			rest = rest[n:]
		}
		d := p.drain(3 * time.Second)
		t.Logf("huge header list (%d KiB): statuses %v, resets %d, closed %v, write error %v", len(blk)>>10, d.statuses, d.resets, d.closed, werr)
		for _, s := range d.statuses {
			if s != "431" {
				t.Errorf("a 256 KiB header list was answered %s, want 431 or a refused stream", s)
			}
		}
		p.conn.Close()
		served(t)
	})

	t.Run("too many concurrent streams", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		// Streams whose request body never comes: each holds a handler
		// until its read timeout.
		const streams = 2000
		var werr error
		for i := 0; i < streams && werr == nil; i++ {
			werr = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: p.stream(), BlockFragment: p.block("POST", "/flx/v1/envelopes"), EndHeaders: true})
		}
		d := p.drain(time.Second)
		open := runtime.NumGoroutine() - baseline
		t.Logf("%d streams opened: %d reset, server closed %v, %d goroutines more than before", streams, d.resets, d.closed, open)
		if open > 2*250+100 {
			t.Errorf("%d open streams on one connection hold %d goroutines: more than the concurrent stream limit", streams, open)
		}
		served(t)
		p.conn.Close()
		settled(t, "open streams")
	})

	t.Run("PING flood, answers never read", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		p.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		// Frames written in bulk: the server, not the writer, sets the pace.
		bw := bufio.NewWriterSize(countingWriter{p.conn, &p.sent}, 64<<10)
		fr := http2.NewFramer(bw, p.conn)
		var werr error
		var data [8]byte
		for i := 0; i < 2_000_000 && werr == nil; i++ {
			if werr = fr.WritePing(false, data); werr == nil && i%1000 == 999 {
				werr = bw.Flush()
			}
		}
		t.Logf("PING flood: %d KiB written before %v", p.sent>>10, werr)
		if werr == nil {
			t.Errorf("the server took 2,000,000 PINGs whose answers were never read")
		}
		p.conn.Close()
		served(t)
		settled(t, "PING flood")
	})

	t.Run("SETTINGS flood, answers never read", func(t *testing.T) {
		p := dialH2(t, addr, cert)
		p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		var werr error
		for i := 0; i < 2_000_000 && werr == nil; i++ {
			werr = p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(i % 65536)})
		}
		t.Logf("SETTINGS flood: %d KiB written before %v", p.sent>>10, werr)
		if werr == nil {
			t.Errorf("the server took 2,000,000 SETTINGS whose answers were never read")
		}
		p.conn.Close()
		served(t)
		settled(t, "SETTINGS flood")
	})
}

// TestFederationListenerStalledStreamsPerMember: one member opens 16
// HTTP/2 connections of 250 streams each whose bodies never come. Without
// a per-member bound each holds a handler (about 16 KiB) until the read
// timeout: 4,000 goroutines and 64 MiB, more with every connection. With
// it (FLX-LIM-005) about 256 are held and the rest answered 429 at once.
func TestFederationListenerStalledStreamsPerMember(t *testing.T) {
	h := startH2Target(t)
	addr, cert, served, settled, baseline := h.addr, h.cert, h.served, h.settled, h.baseline
	// Each stalled stream holds a handler until the read timeout; one
	// member's connections together are bounded (FLX-LIM-005): past
	// the bound a stream is answered 429 at once.
	const conns = 16
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var ps []*h2Peer
	for range conns {
		p := dialH2(t, addr, cert)
		ps = append(ps, p)
		for range 250 {
			p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: p.stream(), BlockFragment: p.block("POST", "/flx/v1/envelopes"), EndHeaders: true})
		}
	}
	statuses := map[string]int{}
	for _, p := range ps {
		for _, s := range p.drain(100 * time.Millisecond).statuses {
			statuses[s]++
		}
	}
	time.Sleep(time.Second)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	open := runtime.NumGoroutine() - baseline
	grew := (int64(ms1.HeapInuse) - int64(ms0.HeapInuse)) + (int64(ms1.StackInuse) - int64(ms0.StackInuse))
	t.Logf("%d connections x 250 stalled streams: answers %v, %d goroutines more, heap and stacks +%d KiB", conns, statuses, open, grew>>10)
	if open > httpapi.DefaultMaxInFlight+150 {
		t.Errorf("one member's %d stalled streams hold %d goroutines, want about %d (the per-member bound)", conns*250, open, httpapi.DefaultMaxInFlight)
	}
	if grew > 40<<20 { // 64 MiB without the bound (+16 MiB of it under -race)
		t.Errorf("one member's %d stalled streams hold %d MiB", conns*250, grew>>20)
	}
	if statuses["429"] == 0 {
		t.Errorf("no stream past the bound was answered 429 (answers %v)", statuses)
	}
	// The slots free as the member's streams end (this node's only
	// peer is the member itself).
	for _, p := range ps {
		p.conn.Close()
	}
	settled(t, "many connections")
	served(t)
}
