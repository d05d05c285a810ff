package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MetadataPath is where a node declares itself on its federation listener.
const MetadataPath = "/.well-known/flx"

// DefaultMaxBodyBytes is the envelope size every node accepts when it
// declares no other (SPEC.md: bodies over the limit, 1 MiB by default, are
// refused before parsing).
const DefaultMaxBodyBytes = 1 << 20

// PeerMetadata is the part of a peer's GET /.well-known/flx a sender
// checks before queueing: the kinds it accepts and its body limit.
type PeerMetadata struct {
	Member  string   `json:"member"`
	Accepts []string `json:"accepts"`
	Limits  struct {
		MaxBodyBytes int64 `json:"max_body_bytes"`
	} `json:"limits"`
}

// maxMetadataBytes bounds a metadata answer.
const maxMetadataBytes = 64 << 10

// Metadata fetches member to's metadata over mutually authenticated TLS,
// within timeout (the client's when zero). The answer must name to.
func (c *Client) Metadata(ctx context.Context, to string, timeout time.Duration) (PeerMetadata, error) {
	m := c.Manifest.Current()
	if m == nil {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: no manifest held", to)
	}
	mb, ok := m.Member(to)
	if !ok {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: not a member", to)
	}
	if timeout <= 0 {
		timeout = c.timeout()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(mb.Endpoint, "/")+MetadataPath, nil)
	if err != nil {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: %w", to, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpClient(to).Do(req)
	if err != nil {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: %w", to, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: HTTP %d", to, resp.StatusCode)
	}
	var md PeerMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadataBytes)).Decode(&md); err != nil {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s: %w", to, err)
	}
	if md.Member != to {
		return PeerMetadata{}, fmt.Errorf("federation: metadata of %s names %q", to, md.Member)
	}
	return md, nil
}
