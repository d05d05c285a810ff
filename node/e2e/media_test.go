package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/media"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// cuttingProxy forwards TCP connections to target and cuts each one after
// cut bytes from the client: the poor link between a delegation and its
// peer. TLS goes through it end to end.
type cuttingProxy struct {
	ln    net.Listener
	cut   int64
	cuts  atomic.Int64
	wg    sync.WaitGroup
	close chan struct{}
}

func newCuttingProxy(t *testing.T, target string, cut int64) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, cut: cut, close: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c, target) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); close(p.close); p.wg.Wait() })
	return p
}

func (p *cuttingProxy) serve(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(c, s); done <- struct{}{} }()
	go func() {
		n, _ := io.CopyN(s, c, p.cut)
		if n == p.cut {
			p.cuts.Add(1)
		} else {
			// the client closed first
		}
		done <- struct{}{}
	}()
	select {
	case <-done:
	case <-p.close:
	}
}

func (p *cuttingProxy) addr() string { return p.ln.Addr().String() }

// localAPI serves a node's local API with one caseworker token.
func localAPI(t *testing.T, n *nodetest.Node) (url, token string) {
	t.Helper()
	token = "tok-" + n.Member.ID
	sum := sha256.Sum256([]byte(token))
	srv := httptest.NewServer(httpapi.NewLocalHandler(n.Node, httpapi.LocalOptions{
		Tokens: []config.Token{{Name: "cw-" + n.Member.ID, Role: "caseworker", SHA256: hex.EncodeToString(sum[:])}},
	}))
	t.Cleanup(srv.Close)
	return srv.URL, token
}

func call(t *testing.T, method, url, token, ctype string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// brokenBody yields n bytes of b, then fails: a caseworker system whose
// link drops in the middle of an upload.
type brokenBody struct {
	r io.Reader
}

func (b *brokenBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		return n, errors.New("link dropped")
	}
	return n, err
}

// TestMediaTravels: a caseworker at XB-RC uploads a recorded video through
// the local API (cut in the middle, resumed), attaches it to a video
// message about XA-RC's case, and XB-RC pushes it to XA-RC over mTLS
// through a proxy that cuts every connection after 3 MiB; XA-RC verifies
// every chunk, receipts the message only with the whole media, lists it
// and streams it to its caseworker with range requests. XA-RC's withdrawal
// then erases the bytes at both holders.
func TestMediaTravels(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testMediaTravels)
}

func testMediaTravels(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	proxy := newCuttingProxy(t, lnA.Addr().String(), 3<<20)
	f.Member(t, "XA-RC").Endpoint = "https://" + proxy.addr()
	f.Sign(t)
	optsFor := func(dsn string) nodetest.Options {
		o := nodetest.Options{Dialect: d}
		if d == nodetest.Postgres {
			// Blobs in the PostgreSQL database itself (the replicas' store).
			o.DSN = dsn
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, _ := store.SQLDB(st)
			o.Media = (&node.MediaOptions{Store: media.NewPostgres(db), ChunkBytes: 256 << 10})
		} else {
			o.Media = (&node.MediaOptions{ChunkBytes: 256 << 10})
			disk, err := media.OpenDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			o.Media.Store = disk
		}
		return o
	}
	xa := nodetest.Start(t, f, "XA-RC", lnA, optsFor(nodetest.DSN(t, d)))
	xb := nodetest.Start(t, f, "XB-RC", lnB, optsFor(nodetest.DSN(t, d)))
	urlA, tokA := localAPI(t, xa)
	urlB, tokB := localAPI(t, xb)

	// The case, from XA-RC to XB-RC.
	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	// 1. The recording (12 MiB and a bit) uploaded at XB-RC, cut after 5 MiB.
	video := recording(12<<20 + 12345)
	sum := sha256.Sum256(video)
	hexSum := hex.EncodeToString(sum[:])
	caseURL := urlB + "/api/v1/cases/" + demoCase
	resp, body := call(t, http.MethodPost, caseURL+"/media", tokB, "application/json",
		strings.NewReader(fmt.Sprintf(`{"sha256":%q,"size_bytes":%d,"media_type":"video/mp4"}`, hexSum, len(video))), nil)
	if resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start upload: %v %s", resp, body)
	}
	var up struct {
		URL      string `json:"url"`
		Offset   int64  `json:"offset"`
		Complete bool   `json:"complete"`
	}
	json.Unmarshal(body, &up)
	req, _ := http.NewRequest(http.MethodPatch, urlB+up.URL, &brokenBody{bytes.NewReader(video[:5<<20])})
	req.ContentLength = int64(len(video))
	req.Header.Set("Authorization", "Bearer "+tokB)
	req.Header.Set("Content-Type", media.ContentTypeChunks)
	req.Header.Set("Upload-Offset", "0")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a broken body was answered %s", resp.Status)
	}
	var off int64 = -1
	nodetest.WaitFor(t, 10*time.Second, "the upload to keep what arrived", func() bool {
		time.Sleep(200 * time.Millisecond) // settled: the same offset twice
		resp, body := call(t, http.MethodGet, urlB+up.URL, tokB, "", nil, nil)
		json.Unmarshal(body, &up)
		settled := up.Offset == off && off > 0
		off = up.Offset
		return resp != nil && resp.StatusCode == 200 && settled
	})
	if off > 5<<20 {
		t.Fatalf("offset %d after 5 MiB", off)
	}
	// A PATCH at another offset is refused with the offset to resume from.
	resp, body = call(t, http.MethodPatch, urlB+up.URL, tokB, media.ContentTypeChunks, bytes.NewReader(video[:10]), map[string]string{"Upload-Offset": "0"})
	if at, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); resp.StatusCode != http.StatusConflict || at < off {
		t.Fatalf("PATCH at 0 after %d: %d %s", off, resp.StatusCode, body)
	}
	// Another caseworker token cannot see the upload.
	if resp, _ := call(t, http.MethodGet, urlA+up.URL, tokA, "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the upload is visible on another node: %d", resp.StatusCode)
	}
	// Resume from the offset; a write of the broken request still under
	// way moves it on, and the answer says where (as a client would).
	for range 20 {
		resp, body = call(t, http.MethodPatch, urlB+up.URL, tokB, media.ContentTypeChunks, bytes.NewReader(video[off:]),
			map[string]string{"Upload-Offset": strconv.FormatInt(off, 10)})
		if resp.StatusCode != http.StatusConflict {
			break
		}
		off, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		time.Sleep(100 * time.Millisecond)
	}
	json.Unmarshal(body, &up)
	if resp.StatusCode != 200 || !up.Complete {
		t.Fatalf("resume upload: %d %s", resp.StatusCode, body)
	}

	// 2. Attached to a video message to XA-RC: the signed reference binds it.
	var msg map[string]any
	json.Unmarshal(readTestdata(t, "video.json"), &msg)
	msg["media"] = map[string]any{"sha256": hexSum, "media_type": "video/mp4", "size_bytes": len(video), "duration_seconds": 48.0}
	doc, _ := json.Marshal(msg)
	res, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", doc)
	if err != nil || res.State != "queued" {
		t.Fatalf("send: %v %+v", err, res.Decision)
	}
	var sent schema.Message
	json.Unmarshal(res.Document, &sent)
	if sent.Media == nil || sent.Media.ChunkBytes != 256<<10 || sent.Media.ChunksSHA256 == "" || sent.Media.SizeBytes != int64(len(video)) {
		t.Fatalf("the signed reference does not bind the bytes: %+v", sent.Media)
	}

	// 3. Delivered through the cutting proxy; the receipt only after the media.
	nodetest.WaitFor(t, 60*time.Second, "the message delivered", func() bool {
		it, err := xb.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && it.State == store.Delivered
	})
	if proxy.cuts.Load() < 3 {
		t.Errorf("the proxy cut %d connections; the test wants the transfer cut several times", proxy.cuts.Load())
	}
	waitProcessed(t, xa.Store, demoCase, string(federation.KindMessageDeliver), 1)

	// 4. XA-RC's caseworker lists and streams it.
	resp, body = call(t, http.MethodGet, urlA+"/api/v1/cases/"+demoCase+"/media", tokA, "", nil, nil)
	var list struct {
		Media []node.CaseMedia `json:"media"`
	}
	json.Unmarshal(body, &list)
	if resp.StatusCode != 200 || len(list.Media) != 1 || !list.Media[0].Available || list.Media[0].Direction != "received" ||
		list.Media[0].From != "XB-RC" || list.Media[0].SHA256 != hexSum {
		t.Fatalf("media of the case at XA-RC: %d %s", resp.StatusCode, body)
	}
	stream := urlA + "/api/v1/cases/" + demoCase + "/media/" + hexSum
	resp, body = call(t, http.MethodGet, stream, tokA, "", nil, map[string]string{"Range": "bytes=1000000-1999999"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, video[1000000:2000000]) || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("range: %d, %d bytes, type %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
	resp, body = call(t, http.MethodGet, stream, tokA, "", nil, nil)
	if resp.StatusCode != 200 || sha256.Sum256(body) != sum {
		t.Fatalf("whole: %d, %d bytes", resp.StatusCode, len(body))
	}
	var reads int
	for _, a := range allAudit(t, xa.Store) {
		if a.Action == "media.read" {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d media reads audited, want 2", reads)
	}

	// 5. XA-RC withdraws: both holders erase the bytes.
	if _, err := xa.Withdraw(ctx, cw, demoCase, "consent_withdrawn"); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Node.MediaHandler().(*media.Server).Store.Stat(ctx, media.Digest(sum)); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("XA-RC still holds the media after withdrawing: %v", err)
	}
	nodetest.WaitFor(t, 20*time.Second, "XB-RC erases the media", func() bool {
		_, err := xb.Node.MediaHandler().(*media.Server).Store.Stat(ctx, media.Digest(sum))
		return errors.Is(err, media.ErrNotFound)
	})
	if resp, _ := call(t, http.MethodGet, stream, tokA, "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("erased media still served: %d", resp.StatusCode)
	}
}

func allAudit(t *testing.T, st store.Store) []store.AuditRecord {
	t.Helper()
	recs, err := st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestMediaAttacks: what a peer (or an impostor) sends to a node's media
// wire over real mTLS, and how the node refuses it.
func TestMediaAttacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	disk, err := media.OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Media: &node.MediaOptions{Store: disk,
		Limits: media.Limits{MaxMediaBytes: 8 << 20}}})
	clientA := nodetest.Client(t, f, "XA-RC", xb)
	clientC := nodetest.Client(t, f, "XC-RC", xb)

	data := make([]byte, 3<<20+100)
	rand.Read(data)
	ref, hashes, err := media.Describe(bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	msgFor := func(r media.Ref) []byte {
		var m map[string]any
		json.Unmarshal(readTestdata(t, "video.json"), &m)
		m["message_id"], m["case_id"] = "XA-RC:VID-1", "XA-RC:DEMO-0001"
		m["from"] = map[string]any{"person": "p1", "member": "XA-RC"}
		m["to"] = map[string]any{"person": "p2", "member": "XB-RC"}
		mr := schema.MediaRef{MediaType: "video/mp4"}
		r.Schema(&mr)
		dur := 48.0
		mr.DurationSeconds = &dur
		m["media"] = mr
		b, _ := json.Marshal(m)
		return b
	}
	env := f.Envelope(t, "XA-RC", "XB-RC", federation.KindMessageDeliver, "XA-RC:DEMO-0001", msgFor(ref))
	offer := func(c *http.Client, env []byte, list media.HashList) (*http.Response, []byte) {
		b, _ := json.Marshal(map[string]string{"envelope": string(env), "chunk_hashes": base64.RawURLEncoding.EncodeToString(list.Bytes())})
		resp, err := c.Post(xb.FedURL+media.UploadsPath, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, rb
	}
	code := func(b []byte) string {
		var p struct {
			Code string `json:"code"`
		}
		json.Unmarshal(b, &p)
		return p.Code
	}
	post := func(c *http.Client, env []byte) (*http.Response, []byte) {
		resp, err := c.Post(xb.FedURL+"/flx/v1/envelopes", "application/jose", bytes.NewReader(env))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, rb
	}
	patch := func(c *http.Client, url string, off int64, p []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPatch, url, bytes.NewReader(p))
		req.Header.Set("Content-Type", media.ContentTypeChunks)
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, rb
	}

	// The envelope before its media: refused, nothing stored.
	if resp, b := post(clientA, env); resp.StatusCode != http.StatusConflict || code(b) != "media_incomplete" {
		t.Fatalf("envelope before media: %d %s", resp.StatusCode, b)
	}
	// Refusals at the offer.
	bigRef := ref
	bigRef.Size = 9 << 20
	bigList := make(media.HashList, bigRef.Chunks())
	bigRef.ChunksRoot = bigList.Root()
	tests := []struct {
		name   string
		client *http.Client
		env    []byte
		list   media.HashList
		status int
		code   string
	}{
		{"hash list not the signed one", clientA, env, append(media.HashList{{1}}, hashes[1:]...), 422, "media_mismatch"},
		{"someone else's envelope (sender mismatch)", clientC, env, hashes, 403, "sender_mismatch"},
		{"addressed to another member", clientA, f.Envelope(t, "XA-RC", "XC-RC", federation.KindMessageDeliver, "XA-RC:DEMO-0001", msgFor(ref)), hashes, 400, "wrong_audience"},
		{"larger than the limit", clientA, f.Envelope(t, "XA-RC", "XB-RC", federation.KindMessageDeliver, "XA-RC:DEMO-0001", msgFor(bigRef)), bigList, 413, "too_large"},
		{"forged signature", clientA, append(bytes.Clone(env[:len(env)-4]), []byte("AAAA")...), hashes, 400, "bad_signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := offer(tc.client, tc.env, tc.list)
			if resp.StatusCode != tc.status || code(b) != tc.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, tc.status, tc.code)
			}
		})
	}

	// A good offer; then a wrong chunk, a replayed chunk, another member.
	resp, b := offer(clientA, env, hashes)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("offer: %d %s", resp.StatusCode, b)
	}
	upURL := xb.FedURL + resp.Header.Get("Location")
	bad := bytes.Clone(data[:1<<20])
	bad[100] ^= 1
	if resp, b := patch(clientA, upURL, 0, bad); resp.StatusCode != 422 || code(b) != "media_mismatch" || resp.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("wrong chunk: %d %s offset %s", resp.StatusCode, b, resp.Header.Get("Upload-Offset"))
	}
	if resp, b := patch(clientC, upURL, 0, data[:1<<20]); resp.StatusCode != 404 {
		t.Fatalf("another member's upload: %d %s", resp.StatusCode, b)
	}
	if resp, b := patch(clientA, upURL, 0, data[:1<<20]); resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(1<<20) {
		t.Fatalf("chunk 0: %d %s", resp.StatusCode, b)
	}
	if resp, b := patch(clientA, upURL, 0, data[:1<<20]); resp.StatusCode != 409 || code(b) != "offset_mismatch" {
		t.Fatalf("chunk 0 replayed: %d %s", resp.StatusCode, b)
	}
	if resp, _ := post(clientA, env); resp.StatusCode != http.StatusConflict {
		t.Fatalf("envelope with a third of its media: %d", resp.StatusCode)
	}
	if resp, b := patch(clientA, upURL, 1<<20, data[1<<20:]); resp.StatusCode != 204 {
		t.Fatalf("the rest: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(clientA, env); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("envelope with its media: %d %s", resp.StatusCode, b)
	}
	// The same media from XC-RC for its own message does not ride on XA-RC's upload.
	envC := f.Envelope(t, "XC-RC", "XB-RC", federation.KindMessageDeliver, "XA-RC:DEMO-0001", msgFor(ref))
	if resp, b := post(clientC, envC); resp.StatusCode != http.StatusConflict || code(b) != "media_incomplete" {
		t.Fatalf("another member's message naming the same media: %d %s", resp.StatusCode, b)
	}
	waitProcessed(t, xb.Store, "XA-RC:DEMO-0001", string(federation.KindMessageDeliver), 1)
	if _, err := xb.Store.GetCaseMedia(ctx, "XA-RC:DEMO-0001", ref.SHA256.String(), store.MediaReceived); err != nil {
		t.Fatalf("the received media is not linked to its case: %v", err)
	}
}
