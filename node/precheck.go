package node

import (
	"context"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
)

// peerCache keeps what each peer declared at /.well-known/flx, so that a
// send is checked against it before it is queued (precheck).
type peerCache struct {
	mu sync.Mutex
	m  map[string]peerEntry
}

type peerEntry struct {
	md  federation.PeerMetadata
	ok  bool // fetched; false: the peer did not answer at fetched
	at  time.Time
	err string
}

// How long a peer's metadata is trusted, and how long a failed fetch is
// remembered (the send then falls back to the manifest and the default
// limit), and how long a caseworker's send may wait for it.
const (
	peerMetadataTTL     = 10 * time.Minute
	peerMetadataFailTTL = time.Minute
	peerMetadataTimeout = 2 * time.Second
)

// peerMetadata returns to's metadata, from the cache or fetched; ok is
// false when it could not be had.
func (n *Node) peerMetadata(ctx context.Context, to string) (federation.PeerMetadata, bool) {
	now := n.o.Now()
	n.peers.mu.Lock()
	e, hit := n.peers.m[to]
	n.peers.mu.Unlock()
	if hit && ((e.ok && now.Sub(e.at) < peerMetadataTTL) || (!e.ok && now.Sub(e.at) < peerMetadataFailTTL)) {
		return e.md, e.ok
	}
	md, err := n.client.Metadata(ctx, to, peerMetadataTimeout)
	e = peerEntry{md: md, ok: err == nil, at: now}
	if err != nil {
		e.err = err.Error()
		n.log.Info("peer metadata unavailable; checking sends against the manifest and the default limit", "member", to, "err", err)
	}
	n.peers.mu.Lock()
	if n.peers.m == nil {
		n.peers.m = map[string]peerEntry{}
	}
	n.peers.m[to] = e
	n.peers.mu.Unlock()
	return e.md, e.ok
}

// envelopeSize is an upper bound of the compact JWS carrying body: the
// claims around it (at most a few hundred bytes), base64url, the header
// and an EdDSA or ES256 signature.
func envelopeSize(body []byte) int64 {
	payload := int64(len(body)) + 400
	return (payload*4+2)/3 + 200
}

// precheck refuses, before anything is recorded or queued, a send the
// destination declares it cannot take: a kind it does not accept, or an
// envelope larger than its body limit (its metadata's, else the default
// 1 MiB).
func (n *Node) precheck(ctx context.Context, to string, kind federation.Kind, body []byte) error {
	limit := int64(federation.DefaultMaxBodyBytes)
	md, ok := n.peerMetadata(ctx, to)
	if ok {
		if md.Limits.MaxBodyBytes > 0 {
			limit = md.Limits.MaxBodyBytes
		}
		if len(md.Accepts) > 0 && !contains(md.Accepts, string(kind)) {
			return errf(CodeUnsupportedKind, "%s declares (at %s) that it accepts %v, not %s: nothing was queued", to, federation.MetadataPath, md.Accepts, kind)
		}
	}
	if size := envelopeSize(body); size > limit {
		src := "the protocol's default limit"
		if ok && md.Limits.MaxBodyBytes > 0 {
			src = "its declared limit (" + federation.MetadataPath + ")"
		}
		return errf(CodeTooLarge, "the %s envelope for %s would be about %d bytes, over %s of %d bytes: nothing was queued; shorten the notes or send media by reference", kind, to, size, src, limit)
	}
	return nil
}
