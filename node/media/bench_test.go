package media

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/mtls"
)

// The media size of BenchmarkTransfer. The figures in the report use 1 GiB:
//
//	go test ./node/media/ -run '^$' -bench BenchmarkTransfer -benchtime 1x -args -media.size 1073741824
var benchSize = flag.Int64("media.size", 64<<20, "media size for BenchmarkTransfer, in bytes")

// patternSource is media that is never held in memory: byte i is
// block[i mod len(block)], with a block length that is no multiple of a
// chunk so that chunks differ.
type patternSource struct {
	block []byte
	size  int64
}

func newPatternSource(size int64) *patternSource {
	return &patternSource{block: randomBytes(40, 1<<20+4093), size: size}
}

func (p *patternSource) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off < p.size {
		i := off % int64(len(p.block))
		k := copy(b[n:min(len(b), n+int(min(p.size-off, int64(len(p.block))-i)))], p.block[i:])
		n += k
		off += int64(k)
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS restarts VmHWM (Linux: clear_refs 5); peakRSS reads it.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func report(b *testing.B, bytesMoved int64, cpu time.Duration, wall time.Duration) {
	mib := float64(bytesMoved) / (1 << 20)
	b.ReportMetric(mib/wall.Seconds(), "MiB/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/mib, "cpu-ms/MiB")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTransfer moves one media of -media.size between two "nodes" in
// this process (XA-RC's Uploader, XB-RC's Server on a disk store, over
// loopback mTLS): floor is the same bytes PUT over the same mTLS to a
// handler that discards them (TLS and HTTP only); disk is the media wire
// with chunk verification, whole-hash check and fsyncs; cutting-proxy is the
// same through a link cut every 4 MiB. Peak RSS covers both sides and must
// not grow with the size: everything streams, one chunk at a time.
func BenchmarkTransfer(b *testing.B) {
	size := *benchSize
	src := newPatternSource(size)
	f := newFed(b)
	ref, hashes, err := Describe(io.NewSectionReader(src, 0, size), DefaultChunkBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("floor", func(b *testing.B) {
		dir := f.manifest.TLSDirectory()
		srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		})))
		srv.TLS = mtls.ServerConfig(f.certs["XB-RC"].TLS, dir)
		srv.StartTLS()
		defer srv.Close()
		c := f.client("XA-RC")
		resetPeakRSS()
		cpu0, t0 := cpuNow(), time.Now()
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/floor", io.NewSectionReader(src, 0, size))
			req.ContentLength = size
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		report(b, size*int64(b.N), cpuNow()-cpu0, time.Since(t0))
	})
	for _, tc := range []struct {
		name string
		cut  int64
	}{{"disk", 0}, {"disk/cutting-proxy", 4 << 20}, {"postgres", 0}} {
		cut := tc.cut
		b.Run(tc.name, func(b *testing.B) {
			var s Store
			if tc.name == "postgres" {
				if os.Getenv("FLX_TEST_POSTGRES") == "" {
					b.Skip("FLX_TEST_POSTGRES not set")
				}
				db := openPostgres(b)
				migratePostgres(b, db)
				s = NewPostgres(db)
			} else {
				d, err := OpenDisk(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				s = d
			}
			rx := f.receiver(b, s, Limits{MaxMediaBytes: size}, nil)
			ep := rx.URL
			var proxy *cutProxy
			if cut > 0 {
				proxy = startCutProxy(b, rx.Listener.Addr().String(), cut)
				ep = "https://" + proxy.addr()
			}
			up := &Uploader{Client: f.client("XA-RC"), Endpoint: ep, Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Log: quiet}
			env := f.envelope(b, "XA-RC", "XB-RC", videoMessage("XA-RC", ref))
			ctx := context.Background()
			resetPeakRSS()
			var cpu time.Duration
			var wall time.Duration
			resumes := 0
			for i := 0; i < b.N; i++ {
				cpu0, t0 := cpuNow(), time.Now()
				res, err := up.Upload(ctx, env, ref, hashes, src)
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuNow() - cpu0
				wall += time.Since(t0)
				resumes += res.Resumes
				b.StopTimer()
				if err := rx.media.Ready(ctx, "XA-RC", ref); err != nil {
					b.Fatal(err)
				}
				if err := Erase(ctx, s, ref.SHA256); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			report(b, size*int64(b.N), cpu, wall)
			if proxy != nil {
				b.ReportMetric(float64(resumes)/float64(b.N), "resumes/op")
				b.ReportMetric(float64(proxy.bytes.Load())/float64(size*int64(b.N)), "link-bytes/media-byte")
			}
		})
	}
}
