package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
)

// TestTransferComplete sends media with the Uploader over mTLS, on both
// stores, and checks the receiver's view before and after.
func TestTransferComplete(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 10, 5*MinChunkBytes+999, MinChunkBytes)
	env := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref))
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		rx := f.receiver(t, s, Limits{}, nil)
		ctx := context.Background()
		if err := rx.media.Ready(ctx, "XA-RC", m.ref); federation.CodeOf(err) != CodeMediaIncomplete {
			t.Fatalf("Ready before upload = %v, want media_incomplete", err)
		}
		// The sender reads the media from its own store, as the node does.
		sender, err := OpenDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sender.Put(ctx, expectOf(m.data), bytes.NewReader(m.data)); err != nil {
			t.Fatal(err)
		}
		blob, err := sender.Open(ctx, m.ref.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		defer blob.Close()
		up := &Uploader{Client: f.client("XA-RC"), Endpoint: rx.URL, RequestBytes: 2 * MinChunkBytes, Log: quiet}
		res, err := up.Upload(ctx, env, m.ref, m.hashes, blob)
		if err != nil {
			t.Fatal(err)
		}
		if res.Offset != m.ref.Size || res.SentBytes != m.ref.Size || res.Resumes != 0 {
			t.Fatalf("result %+v", res)
		}
		if err := rx.media.Ready(ctx, "XA-RC", m.ref); err != nil {
			t.Fatalf("Ready after upload = %v", err)
		}
		if got := readBlob(t, reopen(), m.ref.SHA256); !bytes.Equal(got, m.data) {
			t.Fatal("received media differs")
		}
		// A second offer (a sender that lost track) finds it complete and
		// sends nothing more.
		res2, err := up.Upload(ctx, f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref)), m.ref, m.hashes, bytes.NewReader(m.data))
		if err != nil || res2.SentBytes != 0 || res2.Offset != m.ref.Size {
			t.Fatalf("second upload: %+v, %v", res2, err)
		}
		// Erasure: gone, and the next offer starts from zero.
		if err := Erase(ctx, s, m.ref.SHA256); err != nil {
			t.Fatal(err)
		}
		if err := rx.media.Ready(ctx, "XA-RC", m.ref); federation.CodeOf(err) != CodeMediaIncomplete {
			t.Fatalf("Ready after erasure = %v", err)
		}
		if r := rx.offer(t, f.client("XA-RC"), env, m.hashes); r.status != http.StatusCreated || r.header.Get(HeaderOffset) != "0" {
			t.Fatalf("offer after erasure: %d offset %s", r.status, r.header.Get(HeaderOffset))
		}
	})
}

// TestTransferAttacks: each hostile request is refused with its code, and
// the upload it aimed at is unchanged.
func TestTransferAttacks(t *testing.T) {
	f := newFed(t)
	const chunk = MinChunkBytes
	m := newMedia(t, 11, 4*chunk+10, chunk)
	other := newMedia(t, 12, 2*chunk, chunk)
	envXA := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref))
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		rx := f.receiver(t, s, Limits{MaxMediaBytes: 8 * chunk, MaxOfferBytes: 64 << 10, MaxUploadsPerPeer: 2}, nil)
		xa, xc := f.client("XA-RC"), f.client("XC-RC")
		r := rx.offer(t, xa, envXA, m.hashes)
		if r.status != http.StatusCreated {
			t.Fatalf("offer: %d %s", r.status, r.body)
		}
		loc := r.header.Get("Location")
		if _, err := ParseDigest(strings.TrimPrefix(loc, UploadsPath+"/")); err != nil {
			t.Fatalf("Location %q", loc)
		}
		if r := rx.patch(t, xa, loc, 0, m.data[:chunk]); r.status != http.StatusNoContent || r.header.Get(HeaderOffset) != itoa(chunk) {
			t.Fatalf("first chunk: %d %s", r.status, r.body)
		}
		offsetIs := func(t *testing.T, want int64) {
			t.Helper()
			h := do(t, xa, http.MethodHead, rx.URL+loc, nil, nil)
			if h.status != http.StatusOK || h.header.Get(HeaderOffset) != itoa(want) || h.header.Get(HeaderLength) != itoa(m.ref.Size) {
				t.Fatalf("HEAD: %d offset %q length %q, want offset %d", h.status, h.header.Get(HeaderOffset), h.header.Get(HeaderLength), want)
			}
		}
		flipped := append([]byte(nil), m.data[chunk:2*chunk]...)
		flipped[100] ^= 1
		bigOffer := offerJSON(envXA, m.hashes)
		bigOffer = append(bigOffer[:len(bigOffer)-1], []byte(`,"pad":"`+strings.Repeat("x", 64<<10)+`"}`)...)
		hugeRef := m.ref
		hugeRef.Size, hugeRef.ChunksRoot = 9*chunk, HashList(make([]Digest, 9)).Root()
		envToXC := f.envelope(t, "XA-RC", "XC-RC", videoMessage("XA-RC", m.ref))
		var msg map[string]any
		json.Unmarshal(videoMessage("XA-RC", m.ref), &msg)
		delete(msg["media"].(map[string]any), "chunk_bytes")
		delete(msg["media"].(map[string]any), "chunks_sha256")
		refOnly, _ := json.Marshal(msg)
		tests := []struct {
			name   string
			do     func(t *testing.T) reply
			status int
			code   string
		}{
			{"wrong hash: a chunk with one bit flipped", func(t *testing.T) reply { return rx.patch(t, xa, loc, chunk, flipped) }, 422, "media_mismatch"},
			{"wrong hash: another media's chunk", func(t *testing.T) reply { return rx.patch(t, xa, loc, chunk, other.data[:chunk]) }, 422, "media_mismatch"},
			{"wrong size: hash list one entry short", func(t *testing.T) reply { return rx.offer(t, xa, envXA, m.hashes[:len(m.hashes)-1]) }, 422, "media_mismatch"},
			{"wrong size: hash list of other media", func(t *testing.T) reply { return rx.offer(t, xa, envXA, other.hashes) }, 422, "media_mismatch"},
			{"wrong size: body past Upload-Length", func(t *testing.T) reply {
				return rx.patch(t, xa, loc, chunk, append(append([]byte(nil), m.data[chunk:]...), 0))
			}, 413, "too_large"},
			{"oversized media for this node", func(t *testing.T) reply {
				return rx.offer(t, xa, f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", hugeRef)), make(HashList, 9))
			}, 413, "too_large"},
			{"oversized offer body", func(t *testing.T) reply {
				return do(t, xa, http.MethodPost, rx.URL+UploadsPath, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(bigOffer))
			}, 413, "too_large"},
			{"chunk replay at an earlier offset", func(t *testing.T) reply { return rx.patch(t, xa, loc, 0, m.data[:chunk]) }, 409, "offset_mismatch"},
			{"chunk ahead of the offset", func(t *testing.T) reply { return rx.patch(t, xa, loc, 2*chunk, m.data[2*chunk:3*chunk]) }, 409, "offset_mismatch"},
			{"unaligned offset", func(t *testing.T) reply { return rx.patch(t, xa, loc, chunk+1, m.data[chunk+1:2*chunk+1]) }, 409, "offset_mismatch"},
			{"another member PATCHes the upload", func(t *testing.T) reply { return rx.patch(t, xc, loc, chunk, m.data[chunk:2*chunk]) }, 404, "not_found"},
			{"another member HEADs the upload", func(t *testing.T) reply { return do(t, xc, http.MethodHead, rx.URL+loc, nil, nil) }, 404, ""},
			{"another member offers the sender's envelope", func(t *testing.T) reply { return rx.offer(t, xc, envXA, m.hashes) }, 403, "sender_mismatch"},
			{"envelope addressed to another member", func(t *testing.T) reply { return rx.offer(t, xa, envToXC, m.hashes) }, 400, "wrong_audience"},
			{"envelope with a broken signature", func(t *testing.T) reply {
				bad := append([]byte(nil), envXA...)
				i := len(bad) - 5 // inside the signature, not its last character
				if bad[i] == 'A' {
					bad[i] = 'B'
				} else {
					bad[i] = 'A'
				}
				return rx.offer(t, xa, bad, m.hashes)
			}, 400, "bad_signature"},
			{"message without attached media", func(t *testing.T) reply {
				return rx.offer(t, xa, f.envelope(t, "XA-RC", "XB-RC", refOnly), m.hashes)
			}, 400, "bad_upload"},
			{"schema-invalid message", func(t *testing.T) reply {
				bad := strings.Replace(string(videoMessage("XA-RC", m.ref)), `"video/mp4"`, `"video"`, 1)
				return rx.offer(t, xa, f.envelope(t, "XA-RC", "XB-RC", json.RawMessage(bad)), m.hashes)
			}, 422, "schema_invalid"},
			{"offer with an unknown member", func(t *testing.T) reply {
				b := offerJSON(envXA, m.hashes)
				b = append(b[:len(b)-1], []byte(`,"uri":"file:///etc/passwd"}`)...)
				return do(t, xa, http.MethodPost, rx.URL+UploadsPath, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(b))
			}, 400, "bad_upload"},
			{"offer with a duplicated member", func(t *testing.T) reply {
				b := offerJSON(envXA, other.hashes)
				b = append(b[:len(b)-1], []byte(`,"chunk_hashes":"`+string(offerJSON(nil, m.hashes)[30:40])+`"}`)...)
				return do(t, xa, http.MethodPost, rx.URL+UploadsPath, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(b))
			}, 400, "bad_upload"},
			{"offer as text/plain", func(t *testing.T) reply {
				return do(t, xa, http.MethodPost, rx.URL+UploadsPath, map[string]string{"Content-Type": "text/plain"}, bytes.NewReader(offerJSON(envXA, m.hashes)))
			}, 400, "bad_upload"},
			{"PATCH as application/octet-stream", func(t *testing.T) reply {
				return do(t, xa, http.MethodPatch, rx.URL+loc, map[string]string{"Content-Type": "application/octet-stream", HeaderOffset: itoa(chunk)}, bytes.NewReader(m.data[chunk:2*chunk]))
			}, 400, "bad_upload"},
			{"Upload-Offset with a sign", func(t *testing.T) reply {
				return do(t, xa, http.MethodPatch, rx.URL+loc, map[string]string{"Content-Type": ContentTypeChunks, HeaderOffset: "+65536"}, bytes.NewReader(m.data[chunk:2*chunk]))
			}, 400, "bad_upload"},
			{"GET of an upload (no fetch of another's bytes)", func(t *testing.T) reply { return do(t, xa, http.MethodGet, rx.URL+loc, nil, nil) }, 405, "method_not_allowed"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.do(t)
				if r.status != tc.status || r.code != tc.code {
					t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code, r.body, tc.status, tc.code)
				}
				offsetIs(t, chunk)
			})
		}
		t.Run("path tricks", func(t *testing.T) {
			id := strings.TrimPrefix(loc, UploadsPath+"/")
			for _, p := range []string{
				UploadsPath + "/" + strings.ToUpper(id), UploadsPath + "/" + id + "/", UploadsPath + "/" + id + "/x",
				UploadsPath + "/../uploads/" + id, UploadsPath + "/%2e%2e/uploads/" + id, UploadsPath + "/" + id + "%00",
				UploadsPath + "/" + id[:63], UploadsPath + "/" + id + "0", "/flx/v1/media/uploads%2f" + id, "/" + UploadsPath + "/" + id,
				UploadsPath + "/..%2f..%2f..%2fetc%2fpasswd", UploadsPath + "/" + strings.Repeat("../", 8) + "etc/passwd",
			} {
				r := do(t, xa, http.MethodPatch, rx.URL+p, map[string]string{"Content-Type": ContentTypeChunks, HeaderOffset: itoa(chunk)}, bytes.NewReader(m.data[chunk:2*chunk]))
				if r.status != http.StatusNotFound || r.code != "not_found" {
					t.Errorf("PATCH %s: %d %q, want 404 not_found", p, r.status, r.code)
				}
			}
			offsetIs(t, chunk)
			if d, ok := s.(*Disk); ok {
				// Every file the store holds is named by a digest.
				filepath.WalkDir(d.root, func(p string, e os.DirEntry, err error) error {
					if err != nil || e.IsDir() {
						return nil
					}
					name, _, _ := strings.Cut(filepath.Base(p), ".")
					if _, perr := ParseDigest(name); perr != nil {
						t.Errorf("file %s is not named by a digest", p)
					}
					return nil
				})
			}
		})
		t.Run("quota per peer", func(t *testing.T) {
			env2 := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", other.ref))
			if r := rx.offer(t, xa, env2, other.hashes); r.status != http.StatusCreated {
				t.Fatalf("second upload: %d %s", r.status, r.body)
			}
			third := newMedia(t, 13, chunk, chunk)
			r := rx.offer(t, xa, f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", third.ref)), third.hashes)
			if r.status != http.StatusTooManyRequests || r.code != "media_quota_exceeded" || r.header.Get("Retry-After") == "" {
				t.Fatalf("third upload: %d %q Retry-After %q", r.status, r.code, r.header.Get("Retry-After"))
			}
			// Another member's quota is its own.
			envXC := f.envelope(t, "XC-RC", "XB-RC", videoMessage("XC-RC", third.ref))
			if r := rx.offer(t, xc, envXC, third.hashes); r.status != http.StatusCreated {
				t.Fatalf("XC-RC's upload: %d %s", r.status, r.body)
			}
		})
		t.Run("same media from another member starts from zero", func(t *testing.T) {
			// XA-RC completes; XC-RC offers the same bytes and learns nothing
			// of XA-RC's upload, and is not Ready until it sends them all.
			if r := rx.patch(t, xa, loc, chunk, m.data[chunk:]); r.status != http.StatusNoContent || r.header.Get(HeaderOffset) != itoa(m.ref.Size) {
				t.Fatalf("rest of XA-RC's media: %d %s", r.status, r.body)
			}
			if err := rx.media.Ready(context.Background(), "XA-RC", m.ref); err != nil {
				t.Fatal(err)
			}
			envXC := f.envelope(t, "XC-RC", "XB-RC", videoMessage("XC-RC", m.ref))
			r := rx.offer(t, xc, envXC, m.hashes)
			if r.status != http.StatusCreated || r.header.Get(HeaderOffset) != "0" {
				t.Fatalf("XC-RC's offer of the same media: %d offset %q", r.status, r.header.Get(HeaderOffset))
			}
			if err := rx.media.Ready(context.Background(), "XC-RC", m.ref); federation.CodeOf(err) != CodeMediaIncomplete {
				t.Fatalf("XC-RC Ready without sending = %v", err)
			}
			if r.header.Get("Location") == loc {
				t.Fatal("two members share one upload")
			}
		})
	})
}

// TestTransferWholeHashMismatch: an origin whose chunk list and sha256
// disagree gets its upload refused at the end, and nothing is stored.
func TestTransferWholeHashMismatch(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 14, 3*MinChunkBytes, MinChunkBytes)
	lie := m.ref
	lie.SHA256 = Sum([]byte("something else"))
	env := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", lie))
	s, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := f.receiver(t, s, Limits{}, nil)
	up := &Uploader{Client: f.client("XA-RC"), Endpoint: rx.URL, Log: quiet}
	_, err = up.Upload(context.Background(), env, lie, m.hashes, bytes.NewReader(m.data))
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeMediaMismatch {
		t.Fatalf("upload = %v, want media_mismatch", err)
	}
	if _, err := s.Stat(context.Background(), lie.SHA256); !errors.Is(err, ErrNotFound) {
		t.Fatal("a blob was stored under the signed sha256")
	}
	if _, err := s.Stat(context.Background(), m.ref.SHA256); !errors.Is(err, ErrNotFound) {
		t.Fatal("a blob was stored under the real sha256")
	}
}

// TestUploaderRefusesLocalCorruption: the sender checks its own bytes.
func TestUploaderRefusesLocalCorruption(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 15, 3*MinChunkBytes, MinChunkBytes)
	s, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := f.receiver(t, s, Limits{}, nil)
	corrupt := append([]byte(nil), m.data...)
	corrupt[2*MinChunkBytes+7] ^= 0x80
	up := &Uploader{Client: f.client("XA-RC"), Endpoint: rx.URL, Log: quiet}
	res, err := up.Upload(context.Background(), f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref)), m.ref, m.hashes, bytes.NewReader(corrupt))
	if !errors.Is(err, ErrLocalMismatch) {
		t.Fatalf("upload of corrupt local media = %v", err)
	}
	if res.SentBytes > 2*MinChunkBytes {
		t.Fatalf("sent %d bytes: the corrupt chunk left the node", res.SentBytes)
	}
}

// TestTransferThroughCuttingProxy: a link that drops every 3 MiB still
// delivers all the media, every byte verified, resuming from what arrived.
// The media is more than 10 cuts long (the client bytes through the proxy
// are at least the media's), with requests of several cuts.
func TestTransferThroughCuttingProxy(t *testing.T) {
	f := newFed(t)
	const size, cutEvery = 30 << 20, 3 << 20
	m := newMedia(t, 16, size+12345, 256<<10)
	env := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref))
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		rx := f.receiver(t, s, Limits{SyncBytes: 1 << 20}, nil)
		proxy := startCutProxy(t, rx.Listener.Addr().String(), cutEvery)
		up := &Uploader{
			Client: smallSendBuffer(f.client("XA-RC")), Endpoint: "https://" + proxy.addr(), RequestBytes: 16 << 20,
			Backoff: func(int) time.Duration { return 50 * time.Millisecond }, MaxStalls: 5, Log: quiet,
		}
		res, err := up.Upload(context.Background(), env, m.ref, m.hashes, bytes.NewReader(m.data))
		if err != nil {
			t.Fatalf("upload through the proxy: %v (%+v)", err, res)
		}
		cuts, wire := proxy.cuts.Load(), proxy.bytes.Load()
		t.Logf("%d bytes: %d cuts, %d connections, %d requests, %d resumes; %d bytes read from the source, %d bytes over the link (%.3f×)",
			m.ref.Size, cuts, proxy.conns.Load(), res.Requests, res.Resumes, res.SentBytes, wire, float64(wire)/float64(m.ref.Size))
		if cuts < 10 || res.Resumes < 5 {
			t.Fatalf("only %d cuts and %d resumes: the proxy did not test resumption", cuts, res.Resumes)
		}
		// Resumed from what arrived, not from zero: each cut costs what was
		// in flight on the link (the receiver's buffer, a partial chunk),
		// the requests' overhead, and at worst one more chunk when the
		// resumed request overtakes the receiver still storing the cut
		// one's last bytes (409 offset_mismatch); never what the receiver
		// had verified.
		// Under load the resumed request may find up to two chunks still
		// being stored (the sender resumes at once after a cut).
		perCut := int64(3*m.ref.ChunkBytes + 2*proxyBuffer + 64<<10)
		if lost := wire - m.ref.Size; lost > cuts*perCut+m.ref.Size/50 {
			t.Fatalf("%d bytes over the link for %d: %d lost over %d cuts, more than %d a cut", wire, m.ref.Size, lost, cuts, perCut)
		}
		if err := rx.media.Ready(context.Background(), "XA-RC", m.ref); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, reopen(), m.ref.SHA256); !bytes.Equal(got, m.data) {
			t.Fatal("received media differs")
		}
	})
}

// TestTransferSilentLinkDeath: a link that stops carrying bytes without a
// reset. The sender abandons the stalled request and resumes; the receiver
// stops waiting for the chunk and keeps what it verified.
func TestTransferSilentLinkDeath(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 17, 6<<20, 256<<10)
	s, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := f.receiver(t, s, Limits{ChunkTimeout: 300 * time.Millisecond}, nil)
	proxy := startCutProxy(t, rx.Listener.Addr().String(), 2<<20)
	proxy.blackhole.Store(true)
	up := &Uploader{
		Client: f.client("XA-RC"), Endpoint: "https://" + proxy.addr(), StallTimeout: 400 * time.Millisecond,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Log: quiet,
	}
	res, err := up.Upload(context.Background(), f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref)), m.ref, m.hashes, bytes.NewReader(m.data))
	if err != nil {
		t.Fatalf("upload: %v (%+v)", err, res)
	}
	if res.Resumes < 1 || proxy.cuts.Load() < 1 {
		t.Fatalf("no stall happened: %+v", res)
	}
	if !bytes.Equal(readBlob(t, s, m.ref.SHA256), m.data) {
		t.Fatal("received media differs")
	}
}

// TestUploaderBandwidthCap: the cap holds (the transfer cannot be faster
// than the rate allows), and the media still arrives whole.
func TestUploaderBandwidthCap(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 18, 3<<20, MinChunkBytes)
	s, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := f.receiver(t, s, Limits{}, nil)
	const rate = 2 << 20 // bytes per second
	up := &Uploader{Client: f.client("XA-RC"), Endpoint: rx.URL, Limiter: NewLimiter(rate), Log: quiet}
	start := time.Now()
	if _, err := up.Upload(context.Background(), f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref)), m.ref, m.hashes, bytes.NewReader(m.data)); err != nil {
		t.Fatal(err)
	}
	// At 2 MiB/s, 3 MiB (less the limiter's initial burst) take at least ~1.4 s.
	if min := time.Duration(float64(m.ref.Size-paceBytes) / rate * 0.9 * float64(time.Second)); time.Since(start) < min {
		t.Fatalf("3 MiB sent in %v under a 2 MiB/s cap", time.Since(start))
	}
	if !bytes.Equal(readBlob(t, s, m.ref.SHA256), m.data) {
		t.Fatal("received media differs")
	}
	if up.requestBytes(m.ref) > 2*60*rate {
		t.Fatalf("requests of %d bytes at %d B/s", up.requestBytes(m.ref), rate)
	}
}

// TestOfferAfterBlobDeleted: an upload that completed, whose blob was
// deleted since (garbage collection, erasure without Erase), is sent again
// rather than reported complete forever.
func TestOfferAfterBlobDeleted(t *testing.T) {
	f := newFed(t)
	m := newMedia(t, 19, 2*MinChunkBytes, MinChunkBytes)
	s, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rx := f.receiver(t, s, Limits{}, nil)
	env := f.envelope(t, "XA-RC", "XB-RC", videoMessage("XA-RC", m.ref))
	up := &Uploader{Client: f.client("XA-RC"), Endpoint: rx.URL, Log: quiet}
	ctx := context.Background()
	if _, err := up.Upload(ctx, env, m.ref, m.hashes, bytes.NewReader(m.data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, m.ref.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := rx.media.Ready(ctx, "XA-RC", m.ref); federation.CodeOf(err) != CodeMediaIncomplete {
		t.Fatalf("Ready without the blob = %v", err)
	}
	res, err := up.Upload(ctx, env, m.ref, m.hashes, bytes.NewReader(m.data))
	if err != nil || res.SentBytes != m.ref.Size {
		t.Fatalf("second upload: %+v, %v", res, err)
	}
	if err := rx.media.Ready(ctx, "XA-RC", m.ref); err != nil {
		t.Fatal(err)
	}
}
