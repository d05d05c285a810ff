package federation_test

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
)

// TestHostileReceiverBatch: a receiver that answers a batch with receipts
// that do not hold (for jtis never sent, for other bytes, signed by another
// key or member, swapped, reused), with fewer or more results than
// envelopes, or with garbage under a 200. The sender must take as delivered
// only an envelope whose own receipt verifies, and retry (never lose) every
// other one: none of these answers is a refusal that dead-letters.
func TestHostileReceiverBatch(t *testing.T) {
	in, p, c := newClientFixture(t)
	sign := in.receiptFor
	// upperHex signs the right receipt with its sha256 in upper case (not
	// the lowercase hex of FLX-RCP-003), which SignReceipt refuses to make.
	upperHex := func(t *testing.T, raw []byte) string {
		t.Helper()
		cl := mustClaims(t, raw)
		payload := fmt.Sprintf(`{"iss":"XB-RC","aud":%q,"iat":%d,"receipt_for":%q,"sha256":%q,"status":"accepted"}`,
			cl.Issuer, time.Now().Unix(), cl.JTI, strings.ToUpper(sha256Hex(raw)))
		b, err := jose.Sign([]byte(payload), federation.TypReceipt, in.keys["XB-RC"])
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := func(t *testing.T, raw []byte) federation.BatchResult {
		return federation.BatchResult{Status: 202, Receipt: sign(t, raw, nil, "XB-RC")}
	}
	const n = 4
	D, R := federation.Delivered, federation.Retry
	// each answers the batch of n envelopes (raws) with results, or writes
	// the whole answer itself (write).
	tests := []struct {
		name    string
		results func(t *testing.T, raws [][]byte) []federation.BatchResult
		write   func(w http.ResponseWriter, raws [][]byte)
		want    [n]federation.Outcome
	}{
		{name: "all valid", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			out := make([]federation.BatchResult, len(raws))
			for i, r := range raws {
				out[i] = good(t, r)
			}
			return out
		}, want: [n]federation.Outcome{D, D, D, D}},
		{name: "receipts for jtis never sent", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{good(t, raws[0]),
				{Status: 202, Receipt: sign(t, raws[1], func(rc *federation.ReceiptClaims) { rc.ReceiptFor = federation.NewJTI() }, "XB-RC")},
				{Status: 202, Receipt: sign(t, raws[2], func(rc *federation.ReceiptClaims) { rc.ReceiptFor = rc.ReceiptFor + "x" }, "XB-RC")},
				good(t, raws[3])}
		}, want: [n]federation.Outcome{D, R, R, D}},
		{name: "receipts binding other bytes", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{
				{Status: 202, Receipt: sign(t, raws[0], func(rc *federation.ReceiptClaims) { rc.SHA256 = sha256Hex(raws[1]) }, "XB-RC")},
				{Status: 202, Receipt: sign(t, raws[1], func(rc *federation.ReceiptClaims) {
					rc.SHA256 = sha256Hex(append([]byte(nil), raws[1][:len(raws[1])-1]...))
				}, "XB-RC")},
				{Status: 202, Receipt: upperHex(t, raws[2])},
				good(t, raws[3])}
		}, want: [n]federation.Outcome{R, R, R, D}},
		{name: "receipts signed by another key or member", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{
				{Status: 202, Receipt: sign(t, raws[0], nil, "XC-RC")},                                                          // XB-RC's claims, XC-RC's key
				{Status: 202, Receipt: sign(t, raws[1], func(rc *federation.ReceiptClaims) { rc.Issuer = "XC-RC" }, "XC-RC")},   // XC-RC's receipt
				{Status: 202, Receipt: sign(t, raws[2], func(rc *federation.ReceiptClaims) { rc.Audience = "XC-RC" }, "XB-RC")}, // for another sender
				{Status: 202, Receipt: sign(t, raws[3], nil, "XA-RC")},                                                          // the sender's own key
			}
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "receipts swapped and reused", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{good(t, raws[1]), good(t, raws[0]), good(t, raws[2]), good(t, raws[2])}
		}, want: [n]federation.Outcome{R, R, D, R}},
		{name: "a receipt with a problem beside it", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			r := good(t, raws[0])
			r.Problem = problem.Of(problem.Replay, "")
			return []federation.BatchResult{r, good(t, raws[1]), good(t, raws[2]), good(t, raws[3])}
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a receipt under another status", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			r := good(t, raws[0])
			r.Status = 200
			return []federation.BatchResult{r, good(t, raws[1]), good(t, raws[2]), good(t, raws[3])}
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "fewer results", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{good(t, raws[0]), good(t, raws[1]), good(t, raws[2])}
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "more results", results: func(t *testing.T, raws [][]byte) []federation.BatchResult {
			return []federation.BatchResult{good(t, raws[0]), good(t, raws[1]), good(t, raws[2]), good(t, raws[3]), good(t, raws[3])}
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a 200 with garbage", write: func(w http.ResponseWriter, _ [][]byte) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("<html>Service temporarily overloaded</html>"))
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a 200 with a bare receipt", write: func(w http.ResponseWriter, raws [][]byte) {
			w.Header().Set("Content-Type", "application/jose")
			w.Write([]byte(good(t, raws[0]).Receipt))
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a 200 with null results", write: func(w http.ResponseWriter, _ [][]byte) {
			w.Write([]byte(`{"results":null}`))
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a 202 with valid results", write: func(w http.ResponseWriter, raws [][]byte) {
			var a federation.BatchAnswer
			for _, r := range raws {
				a.Results = append(a.Results, good(t, r))
			}
			w.WriteHeader(http.StatusAccepted)
			json.NewEncoder(w).Encode(a)
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "a 200 cut short", write: func(w http.ResponseWriter, raws [][]byte) {
			var a federation.BatchAnswer
			for _, r := range raws {
				a.Results = append(a.Results, good(t, r))
			}
			b, _ := json.Marshal(a)
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(200)
			w.Write(b[:len(b)*3/4]) // three receipts whole, then the link breaks
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, want: [n]federation.Outcome{R, R, R, R}},
		// An answer of valid results padded with whitespace (valid JSON)
		// to the most a sender reads of an answer to n envelopes, and one
		// byte more: no legitimate answer is longer.
		{name: "an answer at the bound", write: func(w http.ResponseWriter, raws [][]byte) {
			writePadded(w, validAnswer(t, raws, good), federation.MaxBatchAnswerBytes(len(raws)), false)
		}, want: [n]federation.Outcome{D, D, D, D}},
		{name: "an answer at the bound, its length announced", write: func(w http.ResponseWriter, raws [][]byte) {
			writePadded(w, validAnswer(t, raws, good), federation.MaxBatchAnswerBytes(len(raws)), true)
		}, want: [n]federation.Outcome{D, D, D, D}},
		{name: "an answer a byte over the bound", write: func(w http.ResponseWriter, raws [][]byte) {
			writePadded(w, validAnswer(t, raws, good), federation.MaxBatchAnswerBytes(len(raws))+1, false)
		}, want: [n]federation.Outcome{R, R, R, R}},
		{name: "an answer a byte over the bound, its length announced", write: func(w http.ResponseWriter, raws [][]byte) {
			writePadded(w, validAnswer(t, raws, good), federation.MaxBatchAnswerBytes(len(raws))+1, true)
		}, want: [n]federation.Outcome{R, R, R, R}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := func(w http.ResponseWriter, body []byte, _ string) {
				raws, err := federation.ParseBatchRequest(body, 100)
				if err != nil {
					t.Errorf("malformed batch: %v", err)
					return
				}
				if tc.write != nil {
					tc.write(w, raws)
					return
				}
				w.Header().Set("Content-Type", federation.BatchMediaType)
				json.NewEncoder(w).Encode(federation.BatchAnswer{Results: tc.results(t, raws)})
			}
			p.batch.Store(&f)
			envs := make([][]byte, n)
			for i := range envs {
				envs[i] = in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
			}
			got := c.SendBatch(t.Context(), "XB-RC", envs)
			if len(got) != n {
				t.Fatalf("%d results for %d envelopes", len(got), n)
			}
			for i, r := range got {
				if r.Outcome != tc.want[i] {
					t.Errorf("envelope %d: %v (%s), want %v", i, r.Outcome, r.Reason, tc.want[i])
				}
				if r.Outcome == federation.Delivered {
					want := federation.ExpectReceipt(envs[i], mustClaims(t, envs[i]))
					if r.Receipt == nil || r.Receipt.ReceiptFor != want.ReceiptFor || r.Receipt.SHA256 != want.SHA256 || r.Receipt.Issuer != "XB-RC" {
						t.Errorf("envelope %d delivered on receipt %+v", i, r.Receipt)
					}
				}
			}
		})
	}
}

// validAnswer is the JSON of a 200 answer giving each envelope of raws
// its result.
func validAnswer(t *testing.T, raws [][]byte, result func(*testing.T, []byte) federation.BatchResult) []byte {
	var a federation.BatchAnswer
	for _, r := range raws {
		a.Results = append(a.Results, result(t, r))
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Error(err)
	}
	return b
}

// writePadded answers 200 with the JSON object answer, padded with spaces
// before its closing brace to size bytes, announcing its length or not.
func writePadded(w http.ResponseWriter, answer []byte, size int64, announce bool) {
	w.Header().Set("Content-Type", federation.BatchMediaType)
	if announce {
		w.Header().Set("Content-Length", fmt.Sprint(size))
	}
	w.WriteHeader(http.StatusOK)
	w.Write(answer[:len(answer)-1])
	w.Write([]byte(strings.Repeat(" ", int(size)-len(answer))))
	w.Write([]byte("}"))
}

// TestHostileReceiverEndlessAnswer: a receiver that answers a batch 200
// and then streams an answer without end (the start of a valid one, then
// one receipt that never ends). The sender reads no more than a legitimate
// answer to the batch can be (federation.MaxBatchAnswerBytes), in a buffer
// that grows with what arrived, and retries every envelope: none is
// delivered, none refused for good. Memory: what the send allocates in all
// (the buffer, the HTTP/2 and TLS reads, the receiver's writes) stays far
// below the 16 MiB a sender reading up to 16 MiB would hold.
func TestHostileReceiverEndlessAnswer(t *testing.T) {
	in, p, c := newClientFixture(t)
	var written atomic.Int64
	f := func(w http.ResponseWriter, _ []byte, _ string) {
		w.Header().Set("Content-Type", federation.BatchMediaType)
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write([]byte(`{"results":[{"status":202,"receipt":"`)); err != nil {
			return
		}
		chunk := []byte(strings.Repeat("A", 32<<10))
		for written.Load() < 64<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
	const n = 4
	envs := make([][]byte, n)
	for i := range envs {
		envs[i] = in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
	}
	// A first batch answered properly opens the connection (its TLS and
	// HTTP/2 set-up is not what is measured).
	good := func(w http.ResponseWriter, body []byte, _ string) {
		raws, _ := federation.ParseBatchRequest(body, 100)
		w.Header().Set("Content-Type", federation.BatchMediaType)
		w.Write(validAnswer(t, raws, func(t *testing.T, raw []byte) federation.BatchResult {
			return federation.BatchResult{Status: 202, Receipt: in.receiptFor(t, raw, nil, "XB-RC")}
		}))
	}
	p.batch.Store(&good)
	warm := make([][]byte, 2)
	for i := range warm {
		warm[i] = in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
	}
	for i, r := range c.SendBatch(t.Context(), "XB-RC", warm) {
		if r.Outcome != federation.Delivered {
			t.Fatalf("warm-up envelope %d: %v (%s)", i, r.Outcome, r.Reason)
		}
	}
	p.batch.Store(&f)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := c.SendBatch(t.Context(), "XB-RC", envs)
	runtime.ReadMemStats(&after)
	for i, r := range got {
		if r.Outcome != federation.Retry || !strings.HasPrefix(r.Reason, "answer_too_large") {
			t.Errorf("envelope %d: %v (%s), want retry: answer_too_large", i, r.Outcome, r.Reason)
		}
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	limit := federation.MaxBatchAnswerBytes(n)
	t.Logf("answer bound %d bytes; the send allocated %d bytes; the receiver wrote %d bytes before the sender stopped reading", limit, alloc, written.Load())
	if alloc > 8<<20 {
		t.Errorf("sending a batch of %d answered without end allocated %d bytes, want under 8 MiB (the answer is bounded at %d bytes)", n, alloc, limit)
	}
}

// TestHostileReceiverGoAway: a receiver speaking HTTP/2 that reads a batch
// and then sends GOAWAY and closes the connection, without an answer or
// after part of a 200. The sender tries the batch once more at once (a
// link cut, SPEC FLX-DLV-004) and then leaves every envelope to be retried:
// none is delivered, none refused for good.
func TestHostileReceiverGoAway(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lastStream uint32 // GOAWAY's last stream id: 0, the request was not processed
		partial    bool   // a 200 and part of the answer first
	}{
		{"GOAWAY, the batch not processed", 0, false},
		{"GOAWAY after the batch was read", 1, false},
		{"GOAWAY in the middle of a 200", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _, c := newClientFixture(t)
			var requests atomic.Int32
			cfg := mtls.ServerConfig(in.certs["XB-RC"].TLS, holderDirectory{in.holder})
			cfg.NextProtos = []string{"h2"}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go goAwayConn(conn, tc.lastStream, tc.partial, &requests)
				}
			}()
			pointAt(t, in, "XB-RC", ln.Addr().String())
			envs := make([][]byte, 3)
			for i := range envs {
				envs[i] = in.envelope(t, "XA-RC", "XB-RC", in.keys["XA-RC"])
			}
			for i, r := range c.SendBatch(t.Context(), "XB-RC", envs) {
				if r.Outcome != federation.Retry {
					t.Errorf("envelope %d: %v (%s), want retry", i, r.Outcome, r.Reason)
				}
			}
			if got := requests.Load(); got < 1 || got > 2 {
				t.Errorf("the batch came %d times; want once, and at most once more at once", got)
			}
		})
	}
}

// pointAt signs a manifest naming addr as member id's endpoint.
func pointAt(t *testing.T, in *integration, id, addr string) {
	t.Helper()
	for i := range in.spec.Members {
		if in.spec.Members[i].ID == id {
			in.spec.Members[i].Endpoint = "https://" + addr
		}
	}
	in.spec.Version++
	raw, err := federation.SignManifest(in.spec, in.anchor)
	if err != nil {
		t.Fatal(err)
	}
	if in.manifest, err = in.holder.Update(raw, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// goAwayConn plays an HTTP/2 server by hand (RFC 9113): it reads the
// client's preface and frames until a request's body has ended, then,
// when partial, answers 200 with a few bytes of body, and sends GOAWAY
// naming lastStream and closes the connection.
func goAwayConn(conn net.Conn, lastStream uint32, partial bool, requests *atomic.Int32) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	preface := make([]byte, 24)
	if _, err := io.ReadFull(r, preface); err != nil {
		return
	}
	frame := func(typ, flags byte, stream uint32, payload []byte) {
		h := make([]byte, 9, 9+len(payload))
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3], h[4] = typ, flags
		binary.BigEndian.PutUint32(h[5:], stream)
		conn.Write(append(h, payload...))
	}
	const (
		data, headers, settings, goAway, windowUpdate = 0x0, 0x1, 0x4, 0x7, 0x8
		endStream, ack, endHeaders                    = 0x1, 0x1, 0x4
	)
	frame(settings, 0, 0, nil)
	// A large connection window, as the node's listener opens it.
	inc := make([]byte, 4)
	binary.BigEndian.PutUint32(inc, 8<<20)
	frame(windowUpdate, 0, 0, inc)
	var stream uint32
	for {
		var h [9]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return
		}
		length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		payload := make([]byte, length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		typ, flags, id := h[3], h[4], binary.BigEndian.Uint32(h[5:])&0x7fffffff
		if typ == settings && flags&ack == 0 {
			frame(settings, ack, 0, nil)
		}
		if typ == headers && stream == 0 {
			stream = id
		}
		if (typ == data || typ == headers) && id == stream && stream != 0 && flags&endStream != 0 {
			break
		}
	}
	requests.Add(1)
	if partial {
		frame(headers, endHeaders, stream, []byte{0x88}) // :status 200 (HPACK static index 8)
		frame(data, 0, stream, []byte(`{"results":[{"status":202,"receipt":"`))
	}
	ga := make([]byte, 8)
	binary.BigEndian.PutUint32(ga, min(lastStream, stream))
	frame(goAway, 0, 0, ga) // NO_ERROR
	time.Sleep(50 * time.Millisecond)
}
