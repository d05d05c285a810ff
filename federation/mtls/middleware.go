package mtls

import (
	"context"
	"encoding/json"
	"net/http"
)

// Problem details for a request without an authenticated peer.
const (
	CodeUnauthenticatedPeer        = "unauthenticated_peer"
	ProblemTypeUnauthenticatedPeer = "urn:flx:problem:unauthenticated_peer"
)

type peerKey struct{}

// ContextWithPeer returns ctx carrying memberID as the authenticated peer. It
// is what [Middleware] does; use it in tests of handlers, or for an
// authentication other than mTLS.
func ContextWithPeer(ctx context.Context, memberID string) context.Context {
	return context.WithValue(ctx, peerKey{}, memberID)
}

// PeerFromContext returns the member authenticated by [Middleware].
func PeerFromContext(ctx context.Context) (memberID string, ok bool) {
	memberID, ok = ctx.Value(peerKey{}).(string)
	return memberID, ok && memberID != ""
}

// Middleware returns a wrapper that puts the peer member in the request context
// (see [PeerFromContext]) before calling next, or answers 401 with an RFC 9457
// problem (code unauthenticated_peer) if there is none.
//
// The handshake was verified by the listener's [ServerConfig]; on every request
// the middleware checks again, against dir as it stands now, that the leaf
// certificate is inside its validity period and that its pin still belongs to
// an active member. A member removed or suspended by a new manifest is thus
// refused on connections it already holds, from its next request. (The chain
// is not verified again per request; a CA removed from the manifest takes
// effect at the next handshake.) Wrap the whole router, so that 404 and 405
// answers are not given to unauthenticated peers either.
func Middleware(dir Directory, opts ...Option) func(http.Handler) http.Handler {
	o := buildOptions(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || !r.TLS.HandshakeComplete || len(r.TLS.PeerCertificates) == 0 {
				writeUnauthenticated(w, "a client certificate of a federation member is required")
				return
			}
			d := snapshot(dir)
			if d == nil {
				writeUnauthenticated(w, "no federation directory is loaded")
				return
			}
			member, err := resolve(d, r.TLS.PeerCertificates[0], o.now())
			if err != nil {
				writeUnauthenticated(w, "the client certificate does not belong to an active federation member")
				return
			}
			next.ServeHTTP(w, r.WithContext(ContextWithPeer(r.Context(), member)))
		})
	}
}

// problem is the RFC 9457 body. The node has a richer writer; this one only
// answers unauthenticated peers.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

func writeUnauthenticated(w http.ResponseWriter, detail string) {
	body, _ := json.Marshal(problem{
		Type:   ProblemTypeUnauthenticatedPeer,
		Title:  "Unauthenticated peer",
		Status: http.StatusUnauthorized,
		Detail: detail,
		Code:   CodeUnauthenticatedPeer,
	})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(append(body, '\n'))
}
