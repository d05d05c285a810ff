package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/cputime"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
)

func benchMediaCmd() *cobra.Command {
	var mib, warmMiB, cutMiB int64
	c := &cobra.Command{
		Use:   "media",
		Short: "Recorded media between nodes over mTLS: MiB/s, CPU per MiB, RSS, through a cutting proxy, against a plain mTLS floor",
		Long: `Start three nodes in this process on loopback, over mTLS, with their
embedded stores (SQLite, media on disk under a temporary data_dir): XA-RC
attaches one recording of --mib MiB to a case and sends a video message
with it to XB-RC directly, then to ICRC-CTA through a proxy that cuts every
connection after --cut-mib MiB. For each transfer it reports MiB/s (from
the send to the verified receipt), the process CPU time per MiB (sender,
receiver and, for the second, the proxy: all in this process) and the
process RSS (idle, and the peak during the transfer). A warm-up transfer of
--warm-mib MiB first shows that RSS does not grow with the media size. The
floor, measured in the same run, is the same bytes read from the sender's
blob store and written over one mTLS connection (the members' certificates)
to a file, hashed with SHA-256 and fsynced: what any verified transfer to
disk costs; the ratio is floor time / transfer time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchMedia(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), mib<<20, warmMiB<<20, cutMiB<<20)
		},
	}
	c.Flags().Int64Var(&mib, "mib", 1024, "size of the recording, MiB")
	c.Flags().Int64Var(&warmMiB, "warm-mib", 64, "size of the warm-up recording, MiB")
	c.Flags().Int64Var(&cutMiB, "cut-mib", 4, "the proxy cuts each connection after this many MiB from the sender")
	return c
}

// patternReader yields n pseudo-random bytes from seed (ChaCha8): a
// recording that need not fit in memory.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

// newPattern is a recording of n bytes (at least 148): a bare MP4 (ftyp,
// a moov with only its mvhd) whose mdat holds the pseudo-random bytes, so
// that the node, which attaches only what it can clean of metadata, takes it.
func newPattern(seed byte, n int64) io.Reader {
	var s [32]byte
	s[0] = seed
	box := func(typ string, size int64, body []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(size))
		return append(append(b, typ...), body...)
	}
	hdr := box("ftyp", 16, []byte("isom\x00\x00\x02\x00"))
	hdr = append(hdr, box("moov", 116, box("mvhd", 108, make([]byte, 100)))...)
	mdat := int64(len(hdr))
	hdr = binary.BigEndian.AppendUint64(append(hdr, box("mdat", 1, nil)...), uint64(n-mdat)) // a 64-bit size
	return io.MultiReader(bytes.NewReader(hdr), &patternReader{rng: rand.NewChaCha8(s), n: n - int64(len(hdr))})
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	k, _ := p.rng.Read(b)
	p.n -= int64(k)
	return k, nil
}

// benchProxy forwards TCP connections to target and cuts each after cut
// bytes from the client (0: never).
type benchProxy struct {
	ln   net.Listener
	cuts atomic.Int64
	wg   sync.WaitGroup
}

func newBenchProxy(addr, target string, cut int64) (*benchProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &benchProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(c, s); done <- struct{}{} }()
				go func() {
					if n, _ := io.CopyN(s, c, cut); n == cut {
						p.cuts.Add(1)
					}
					done <- struct{}{}
				}()
				<-done
			}()
		}
	}()
	return p, nil
}

func (p *benchProxy) Close() { p.ln.Close(); p.wg.Wait() }

type mediaRun struct {
	size            int64
	elapsed, cpu    time.Duration
	idleRSS, peakKB int64
}

func (r mediaRun) mibps() float64 { return float64(r.size) / (1 << 20) / r.elapsed.Seconds() }
func (r mediaRun) cpuPerMiB() time.Duration {
	return time.Duration(float64(r.cpu) / (float64(r.size) / (1 << 20)))
}

func runBenchMedia(ctx context.Context, out, progress io.Writer, size, warm, cut int64) error {
	if size < 1<<20 || warm < 1<<20 || cut < 64<<10 {
		return fmt.Errorf("bench: --mib, --warm-mib and --cut-mib must be at least 1")
	}
	dir, err := os.MkdirTemp("", "flx-bench-media-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fedDir := filepath.Join(dir, "federation")
	addrs := map[string]string{}
	members := []struct {
		id, c string
		role  federation.Role
	}{{"XA-RC", "XA", federation.RoleSociety}, {"XB-RC", "XB", federation.RoleSociety}, {"ICRC-CTA", "XC", federation.RoleCoordinator}}
	var specs []fedadmin.MemberSpec
	for _, m := range members {
		if addrs[m.id], err = freePort(); err != nil {
			return err
		}
		specs = append(specs, fedadmin.MemberSpec{ID: m.id, Country: m.c, Role: m.role, Endpoint: "https://" + addrs[m.id]})
	}
	// ICRC-CTA is reached through the cutting proxy: its manifest endpoint
	// is the proxy's address.
	ctaAddr, err := freePort()
	if err != nil {
		return err
	}
	ctaListen := ctaAddr
	if _, _, err := fedadmin.Init(fedDir, fedadmin.InitConfig{Name: "FLX bench media", Members: specs}); err != nil {
		return err
	}
	proxy, err := newBenchProxy(addrs["ICRC-CTA"], ctaListen, cut)
	if err != nil {
		return err
	}
	defer proxy.Close()
	nodes := map[string]*runningNode{}
	cfgs := map[string]config.Config{}
	defer func() {
		for _, rn := range nodes {
			rn.Stop()
			rn.Wait()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)
	for _, m := range members {
		cfg, err := config.Load(filepath.Join(fedadmin.MemberDir(fedDir, m.id), fedadmin.MemberConfigFile), func(string) (string, bool) { return "", false })
		if err != nil {
			return err
		}
		cfg.Federation.Listen = addrs[m.id]
		if m.id == "ICRC-CTA" {
			cfg.Federation.Listen = ctaListen
		}
		if cfg.LocalAPI.Listen, err = freePort(); err != nil {
			return err
		}
		cfg.Delivery.PollInterval = 20 * time.Millisecond
		cfg.Media.MaxMediaBytes = max(size, warm, cfg.Media.MaxMediaBytes)
		cfg.Media.MaxPendingBytesPerPeer = max(2*cfg.Media.MaxMediaBytes, cfg.Media.MaxPendingBytesPerPeer)
		rn, err := startNode(ctx, cfg, quiet)
		if err != nil {
			return err
		}
		nodes[m.id], cfgs[m.id] = rn, cfg
	}
	xa := nodes["XA-RC"]
	cw := node.Actor{Name: "bench", Role: "caseworker"}
	var cs map[string]any
	_ = json.Unmarshal(demoDoc("case"), &cs)
	caseID, _ := cs["case_id"].(string)
	if _, err := xa.Node.CreateCase(ctx, cw, demoDoc("case")); err != nil {
		return err
	}
	for _, to := range []string{"XB-RC", "ICRC-CTA"} {
		if _, err := xa.Node.Forward(ctx, cw, caseID, to); err != nil {
			return fmt.Errorf("bench: forward to %s: %w", to, err)
		}
	}
	blobs := xa.Node.MediaHandler().(*media.Server).Store
	fmt.Fprintf(out, "bench media: XA-RC -> XB-RC (direct) and -> ICRC-CTA (proxy cutting every %d MiB), over mTLS on loopback; three nodes in one process, SQLite, media on disk; chunks of %d KiB; %d CPUs\n",
		cut>>20, cfgs["XA-RC"].Media.ChunkBytes>>10, runtime.NumCPU())

	seq := 0
	transfer := func(seed byte, n int64, to string) (mediaRun, media.Digest, error) {
		seq++
		h := sha256.New()
		io.Copy(h, newPattern(seed, n))
		var sum media.Digest
		copy(sum[:], h.Sum(nil))
		if _, err := blobs.Stat(ctx, sum); err != nil {
			if _, err := blobs.Put(ctx, media.Expect{SHA256: sum, Size: n}, newPattern(seed, n)); err != nil {
				return mediaRun{}, sum, err
			}
		}
		if _, err := xa.Node.StartMediaUpload(ctx, cw, caseID, node.MediaUploadRequest{SHA256: sum.String(), SizeBytes: n, MediaType: "video/mp4"}); err != nil {
			return mediaRun{}, sum, err
		}
		msg := map[string]any{"schema": "flx/v1/message", "message_id": fmt.Sprintf("XA-RC:BENCH-VID-%d", seq), "case_id": caseID,
			"kind": "video_message", "channel": "video", "created_at": time.Now().UTC().Format(time.RFC3339),
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": to},
			"media": map[string]any{"sha256": sum.String(), "media_type": "video/mp4", "size_bytes": n, "duration_seconds": 60.0}}
		doc, _ := json.Marshal(msg)
		runtime.GC()
		r := mediaRun{size: n, idleRSS: rssKiB()}
		r.peakKB = r.idleRSS
		cpu0, t0 := cputime.Process(), time.Now()
		res, err := xa.Node.SendMessage(ctx, cw, caseID, to, doc)
		if err != nil {
			return r, sum, fmt.Errorf("bench: send to %s: %w", to, err)
		}
		for {
			it, err := xa.Store.GetOutbox(ctx, res.OutboxID)
			if err != nil {
				return r, sum, err
			}
			if rss := rssKiB(); rss > r.peakKB {
				r.peakKB = rss
			}
			if it.State == store.Delivered {
				break
			}
			if it.State == store.Dead || it.State == store.Cancelled {
				return r, sum, fmt.Errorf("bench: dead-lettered: %s", it.LastError)
			}
			fmt.Fprintf(progress, "\r  %s: %s %.0f s   ", to, it.State, time.Since(t0).Seconds())
			select {
			case <-ctx.Done():
				return r, sum, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		r.elapsed, r.cpu = time.Since(t0), cputime.Process()-cpu0
		fmt.Fprintln(progress)
		return r, sum, nil
	}
	report := func(what string, r mediaRun) {
		fmt.Fprintf(out, "%-34s %6d MiB in %6.2fs = %7.1f MiB/s  CPU %6.2f ms/MiB  RSS idle %d MiB, peak %d MiB\n",
			what, r.size>>20, r.elapsed.Seconds(), r.mibps(), float64(r.cpuPerMiB())/1e6, r.idleRSS/1024, r.peakKB/1024)
	}
	w, _, err := transfer(1, warm, "XB-RC")
	if err != nil {
		return err
	}
	report("warm-up -> XB-RC (direct)", w)
	d, sum, err := transfer(2, size, "XB-RC")
	if err != nil {
		return err
	}
	report("media -> XB-RC (direct)", d)
	cuts0 := proxy.cuts.Load()
	p, _, err := transfer(2, size, "ICRC-CTA")
	if err != nil {
		return err
	}
	report("media -> ICRC-CTA (cutting proxy)", p)
	fmt.Fprintf(out, "%-34s %d connections cut\n", "", proxy.cuts.Load()-cuts0)

	f, err := mtlsFloor(ctx, cfgs["XA-RC"], cfgs["XB-RC"], blobs, sum, filepath.Join(dir, "floor"))
	if err != nil {
		return err
	}
	report("floor: plain mTLS copy to disk", f)
	fmt.Fprintf(out, "\nratio (floor time / transfer time): direct %.0f%%, through the cutting proxy %.0f%%\n",
		100*f.elapsed.Seconds()/d.elapsed.Seconds(), 100*f.elapsed.Seconds()/p.elapsed.Seconds())
	fmt.Fprintf(out, "RSS growth with media size: peak %d MiB at %d MiB vs %d MiB at %d MiB\n", d.peakKB/1024, size>>20, w.peakKB/1024, warm>>20)
	return nil
}

// mtlsFloor copies blob sum from the sender's store over one TLS 1.3
// connection with client certificates (the members' own) to a file,
// hashing it with SHA-256 and fsyncing it at the end.
func mtlsFloor(ctx context.Context, from, to config.Config, blobs media.Store, sum media.Digest, path string) (mediaRun, error) {
	srvCert, err := tls.LoadX509KeyPair(to.Federation.TLSCert, to.Federation.TLSKey)
	if err != nil {
		return mediaRun{}, err
	}
	cliCert, err := tls.LoadX509KeyPair(from.Federation.TLSCert, from.Federation.TLSKey)
	if err != nil {
		return mediaRun{}, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		return mediaRun{}, err
	}
	defer ln.Close()
	b, err := blobs.Open(ctx, sum)
	if err != nil {
		return mediaRun{}, err
	}
	defer b.Close()
	r := mediaRun{size: b.Size()}
	runtime.GC()
	r.idleRSS = rssKiB()
	r.peakKB = r.idleRSS
	got := make(chan error, 1)
	cpu0, t0 := cputime.Process(), time.Now()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		f, err := os.Create(path)
		if err != nil {
			got <- err
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(f, h), c); err != nil {
			got <- err
			return
		}
		if err := f.Sync(); err != nil {
			got <- err
			return
		}
		if hex.EncodeToString(h.Sum(nil)) != sum.String() {
			got <- fmt.Errorf("bench: floor copy does not hash to %s", sum)
			return
		}
		got <- nil
	}()
	// The floor measures the cost of moving bytes over TLS, not of
	// checking a chain: the bench dials its own listener on loopback.
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cliCert}, InsecureSkipVerify: true})
	if err != nil {
		return r, err
	}
	if _, err := io.Copy(c, io.NewSectionReader(b, 0, b.Size())); err != nil {
		c.Close()
		return r, err
	}
	c.Close()
	if err := <-got; err != nil {
		return r, err
	}
	r.elapsed, r.cpu = time.Since(t0), cputime.Process()-cpu0
	if rss := rssKiB(); rss > r.peakKB {
		r.peakKB = rss
	}
	return r, nil
}
