package conformance

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// Env is what checks work with: the tester's identity, its HTTP clients
// towards the candidate (one per tester certificate), the tester's listener
// and the trigger client. A T embeds it.
type Env struct {
	ctx       context.Context
	id        *Identity
	target    *url.URL
	candidate string
	dir       mtls.Directory // trusts the conformance CA; pins the candidate
	quiet     time.Duration
	patience  time.Duration

	clients *sync.Map // cert name -> *http.Client
	// clockOffset is the candidate's clock minus ours, from its Date header.
	clockOffset time.Duration
	skew        time.Duration // the candidate's advertised SKEW
	maxBody     int64         // the candidate's advertised MAX_BODY
	// requestTimeout is the candidate's declared delivery request timeout
	// (settings; 120 s when not declared).
	requestTimeout time.Duration

	listener *Listener
	trigger  *triggerClient
	manifest *manifestWriter // nil unless manifest mode is enabled
	shared   *sharedState
}

// sharedState holds results that several checks reuse within one run.
type sharedState struct {
	mu        sync.Mutex
	scenarios map[string]*scenario
}

func newEnv(ctx context.Context, cfg Config) (*Env, error) {
	id, err := Load(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cand := id.Candidate()
	target := cfg.Target
	if target == "" {
		target = cand.Endpoint
	}
	u, err := url.Parse(strings.TrimRight(target, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("conformance: target %q is not an https URL", target)
	}
	pins := map[string]string{}
	for _, p := range cand.TLSSPKISHA256 {
		pins[p] = cand.ID
	}
	env := &Env{
		ctx: ctx, id: id, target: u, candidate: cand.ID,
		dir:   mtls.NewStatic(id.Manifest.RootCAs(), pins),
		quiet: cfg.Quiet, patience: cfg.Patience,
		clients: &sync.Map{},
		skew:    federation.DefaultSkew, maxBody: 1 << 20, requestTimeout: id.Settings.RequestTimeout(),
		shared: &sharedState{scenarios: map[string]*scenario{}},
	}
	env.listener, err = startListener(id, cfg.Quiet)
	if err != nil {
		return nil, err
	}
	if cfg.TriggerURL != "" {
		tok := cfg.TriggerToken
		if tok == "" {
			tok = id.TriggerToken
		}
		env.trigger = &triggerClient{base: strings.TrimRight(cfg.TriggerURL, "/"), token: tok, hc: &http.Client{Timeout: 30 * time.Second}}
	}
	if cfg.ManifestFile != "" {
		if env.manifest, err = newManifestWriter(id, cfg.ManifestFile, cfg.ManifestRefresh); err != nil {
			env.listener.Close()
			return nil, err
		}
	}
	env.probe()
	return env, nil
}

// probe reads the candidate's metadata for its clock, SKEW and MAX_BODY.
// Failures are left to the metadata check to report.
func (env *Env) probe() {
	ans, err := env.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil || ans.Status != http.StatusOK {
		return
	}
	if d, err := http.ParseTime(ans.Header.Get("Date")); err == nil {
		// Date has whole seconds: the offset is only meaningful beyond 1 s.
		if off := d.Sub(ans.At.Truncate(time.Second)); off > 2*time.Second || off < -2*time.Second {
			env.clockOffset = off
		}
	}
	if md, err := ParseMetadata(ans.Body); err == nil {
		if md.Limits.ClockSkewSeconds >= 30 && md.Limits.ClockSkewSeconds <= 300 {
			env.skew = time.Duration(md.Limits.ClockSkewSeconds) * time.Second
		}
		if md.Limits.MaxBodyBytes >= 1<<20 && md.Limits.MaxBodyBytes <= 64<<20 {
			env.maxBody = md.Limits.MaxBodyBytes
		}
	}
}

func (env *Env) with(ctx context.Context) *Env {
	c := *env
	c.ctx = ctx
	return &c
}

// Close stops the tester's listener and idle connections.
func (env *Env) Close() {
	env.listener.Close()
	env.clients.Range(func(_, v any) bool {
		v.(*http.Client).CloseIdleConnections()
		return true
	})
}

// now is the candidate's clock as estimated from its Date header.
func (env *Env) now() time.Time { return time.Now().Add(env.clockOffset) }

// client returns the mTLS client presenting the named tester certificate
// ("" presents none).
func (env *Env) client(cert string) *http.Client {
	if c, ok := env.clients.Load(cert); ok {
		return c.(*http.Client)
	}
	var c *http.Client
	if cert == "" {
		cfg := mtls.ClientConfig(tls.Certificate{}, env.dir, env.candidate)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
		c = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	} else {
		c = mtls.NewClient(env.id.Certs[cert], env.dir, env.candidate, 30*time.Second)
	}
	actual, _ := env.clients.LoadOrStore(cert, c)
	return actual.(*http.Client)
}

// Answer is the candidate's answer to one request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
	At     time.Time // when the answer arrived (tester clock)
}

func (a *Answer) String() string {
	if a == nil {
		return "no answer"
	}
	b := a.Body
	if len(b) > 300 {
		b = append(b[:300:300], "..."...)
	}
	return fmt.Sprintf("HTTP %d %s", a.Status, bytes.TrimSpace(b))
}

// request sends one request to the candidate's federation listener.
func (env *Env) request(cert, method, path string, body []byte, contentType string) (*Answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(env.ctx, method, env.target.String()+path, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return doAnswer(env.client(cert), req)
}

// doAnswer does req with hc and reads the answer (at most 1 MiB of its
// body), timed when it was read.
func doAnswer(hc *http.Client, req *http.Request) (*Answer, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b, At: time.Now()}, nil
}

// post submits an envelope as the tester (certificate "tester").
func (env *Env) post(t TB, raw []byte) *Answer {
	t.Helper()
	return env.postAs(t, certTester, raw, "application/jose")
}

// postAs submits a body with a given certificate and content type; a
// transport failure fails the check.
func (env *Env) postAs(t TB, cert string, raw []byte, contentType string) *Answer {
	t.Helper()
	ans, err := env.request(cert, http.MethodPost, "/flx/v1/envelopes", raw, contentType)
	if err != nil {
		t.Fatalf("POST /flx/v1/envelopes: %v", err)
	}
	return ans
}
