package media

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestServeBlobRanges plays what a browser's video element does: HEAD,
// open-ended and bounded ranges, suffix ranges, several ranges, and
// unsatisfiable ones, on both stores.
func TestServeBlobRanges(t *testing.T) {
	data := randomBytes(20, 3*DefaultChunkBytes+333)
	sum := Sum(data)
	forEachStore(t, func(t *testing.T, s Store, reopen func() Store) {
		if _, err := s.Put(context.Background(), expectOf(data), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d, err := ParseDigest(strings.TrimPrefix(r.URL.Path, "/media/"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			ServeBlob(w, r, s, d, "video/mp4")
		}))
		defer srv.Close()
		get := func(method, rng string, path ...string) (*http.Response, []byte) {
			t.Helper()
			u := srv.URL + "/media/" + sum.String()
			if len(path) > 0 {
				u = srv.URL + path[0]
			}
			req, _ := http.NewRequest(method, u, nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Sized from Content-Length when there is one (one copy, not
			// io.ReadAll's growing buffer), read to the end either way.
			buf := bytes.NewBuffer(make([]byte, 0, max(resp.ContentLength, 0)+512))
			buf.ReadFrom(resp.Body)
			return resp, buf.Bytes()
		}
		n := len(data)
		for _, tc := range []struct {
			rng      string
			from, to int // expected bytes [from, to)
		}{
			{"bytes=0-", 0, n},
			{"bytes=0-0", 0, 1},
			{"bytes=1048570-1048580", 1048570, 1048581},
			{"bytes=-500", n - 500, n},
			{"bytes=3145700-", 3145700, n},
			{"bytes=5-" + itoa(int64(n)*4), 5, n},
		} {
			resp, b := get(http.MethodGet, tc.rng)
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, data[tc.from:tc.to]) {
				t.Errorf("%s: %d, %d bytes, want 206 with [%d,%d)", tc.rng, resp.StatusCode, len(b), tc.from, tc.to)
			}
		}
		resp, b := get(http.MethodGet, "")
		if resp.StatusCode != 200 || !bytes.Equal(b, data) {
			t.Fatalf("whole GET: %d, %d bytes", resp.StatusCode, len(b))
		}
		for k, v := range map[string]string{
			"Content-Type": "video/mp4", "Accept-Ranges": "bytes", "X-Content-Type-Options": "nosniff",
			"Cache-Control": "private, no-store", "ETag": `"sha256-` + sum.String() + `"`,
		} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		resp, b = get(http.MethodHead, "")
		if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(n) {
			t.Fatalf("HEAD: %d, %d bytes, length %d", resp.StatusCode, len(b), resp.ContentLength)
		}
		for _, bad := range []string{"bytes=" + itoa(int64(n)) + "-", "bytes=" + itoa(int64(n)+10) + "-" + itoa(int64(n)+20)} {
			if resp, _ := get(http.MethodGet, bad); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
				t.Errorf("%s: %d, want 416", bad, resp.StatusCode)
			}
		}
		// Two ranges: a multipart/byteranges answer with both parts right.
		resp, b = get(http.MethodGet, "bytes=0-9,2097150-2097160")
		mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 206 || mt != "multipart/byteranges" {
			t.Fatalf("two ranges: %d %s", resp.StatusCode, mt)
		}
		mr := multipart.NewReader(bytes.NewReader(b), params["boundary"])
		for _, want := range [][2]int{{0, 10}, {2097150, 2097161}} {
			p, err := mr.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(p)
			if !bytes.Equal(got, data[want[0]:want[1]]) {
				t.Errorf("part %v differs", want)
			}
		}
		// Not here (erased, or never received): 404, a problem document.
		if resp, _ := get(http.MethodGet, "", "/media/"+Sum([]byte("absent")).String()); resp.StatusCode != 404 ||
			resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("absent media: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}
