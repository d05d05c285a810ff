package connlimit

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSource(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 5}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 7}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::1"), Port: 8}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 8}, "2001:db8:1:3::/64"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8, Zone: "eth0"}, "fe80::/64"},
		{&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 9}, "198.51.100.1/32"},
		{&net.UnixAddr{Name: "/run/flx.sock", Net: "unix"}, "invalid Prefix"},
		{nil, "invalid Prefix"},
	} {
		if got := Source(tc.addr).String(); got != tc.want {
			t.Errorf("Source(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestNewRefusesNoBound(t *testing.T) {
	for _, o := range []Options{{Max: 0}, {Max: -1}, {Max: 10, MaxPerSource: -1}} {
		if _, err := New(nil, o); err == nil {
			t.Errorf("New accepted %+v", o)
		}
	}
}

// server is a bounded listener on 127.0.0.1 whose accepted connections
// get the byte 'k' and are held until the test closes them.
type server struct {
	l        *Listener
	mu       sync.Mutex
	accepted []net.Conn
	refused  [2]atomic.Int64 // Total, PerSource
}

func serve(t *testing.T, o Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	o.Refused = func(r Reason) {
		if r == Total {
			s.refused[0].Add(1)
		} else {
			s.refused[1].Add(1)
		}
	}
	if s.l, err = New(ln, o); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := s.l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("k"))
			s.mu.Lock()
			s.accepted = append(s.accepted, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.l.Close()
		<-done
		s.closeAccepted()
	})
	return s
}

func (s *server) closeAccepted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.accepted {
		c.Close()
		c.Close() // a second Close frees nothing more
	}
	s.accepted = nil
}

// dial connects from src and reports whether the server accepted the
// connection (it reads 'k') or closed it at once (EOF or reset).
func dial(t *testing.T, s *server, src string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", s.l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	if n == 1 && b[0] == 'k' {
		return c, true
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("from %s: neither accepted nor closed in 20 s", src)
	}
	return c, false
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBounds: on real sockets, the third connection from one source is
// closed at once (per source 2), as is one from a third source once two
// sources hold the total (4); each counted by its reason; a closed
// connection's slot comes back.
func TestBounds(t *testing.T) {
	s := serve(t, Options{Max: 4, MaxPerSource: 2})
	for i := range 2 {
		if _, ok := dial(t, s, "127.0.0.1"); !ok {
			t.Fatalf("connection %d from 127.0.0.1 refused", i+1)
		}
	}
	if _, ok := dial(t, s, "127.0.0.1"); ok {
		t.Fatal("a third connection from 127.0.0.1 was accepted (2 per source)")
	}
	for i := range 2 {
		if _, ok := dial(t, s, "127.0.0.2"); !ok {
			t.Fatalf("connection %d from 127.0.0.2 refused while 127.0.0.1 was at its bound", i+1)
		}
	}
	if _, ok := dial(t, s, "127.0.0.3"); ok {
		t.Fatal("a connection from 127.0.0.3 was accepted while 4 are held (total 4)")
	}
	waitFor(t, "counted", func() bool { return s.refused[0].Load() == 1 && s.refused[1].Load() == 1 })
	if s.l.Open() != 4 || s.l.Sources() != 2 {
		t.Fatalf("holds %d connections from %d sources, want 4 from 2", s.l.Open(), s.l.Sources())
	}
	s.mu.Lock()
	s.accepted[0].Close()
	s.mu.Unlock()
	waitFor(t, "freed", func() bool { return s.l.Open() == 3 })
	if _, ok := dial(t, s, "127.0.0.3"); !ok {
		t.Fatal("127.0.0.3 refused once a slot came back")
	}
}

// TestNoLeak: many clients from several sources connect, concurrently,
// and close, beyond the bounds; the server closes what it accepted, some
// connections twice. In the end the listener holds nothing and tracks no
// source. Run it with -race.
func TestNoLeak(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	l, err := New(ln, Options{Max: 12, MaxPerSource: 4, Refused: func(Reason) { refused.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				// Read until the client closes, then close (twice).
				io.Copy(io.Discard, c)
				c.Close()
				c.Close()
			}()
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}[g%4]
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
			for i := range 100 {
				var cs []net.Conn
				for range 1 + i%6 {
					if c, err := d.Dial("tcp", l.Addr().String()); err == nil {
						cs = append(cs, c)
					}
				}
				for _, c := range cs {
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "empty", func() bool { return l.Open() == 0 && l.Sources() == 0 })
	t.Logf("%d connections refused", refused.Load())
	if refused.Load() == 0 {
		t.Error("no connection was refused: the test never reached a bound")
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// TestRefusalsLogged: a stream of refusals gives a log line at the first
// and then at most one per LogEvery, which together count every refusal
// and name no address.
func TestRefusalsLogged(t *testing.T) {
	var buf syncBuffer
	const every = 500 * time.Millisecond
	s := serve(t, Options{Max: 1, Name: "test", LogEvery: every, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if _, ok := dial(t, s, "127.0.0.1"); !ok {
		t.Fatal("the first connection was refused")
	}
	const n = 60
	start := time.Now()
	for range n {
		if _, ok := dial(t, s, "127.0.0.2"); ok {
			t.Fatal("accepted over the bound")
		}
	}
	waitFor(t, "counted", func() bool { return s.refused[0].Load() == n })
	elapsed := time.Since(start)
	// The last line comes at most every after the last refusal.
	time.Sleep(every + 200*time.Millisecond)
	waitFor(t, "logged", func() bool { s.l.mu.Lock(); defer s.l.mu.Unlock(); return !s.l.flushing })
	lines := buf.lines()
	total := 0
	for _, l := range lines {
		if strings.Contains(l, "127.0.0") {
			t.Errorf("a log line names an address: %s", l)
		}
		i := strings.Index(l, "over_total=")
		if i < 0 || !strings.Contains(l, "listener=test") {
			t.Fatalf("log line %q", l)
		}
		var k int
		for _, ch := range l[i+len("over_total="):] {
			if ch < '0' || ch > '9' {
				break
			}
			k = k*10 + int(ch-'0')
		}
		total += k
	}
	t.Logf("%d refusals in %s: %d log lines", n, elapsed.Round(time.Millisecond), len(lines))
	if total != n {
		t.Errorf("the log lines count %d refusals, want %d:\n%s", total, n, strings.Join(lines, "\n"))
	}
	if most := 2 + int(elapsed/every); len(lines) > most {
		t.Errorf("%d log lines for %d refusals in %s, want at most %d (one per %s)", len(lines), n, elapsed, most, every)
	}
}
