package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/familylinks/flx/federation/problem"
)

// TestReadBodyAllocations pins the allocations of reading a batch body
// whose length the request announces: the buffer grows at most twice on
// the way to it (io.ReadAll grew it from 512 bytes, 27 allocations for
// 200 KB, each cleared and copied), and the bytes read are the body's,
// whatever the announced length says.
func TestReadBodyAllocations(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 200_000/16)
	tests := []struct {
		name       string
		announced  int64
		wantAllocs float64
	}{
		{"announced", int64(len(body)), 4},
		{"unknown length", -1, 0}, // as io.ReadAll: no hint to size by, no bound
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fedAPI{}
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/flx/v1/batches", nil)
			r.ContentLength = tc.announced
			rd := bytes.NewReader(body)
			rc := io.NopCloser(rd)
			var got []byte
			allocs := testing.AllocsPerRun(20, func() {
				rd.Reset(body)
				r.Body = rc
				b, p := f.readBody(w, r, 1<<20)
				if p != nil {
					t.Fatal(p)
				}
				got = b
			})
			if !bytes.Equal(got, body) {
				t.Fatalf("read %d bytes, want the %d of the body", len(got), len(body))
			}
			t.Logf("%.0f allocations to read a body of %d bytes", allocs, len(body))
			if tc.wantAllocs > 0 && allocs > tc.wantAllocs {
				t.Errorf("%.0f allocations to read a body of %d bytes, want at most %.0f", allocs, len(body), tc.wantAllocs)
			}
		})
	}
}

// TestReadBodyLimit: a body over the limit is too_large, whatever length
// was announced (the buffer is sized by it, the limit is not).
func TestReadBodyLimit(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	for _, announced := range []int64{-1, 100, 5000} {
		r := httptest.NewRequest(http.MethodPost, "/flx/v1/batches", bytes.NewReader(body))
		r.ContentLength = announced
		if _, p := (&fedAPI{}).readBody(httptest.NewRecorder(), r, 1000); p == nil || p.Code != problem.TooLarge {
			t.Errorf("announced %d: got %v, want too_large", announced, p)
		}
	}
}

// TestReadBodyStalledHoldsLittle: a peer that announces the batch limit
// and then sends a few bytes and stalls (a slowloris body) makes the node
// hold a buffer in proportion to what arrived, not to what was announced.
// Over HTTP/2 one connection carries up to 250 such streams at once, each
// held until the read timeout: at 1 MiB each (as the announced length once bought), 250 MiB
// a connection. (It also reads what a short body that announced the limit
// sent, whole.)
func TestReadBodyStalledHoldsLittle(t *testing.T) {
	const limit = 8 << 20
	for _, sent := range []int{16, 40 << 10, 300 << 10} {
		body := bytes.Repeat([]byte("x"), sent)
		const runs = 5
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range runs {
			r := httptest.NewRequest(http.MethodPost, "/flx/v1/batches", bytes.NewReader(body))
			r.ContentLength = limit
			b, p := (&fedAPI{}).readBody(httptest.NewRecorder(), r, limit)
			if p != nil || !bytes.Equal(b, body) {
				t.Fatalf("read %d bytes, %v; want the %d sent", len(b), p, sent)
			}
		}
		runtime.ReadMemStats(&after)
		per := (after.TotalAlloc - before.TotalAlloc) / runs
		// In proportion to what arrived: the buffers of a growth by four
		// add up to at most 16/3 of the bytes, beyond a first 64 KiB (and
		// the request's own few allocations).
		bound := uint64(6*sent + 64<<10 + 8<<10)
		t.Logf("%d bytes allocated to read %d bytes announced as %d", per, sent, limit)
		if per > bound {
			t.Errorf("%d bytes allocated to read %d bytes announced as %d: want at most %d", per, sent, limit, bound)
		}
	}
}
