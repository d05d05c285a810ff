package connlimit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Reason is why a connection was refused: the bound it would have crossed.
type Reason string

const (
	// Total: the listener held Options.Max connections already.
	Total Reason = "total"
	// PerSource: the listener held Options.MaxPerSource connections from
	// the connection's source already.
	PerSource Reason = "per_source"
)

// Options are a Listener's bounds and what it tells of refusals.
type Options struct {
	// Max is the most connections held at once (at least 1).
	Max int
	// MaxPerSource is the most held at once from one source (see Source);
	// 0 bounds only the total.
	MaxPerSource int
	// Refused, when set, is called once for each connection refused, after
	// it was closed (to count it). It runs on the accepting goroutine and
	// must be quick.
	Refused func(Reason)
	// Log, when set, gets a warning at the first refusal and then at most
	// one every LogEvery, counting the refusals since the last one (never
	// an address: a source is personal data).
	Log *slog.Logger
	// Name names the listener in that line, e.g. "federation".
	Name string
	// LogEvery is the least time between two log lines. Default 1 minute.
	LogEvery time.Duration
}

// Listener is a net.Listener that holds at most Options.Max connections
// at once, at most Options.MaxPerSource from one source.
type Listener struct {
	net.Listener
	o Options

	mu       sync.Mutex
	open     int
	from     map[netip.Prefix]int // connections held by source; no zero entry
	pending  [2]int               // refusals not logged yet: Total, PerSource
	logged   time.Time            // last log line
	flushing bool                 // a log line is scheduled
}

// New bounds ln's connections by o.
func New(ln net.Listener, o Options) (*Listener, error) {
	if o.Max < 1 {
		return nil, fmt.Errorf("connlimit: %s listener: at most %d connections: want at least 1", o.Name, o.Max)
	}
	if o.MaxPerSource < 0 {
		return nil, fmt.Errorf("connlimit: %s listener: at most %d connections per source: want 0 (no bound) or at least 1", o.Name, o.MaxPerSource)
	}
	if o.LogEvery <= 0 {
		o.LogEvery = time.Minute
	}
	return &Listener{Listener: ln, o: o, from: map[netip.Prefix]int{}}, nil
}

// Accept returns the next connection within the bounds. Those over a bound
// are closed at once and Accept goes on to the next one.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := Source(c.RemoteAddr())
		why, ok := l.take(src)
		if ok {
			return &conn{Conn: c, l: l, src: src}, nil
		}
		c.Close()
		l.refuse(why)
	}
}

// Open returns the number of connections held now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

// Sources returns the number of sources holding connections now.
func (l *Listener) Sources() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.from)
}

// Max returns the bound in total.
func (l *Listener) Max() int { return l.o.Max }

// MaxPerSource returns the bound per source (0: none).
func (l *Listener) MaxPerSource() int { return l.o.MaxPerSource }

func (l *Listener) take(src netip.Prefix) (Reason, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.o.Max {
		return Total, false
	}
	if l.o.MaxPerSource > 0 {
		if l.from[src] >= l.o.MaxPerSource {
			return PerSource, false
		}
		l.from[src]++
	}
	l.open++
	return "", true
}

func (l *Listener) release(src netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.o.MaxPerSource > 0 {
		if n := l.from[src] - 1; n > 0 {
			l.from[src] = n
		} else {
			delete(l.from, src)
		}
	}
}

// refuse reports a refusal: to the callback at once, to the log at most
// once every LogEvery.
func (l *Listener) refuse(why Reason) {
	if l.o.Refused != nil {
		l.o.Refused(why)
	}
	if l.o.Log == nil {
		return
	}
	l.mu.Lock()
	if why == Total {
		l.pending[0]++
	} else {
		l.pending[1]++
	}
	if l.flushing {
		l.mu.Unlock()
		return
	}
	if wait := time.Until(l.logged.Add(l.o.LogEvery)); wait > 0 {
		l.flushing = true
		l.mu.Unlock()
		time.AfterFunc(wait, l.flush)
		return
	}
	l.mu.Unlock()
	l.flush()
}

// flush writes the log line of the refusals not logged yet.
func (l *Listener) flush() {
	l.mu.Lock()
	total, perSource, open := l.pending[0], l.pending[1], l.open
	l.pending = [2]int{}
	l.logged, l.flushing = time.Now(), false
	l.mu.Unlock()
	if total+perSource == 0 {
		return
	}
	l.o.Log.Warn("connections refused: the listener holds as many as it may",
		"listener", l.o.Name, "over_total", total, "over_per_source", perSource,
		"open", open, "max_connections", l.o.Max, "max_connections_per_source", l.o.MaxPerSource)
}

// Source is the source a connection from a is counted under: its IPv4
// address (an IPv4-mapped IPv6 address counts as the IPv4 one), or the /64
// of its IPv6 address. Addresses that are not IP (a Unix socket) share
// the zero Prefix.
func Source(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case nil:
		return netip.Prefix{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Prefix{}
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// conn is an accepted connection holding its slot until closed.
type conn struct {
	net.Conn
	l    *Listener
	src  netip.Prefix
	once sync.Once
}

// Close closes the connection and frees its slot (once, however many times
// it is called).
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}

// CloseWrite shuts the sending side down when the connection can (net/http
// does before closing a plain connection whose request it did not read).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// ReadFrom lets a copy into the connection use the TCP connection's own
// (sendfile, splice), as net/http's responses do on a plain listener.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
