package trust

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
	"github.com/familylinks/flx/node/store"
)

// MaxManifestBytes bounds a fetched manifest.
const MaxManifestBytes = 8 << 20

// ErrNoManifest: no usable manifest is held (none loaded, or it expired).
var ErrNoManifest = errors.New("trust: no usable federation manifest")

// Store is the part of the node store trust needs.
type Store interface {
	SaveManifest(ctx context.Context, m store.Manifest) error
	LatestManifest(ctx context.Context) (store.Manifest, error)
}

// Options configure New.
type Options struct {
	Anchor *jose.PublicKey // pinned trust anchor key (required)
	// Skew is the node's clock tolerance (SPEC.md SKEW) for the manifest's
	// issued_at and expires_at; 0 means federation.DefaultSkew.
	Skew   time.Duration
	Source string // manifest file path or https:// URL (required)
	Store  Store  // last-good history (required)
	Logger *slog.Logger
	Now    func() time.Time
	Client *http.Client // for https sources; default: 30s timeout
}

// Trust holds the current manifest. It is safe for concurrent use.
type Trust struct {
	opts   Options
	holder *federation.ManifestHolder
	mu     sync.Mutex // serialises Refresh
	lastOK time.Time
	lastEr error
}

// New loads the last good manifest from the store, then refreshes from the
// source. It fails only if neither gives a valid manifest.
func New(ctx context.Context, o Options) (*Trust, error) {
	if o.Anchor == nil || o.Source == "" || o.Store == nil {
		return nil, errors.New("trust.New: anchor, source and store are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	t := &Trust{opts: o, holder: federation.NewManifestHolder(o.Anchor, nil).WithSkew(o.Skew)}
	if held, err := o.Store.LatestManifest(ctx); err == nil {
		if _, err := t.holder.Update(held.Raw, o.Now()); err != nil {
			// An expired or otherwise unusable stored manifest is not fatal:
			// the source may have a newer one.
			o.Logger.Warn("stored manifest not usable", "version", held.Version, "err", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("trust.New: %w", err)
	}
	if _, err := t.Refresh(ctx); err != nil && t.holder.Current() == nil {
		return nil, fmt.Errorf("trust.New: %w", err)
	} else if err != nil {
		o.Logger.Warn("manifest source not usable; keeping the last good manifest", "err", err)
	}
	return t, nil
}

// Current returns the manifest held (a federation.ManifestSource).
func (t *Trust) Current() *federation.Manifest { return t.holder.Current() }

// Usable returns nil when a manifest is held and has not expired, with the
// clock skew that adopting it allowed (SPEC.md FLX-MAN-006: expired once
// expires_at is at or before now - SKEW).
func (t *Trust) Usable() error {
	m := t.holder.Current()
	if m == nil {
		return ErrNoManifest
	}
	if m.ExpiredAt(t.opts.Now(), t.opts.Skew) {
		return fmt.Errorf("%w: version %d expired at %s", ErrNoManifest, m.Version, m.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

// Refresh reads the source and adopts its manifest if it verifies against
// the held one. changed reports a newly adopted version.
func (t *Trust) Refresh(ctx context.Context) (changed bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { t.lastEr = err }()
	raw, err := t.fetch(ctx)
	if err != nil {
		return false, err
	}
	before := t.holder.Current()
	m, err := t.holder.Update(raw, t.opts.Now())
	if err != nil {
		return false, fmt.Errorf("trust: manifest from %s refused: %w", t.opts.Source, err)
	}
	t.lastOK = t.opts.Now()
	if before != nil && before.Version == m.Version {
		return false, nil
	}
	sum := sha256.Sum256(m.Raw())
	err = t.opts.Store.SaveManifest(ctx, store.Manifest{Version: m.Version, Raw: m.Raw(), SHA256: hex.EncodeToString(sum[:]), FetchedAt: t.opts.Now()})
	if err != nil && !errors.Is(err, store.ErrDuplicate) {
		return true, fmt.Errorf("trust: keep manifest version %d: %w", m.Version, err)
	}
	t.opts.Logger.Info("federation manifest adopted", "federation", m.Federation, "version", m.Version, "expires_at", m.ExpiresAt)
	return true, nil
}

func (t *Trust) fetch(ctx context.Context) ([]byte, error) {
	src := t.opts.Source
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("trust: %w", err)
		}
		resp, err := t.opts.Client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("trust: fetch manifest: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("trust: fetch manifest: %s answered %s", src, resp.Status)
		}
		return readLimited(resp.Body)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	defer f.Close()
	return readLimited(f)
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("trust: read manifest: %w", err)
	}
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("trust: manifest larger than %d bytes", MaxManifestBytes)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// Run refreshes every interval until ctx ends. Failures keep the last good
// manifest and are logged.
func (t *Trust) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
				t.opts.Logger.Warn("manifest refresh failed; keeping the last good manifest", "err", err)
			}
		}
	}
}

// Status is what operators see about the manifest.
type Status struct {
	Federation  string    `json:"federation"`
	Version     int64     `json:"version"`
	ExpiresAt   time.Time `json:"expires_at"`
	Source      string    `json:"source"`
	LastRefresh time.Time `json:"last_refresh,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// Status reports the held manifest and the last refresh.
func (t *Trust) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Status{Source: t.opts.Source, LastRefresh: t.lastOK}
	if t.lastEr != nil {
		s.LastError = t.lastEr.Error()
	}
	if m := t.holder.Current(); m != nil {
		s.Federation, s.Version, s.ExpiresAt = m.Federation, m.Version, m.ExpiresAt
	}
	return s
}

// Directory returns the TLS view of whatever manifest is current at each
// call (mtls.Directory and mtls.Snapshotter).
func (t *Trust) Directory() mtls.Directory { return directory{t} }

type directory struct{ t *Trust }

func (d directory) Snapshot() mtls.Directory {
	m := d.t.holder.Current()
	if m == nil || d.t.Usable() != nil {
		return empty{}
	}
	return m.TLSDirectory()
}

func (d directory) RootCAs() *x509.CertPool { return d.Snapshot().RootCAs() }

func (d directory) MemberBySPKI(pin string) (string, bool) { return d.Snapshot().MemberBySPKI(pin) }

// empty trusts nothing.
type empty struct{}

func (empty) RootCAs() *x509.CertPool            { return nil }
func (empty) MemberBySPKI(string) (string, bool) { return "", false }
