package httpapi

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/federation/pull"
	"github.com/familylinks/flx/node"
)

// FederationHandler serves the federation API. It must run behind a TLS
// listener built with mtls.ServerConfig: the whole router (404 and 405
// included) is wrapped in mtls.Middleware, so nothing is served to an
// unauthenticated peer.
func FederationHandler(n *node.Node, dir mtls.Directory, log *slog.Logger, opts ...FederationOption) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &fedAPI{n: n, log: log, maxInFlight: DefaultMaxInFlight}
	for _, o := range opts {
		o(f)
	}
	r := mux.NewRouter()
	// No path cleaning: mux would answer "//flx/v1/envelopes" or
	// "/flx/v1/./envelopes" with a 301, and the federation API never
	// redirects (FLX-API-006); such paths are simply not found.
	r.SkipClean(true)
	r.HandleFunc("/.well-known/flx", f.metadata).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/flx/v1/envelopes", f.envelopes).Methods(http.MethodPost)
	// The media wire (SPEC §18): the media server routes and refuses below
	// its prefix itself, paths compared as sent.
	if h := n.MediaHandler(); h != nil {
		r.PathPrefix("/flx/v1/media/").Handler(h)
	}
	r.HandleFunc("/flx/v1/batches", f.batches).Methods(http.MethodPost)
	// Pull (SPEC.md §15): the node serves the queues of members that pull.
	pullH := n.PullHandler()
	r.Handle(pull.PathPull, pullH).Methods(http.MethodGet)
	r.Handle(pull.PathAck, pullH).Methods(http.MethodPost)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem.NotFound, "no such federation resource")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		allow := "POST"
		switch req.URL.Path {
		case "/.well-known/flx":
			allow = "GET, HEAD"
		case pull.PathPull:
			allow = "GET"
		}
		w.Header().Set("Allow", allow)
		writeProblem(w, problem.MethodNotAllowed, "allowed: "+allow)
	})
	bounded := &inflight{max: f.maxInFlight, busy: map[string]int{}, next: asSent(r, r.NotFoundHandler)}
	return mtls.Middleware(dir)(bounded)
}

// asSent answers a path written with percent escapes (an escaped letter,
// an encoded slash) as not found: paths are compared as sent (FLX-API-004),
// and the router matches the decoded path. No federation path needs one.
func asSent(h, notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.RawPath != "" || strings.IndexByte(req.URL.Path, '%') >= 0 {
			notFound.ServeHTTP(w, req)
			return
		}
		h.ServeHTTP(w, req)
	})
}

type fedAPI struct {
	n           *node.Node
	log         *slog.Logger
	readTimeout time.Duration // 0: the server's
	maxInFlight int           // per member (FLX-LIM-005)
}

// FederationOption configures FederationHandler.
type FederationOption func(*fedAPI)

// WithReadTimeout bounds reading each request's body: a body not read in
// time is answered 408 request_timeout (retried by senders), never
// bad_envelope. The server's ReadTimeout should exceed it, so that the
// handler, not the connection, notices first.
func WithReadTimeout(d time.Duration) FederationOption {
	return func(f *fedAPI) { f.readTimeout = d }
}

// Metadata is the body of GET /.well-known/flx.
type Metadata struct {
	Member           string         `json:"member"`
	ProtocolVersions []string       `json:"protocol_versions"`
	SchemaVersions   []string       `json:"schema_versions"`
	Limits           MetadataLimits `json:"limits"`
	Accepts          []string       `json:"accepts"`
	Manifest         *ManifestRef   `json:"manifest,omitempty"`
}

// MetadataLimits are the limits a peer must respect.
type MetadataLimits struct {
	MaxBodyBytes      int64 `json:"max_body_bytes"`
	ClockSkewSeconds  int64 `json:"clock_skew_seconds"`
	MaxBatchEnvelopes int   `json:"max_batch_envelopes"`
	MaxBatchBytes     int64 `json:"max_batch_bytes"`
	// MaxMediaBytes is the largest attached media of one message (SPEC §18);
	// absent when the node takes no attached media.
	MaxMediaBytes int64 `json:"max_media_bytes,omitempty"`
}

// ManifestRef names the manifest a node holds.
type ManifestRef struct {
	Federation string `json:"federation"`
	Version    int64  `json:"version"`
}

func (f *fedAPI) metadata(w http.ResponseWriter, _ *http.Request) {
	md := Metadata{
		Member: f.n.Self(), ProtocolVersions: []string{"flx/1"}, SchemaVersions: []string{"1"},
		Limits: MetadataLimits{MaxBodyBytes: f.n.MaxBodyBytes(), ClockSkewSeconds: int64(f.n.Skew().Seconds()),
			MaxBatchEnvelopes: f.n.MaxBatchEnvelopes(), MaxBatchBytes: f.n.MaxBatchBytes()},
		Accepts: []string{},
	}
	if lim, ok := f.n.MediaLimits(); ok {
		md.Limits.MaxMediaBytes = lim.MaxMediaBytes
	}
	if m := f.n.Manifest(); m != nil {
		md.Manifest = &ManifestRef{Federation: m.Federation, Version: m.Version}
		if self, ok := m.Member(f.n.Self()); ok {
			for _, k := range self.Accepts {
				md.Accepts = append(md.Accepts, string(k))
			}
		}
	}
	writeJSON(w, http.StatusOK, md)
}

func (f *fedAPI) envelopes(w http.ResponseWriter, r *http.Request) {
	peer, ok := mtls.PeerFromContext(r.Context())
	if !ok { // the middleware already refused; belt and braces
		writeProblem(w, problem.UnauthenticatedPeer, "")
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "application/jose") {
		f.refuse(w, peer, problem.New(problem.BadEnvelope, "Content-Type must be application/jose"))
		return
	}
	limit := f.n.MaxBodyBytes()
	if r.ContentLength > limit {
		f.refuse(w, peer, problem.New(problem.TooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes"))
		return
	}
	body, perr := f.readBody(w, r, limit)
	if perr != nil {
		f.refuse(w, peer, perr)
		return
	}
	res, err := f.n.Receive(r.Context(), peer, body)
	if err != nil {
		f.refuse(w, peer, problem.As(err))
		return
	}
	w.Header().Set("Content-Type", "application/jose")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	w.Write(res.Receipt)
}

// readBody reads a request body of at most limit bytes within the read
// timeout. A body over the limit is too_large; one that did not arrive in
// time, or broke off, is request_timeout (408, retried: a slow or cut link
// is not a bad envelope).
func (f *fedAPI) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *problem.Error) {
	if f.readTimeout > 0 {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(f.readTimeout))
		// The answer must still go out after a read that timed out.
		_ = rc.SetWriteDeadline(time.Now().Add(f.readTimeout + 30*time.Second))
	}
	body, err := federation.ReadAtMost(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, problem.New(problem.TooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
	case err != nil:
		w.Header().Set("Connection", "close")
		return nil, problem.New(problem.RequestTimeout, "the body was not received in time or broke off; send it again")
	}
	return body, nil
}

// batches receives a batch (SPEC.md §6.5): 200 with one result per
// envelope, each 202 with its receipt or the refusal it would have got
// alone; the batch as a whole is refused only when it cannot be read, is
// over the limits, or cannot be stored.
func (f *fedAPI) batches(w http.ResponseWriter, r *http.Request) {
	peer, ok := mtls.PeerFromContext(r.Context())
	if !ok {
		writeProblem(w, problem.UnauthenticatedPeer, "")
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, federation.BatchMediaType) {
		f.refuse(w, peer, problem.New(problem.BadEnvelope, "Content-Type must be "+federation.BatchMediaType))
		return
	}
	limit := f.n.MaxBatchBytes()
	if r.ContentLength > limit {
		f.refuse(w, peer, problem.New(problem.TooLarge, "batch larger than "+strconv.FormatInt(limit, 10)+" bytes"))
		return
	}
	body, perr := f.readBody(w, r, limit)
	if perr != nil {
		f.refuse(w, peer, perr)
		return
	}
	raws, err := federation.ParseBatchRequest(body, f.n.MaxBatchEnvelopes())
	if err != nil {
		f.refuse(w, peer, problem.As(err))
		return
	}
	items, err := f.n.ReceiveBatch(r.Context(), peer, raws)
	if err != nil {
		f.refuse(w, peer, problem.As(err))
		return
	}
	ans := federation.BatchAnswer{Results: make([]federation.BatchResult, len(items))}
	for i, it := range items {
		if it.Err != nil {
			p := it.Err.Problem()
			ans.Results[i] = federation.BatchResult{Status: p.Status, Problem: p}
			continue
		}
		ans.Results[i] = federation.BatchResult{Status: http.StatusAccepted, Receipt: string(it.Receipt)}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, ans)
}

func (f *fedAPI) refuse(w http.ResponseWriter, peer string, e *problem.Error) {
	if e.Code.HTTPStatus() >= 500 {
		f.log.Error("receive failed", "peer", peer, "code", e.Code, "err", e.Err)
	} else {
		f.log.Info("envelope refused", "peer", peer, "code", e.Code)
	}
	switch e.Code.HTTPStatus() {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "30")
	case http.StatusTooManyRequests: // match queries past a member's bucket (FLX-MAT-007)
		w.Header().Set("Retry-After", "60")
	}
	e.Problem().Write(w)
}
