package media

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0", "1", "65536", "00", "-1", "+1", " 1", "1 ", "1e3", "0x10", "999999999999999999", "9999999999999999999", "", "١٢"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseOffset(s)
		if err != nil {
			return
		}
		if n < 0 || strconv.FormatInt(n, 10) != s {
			t.Fatalf("ParseOffset(%q) = %d: not the canonical form", s, n)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	good := strings.Repeat("ab", 32)
	for _, s := range []string{good, strings.ToUpper(good), "../" + good[3:], good[:63] + "/", "", good + "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if d.String() != s || strings.ContainsAny(s, "./\\\x00%") {
			t.Fatalf("ParseDigest(%q) accepted a non-canonical or unsafe name", s)
		}
	})
}

func FuzzParseOffer(f *testing.F) {
	f.Add([]byte(`{"envelope":"a.b.c","chunk_hashes":"AAAA"}`))
	f.Add([]byte(`{"envelope":"a.b.c","chunk_hashes":"AAAA","x":1}`))
	f.Add([]byte(`{"envelope":"a.b.c","envelope":"d.e.f","chunk_hashes":""}`))
	f.Add([]byte(`{"envelope":"a.b.c","chunk_hashes":"AA=="}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, h, err := parseOffer(b)
		if err != nil {
			return
		}
		if len(env) == 0 || dupKeys(b) {
			t.Fatalf("accepted %q", b)
		}
		_ = h
	})
}

// FuzzServeRange: whatever the Range header, a 206 carries exactly the
// bytes its Content-Range names, and nothing else is served.
func FuzzServeRange(f *testing.F) {
	data := randomBytes(30, 200<<10+17)
	s, err := OpenDisk(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := s.Put(context.Background(), expectOf(data), bytes.NewReader(data)); err != nil {
		f.Fatal(err)
	}
	for _, r := range []string{"bytes=0-", "bytes=-1", "bytes=5-1", "bytes=0-0,-1", "bytes=99999999999999999999-", "bytes= 1-2", "items=0-1", "bytes=204817-"} {
		f.Add(r)
	}
	sum := Sum(data)
	f.Fuzz(func(t *testing.T, rng string) {
		req := httptest.NewRequest(http.MethodGet, "/m", nil)
		req.Header.Set("Range", rng)
		w := httptest.NewRecorder()
		ServeBlob(w, req, s, sum, "audio/ogg")
		body := w.Body.Bytes()
		switch w.Code {
		case http.StatusOK:
			if !bytes.Equal(body, data) {
				t.Fatal("200 with other bytes")
			}
		case http.StatusPartialContent:
			cr := w.Header().Get("Content-Range")
			if cr == "" {
				return // multipart: checked by TestServeBlobRanges
			}
			var from, to, size int64
			if _, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &from, &to, &size); err != nil || size != int64(len(data)) || from > to || to >= size {
				t.Fatalf("Content-Range %q", cr)
			}
			if !bytes.Equal(body, data[from:to+1]) {
				t.Fatalf("206 %q with other bytes", cr)
			}
		case http.StatusRequestedRangeNotSatisfiable:
		default:
			t.Fatalf("status %d for Range %q", w.Code, rng)
		}
	})
}

// FuzzPatch sends arbitrary Upload-Offset values and bodies to an upload:
// the upload only ever advances by verified chunks of the real media.
func FuzzPatch(f *testing.F) {
	m := newMedia(f, 31, 3*MinChunkBytes+5, MinChunkBytes)
	s, err := OpenDisk(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	srv := &Server{Store: s, Log: quiet, Peer: func(*http.Request) (string, bool) { return "XA-RC", true }}
	var n atomic.Int64
	f.Add("0", m.data[:MinChunkBytes])
	f.Add("0", m.data[:MinChunkBytes+10])
	f.Add("65536", m.data[MinChunkBytes:2*MinChunkBytes])
	f.Add("0", []byte("not media"))
	f.Add("-0", m.data[:10])
	f.Fuzz(func(t *testing.T, off string, body []byte) {
		// A fresh upload per run, with the first chunk already there.
		id := Sum([]byte("fuzz" + strconv.FormatInt(n.Add(1), 10)))
		ctx := context.Background()
		if _, _, err := s.CreateUpload(ctx, id, "XA-RC", Expect{m.ref.SHA256, m.ref.Size}, encodeMeta("XA-RC", m.ref, m.hashes)); err != nil {
			t.Fatal(err)
		}
		defer s.DeleteUpload(ctx, id)
		if _, err := s.WriteUpload(ctx, id, 0, m.data[:MinChunkBytes]); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPatch, UploadsPath+"/"+id.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", ContentTypeChunks)
		req.Header.Set(HeaderOffset, off)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		st, err := s.Upload(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Offset < MinChunkBytes || (st.Offset%MinChunkBytes != 0 && st.Offset != m.ref.Size) {
			t.Fatalf("offset %d after PATCH at %q (%d)", st.Offset, off, w.Code)
		}
		if st.Offset > MinChunkBytes && !bytes.HasPrefix(body, m.data[MinChunkBytes:st.Offset]) {
			t.Fatalf("upload advanced to %d with bytes that are not the media", st.Offset)
		}
		if w.Code >= 400 && w.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%d without a problem document", w.Code)
		}
	})
}
