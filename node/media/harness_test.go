package media

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
)

// fed is a small federation for tests over real mTLS listeners on
// 127.0.0.1: XA-RC sends, XB-RC receives (its listener serves the media
// wire), XC-RC is a third member trying to get at XA-RC's media.
type fed struct {
	certs    map[string]*devca.Issued
	keys     map[string]*jose.PrivateKey
	manifest *federation.Manifest
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newFed(t testing.TB) *fed {
	t.Helper()
	ca, err := devca.New("FLX media test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	f := &fed{certs: map[string]*devca.Issued{}, keys: map[string]*jose.PrivateKey{}}
	now := time.Now()
	spec := &federation.Manifest{
		Federation: "flx-media-test", Version: 1, IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour),
		TLSCAPEM: []string{string(ca.CertPEM())},
	}
	for _, id := range []string{"XA-RC", "XB-RC", "XC-RC"} {
		if f.certs[id], err = ca.IssueMember(id, nil, nil, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
		if f.keys[id], err = jose.GenerateKey(jose.EdDSA); err != nil {
			t.Fatal(err)
		}
		spec.Members = append(spec.Members, federation.Member{
			ID: id, Name: "Test Society " + id[:2], Country: id[:2], Role: federation.RoleSociety,
			Endpoint: "https://" + id + ".flx.test", JWKS: jose.KeySet{f.keys[id].Public()},
			TLSSPKISHA256: []string{f.certs[id].SPKIPin()}, Accepts: federation.Kinds, Status: federation.StatusActive,
		})
	}
	raw, err := federation.SignManifest(spec, anchor)
	if err != nil {
		t.Fatal(err)
	}
	if f.manifest, err = federation.VerifyManifest(raw, anchor.Public(), now, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// receiver is XB-RC's federation listener with the media Server behind
// mtls.Middleware, as the node mounts it.
type receiver struct {
	*httptest.Server
	media *Server
	store Store
}

func (f *fed) receiver(t testing.TB, s Store, lim Limits, wrap func(http.Handler) http.Handler) *receiver {
	t.Helper()
	v := &federation.Verifier{Manifest: federation.StaticManifest(f.manifest), Self: "XB-RC"}
	ms := &Server{
		Store: s, Limits: lim, Log: quiet,
		Verify: func(ctx context.Context, peer string, raw []byte) (*federation.Envelope, error) {
			return v.Verify(ctx, raw, peer)
		},
	}
	dir := f.manifest.TLSDirectory()
	srv := httptest.NewUnstartedServer(mtls.Middleware(dir)(ms))
	if wrap != nil {
		srv.Config.Handler = wrap(srv.Config.Handler)
	}
	srv.TLS = mtls.ServerConfig(f.certs["XB-RC"].TLS, dir)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		// A small receive buffer, as a slow link's window: see proxyBuffer.
		if tc, ok := c.(*tls.Conn); ok && st == http.StateNew {
			if nc, ok := tc.NetConn().(*net.TCPConn); ok {
				nc.SetReadBuffer(proxyBuffer)
			}
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &receiver{Server: srv, media: ms, store: s}
}

// client is member's mTLS client to XB-RC.
func (f *fed) client(member string) *http.Client {
	c := mtls.NewClient(f.certs[member].TLS, f.manifest.TLSDirectory(), "XB-RC", 0)
	return c
}

// message is a video message body from iss with ref as its media.
func videoMessage(iss string, ref Ref) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"schema": "flx/v1/message", "message_id": iss + ":VID-1", "case_id": iss + ":CASE-1",
		"kind": "video_message", "channel": "video", "created_at": "2031-03-14T09:00:00Z",
		"media": map[string]any{
			"sha256": ref.SHA256.String(), "media_type": "video/mp4", "size_bytes": ref.Size, "duration_seconds": 92.5,
			"chunk_bytes": ref.ChunkBytes, "chunks_sha256": ref.ChunksRoot.String(),
		},
	})
	return b
}

// envelope signs a message.deliver from iss to aud with body.
func (f *fed) envelope(t testing.TB, iss, aud string, body json.RawMessage) []byte {
	t.Helper()
	var head struct {
		CaseID string `json:"case_id"`
	}
	json.Unmarshal(body, &head)
	now := time.Now()
	raw, err := federation.Sign(federation.Claims{
		Issuer: iss, Audience: aud, IssuedAt: now, ExpiresAt: now.Add(time.Hour), JTI: federation.NewJTI(),
		Kind: federation.KindMessageDeliver, CaseID: head.CaseID, Body: body,
	}, f.keys[iss])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// media is test media with its reference.
type media struct {
	data   []byte
	ref    Ref
	hashes HashList
}

func newMedia(t testing.TB, seed uint64, size int, chunk int64) media {
	t.Helper()
	data := randomBytes(seed, size)
	ref, h, err := Describe(bytes.NewReader(data), chunk)
	if err != nil {
		t.Fatal(err)
	}
	return media{data, ref, h}
}

func offerJSON(env []byte, h HashList) []byte {
	b, _ := json.Marshal(offerBody{Envelope: string(env), ChunkHashes: base64.RawURLEncoding.EncodeToString(h.Bytes())})
	return b
}

// reply is an answer, read whole.
type reply struct {
	status int
	header http.Header
	code   string
	body   []byte
}

func do(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if br, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(br.Len())
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p problem.Problem
	json.Unmarshal(b, &p)
	if resp.StatusCode >= 400 && method != http.MethodHead {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: %d with Content-Type %q, want a problem document", method, url, resp.StatusCode, ct)
		}
		if p.Status != resp.StatusCode || p.Type != "urn:flx:problem:"+string(p.Code) {
			t.Errorf("%s %s: problem %+v does not match status %d", method, url, p, resp.StatusCode)
		}
	}
	return reply{resp.StatusCode, resp.Header, string(p.Code), b}
}

func (r *receiver) offer(t testing.TB, c *http.Client, env []byte, h HashList) reply {
	t.Helper()
	return do(t, c, http.MethodPost, r.URL+UploadsPath, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(offerJSON(env, h)))
}

func (r *receiver) patch(t testing.TB, c *http.Client, loc string, off int64, body []byte) reply {
	t.Helper()
	return do(t, c, http.MethodPatch, r.URL+loc, map[string]string{"Content-Type": ContentTypeChunks, HeaderOffset: itoa(off)}, bytes.NewReader(body))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
