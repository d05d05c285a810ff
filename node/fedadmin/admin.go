package fedadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
)

// Defaults of InitConfig and of re-signing.
const (
	DefaultCertValidity     = 365 * 24 * time.Hour     // member TLS certificates
	DefaultCAValidity       = 5 * 365 * 24 * time.Hour // the development CA
	DefaultManifestValidity = 30 * 24 * time.Hour      // issued_at to expires_at
	DefaultOverlap          = 72 * time.Hour           // old key kept after a rotation
)

// Option tunes Init and Open.
type Option func(*options)

type options struct {
	now              func() time.Time
	anchorKey        string
	manifestValidity time.Duration
	certValidity     time.Duration
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithAnchorKey reads the trust anchor's private key from path instead of
// OUT/anchor/anchor.jwk (for an anchor kept offline).
func WithAnchorKey(path string) Option { return func(o *options) { o.anchorKey = path } }

// WithManifestValidity overrides, for manifests signed by this Admin, the
// validity stored in federation.json.
func WithManifestValidity(d time.Duration) Option {
	return func(o *options) { o.manifestValidity = d }
}

// WithCertValidity overrides, for certificates issued by this Admin, the
// validity stored in federation.json.
func WithCertValidity(d time.Duration) Option { return func(o *options) { o.certValidity = d } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Admin changes one federation directory. It is not safe for concurrent
// use, nor for two processes on one directory at once.
type Admin struct {
	dir       string
	o         options
	anchor    *jose.PrivateKey
	anchorPub *jose.PublicKey
	settings  Settings
	cur       *federation.Manifest
	expired   bool
}

// Change is the outcome of a re-signing.
type Change struct {
	// Manifest is the new manifest, as verified after signing.
	Manifest *federation.Manifest
	// Distributed lists the members whose data/trust/manifest.jws was
	// replaced; Missing those without a folder under members/ (hand them
	// OUT/manifest.jws, or publish it where their nodes fetch it).
	Distributed []string
	Missing     []string
}

// Dir returns the federation directory.
func (a *Admin) Dir() string { return a.dir }

// Manifest returns the current verified manifest.
func (a *Admin) Manifest() *federation.Manifest { return a.cur }

// Expired reports whether the current manifest had expired when it was
// opened (nodes refuse it; any change, or Renew, signs a fresh one).
func (a *Admin) Expired() bool { return a.expired }

// InitConfig describes a new federation.
type InitConfig struct {
	Name             string
	Members          []MemberSpec
	CertValidity     time.Duration // default DefaultCertValidity
	CAValidity       time.Duration // default DefaultCAValidity
	ManifestValidity time.Duration // default DefaultManifestValidity
	Alg              jose.Alg      // anchor and signing keys; default EdDSA
	// Force replaces a federation directory made by Init (destroying its
	// trust anchor key). Without it a non-empty directory is refused.
	Force bool
}

func (c *InitConfig) defaults() {
	if c.CertValidity == 0 {
		c.CertValidity = DefaultCertValidity
	}
	if c.CAValidity == 0 {
		c.CAValidity = DefaultCAValidity
	}
	if c.ManifestValidity == 0 {
		c.ManifestValidity = DefaultManifestValidity
	}
	if c.Alg == "" {
		c.Alg = jose.EdDSA
	}
}

func (c *InitConfig) validate() error {
	var errs []error
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, errors.New("federation name is empty"))
	}
	if len(c.Members) == 0 {
		errs = append(errs, errors.New("no members: give at least one --member ID:COUNTRY:ROLE:ENDPOINT"))
	}
	if !c.Alg.Supported() {
		errs = append(errs, fmt.Errorf("alg %q is not EdDSA or ES256", c.Alg))
	}
	if c.CertValidity < 0 || c.CAValidity < 0 || c.ManifestValidity < 0 {
		errs = append(errs, errors.New("validity periods must be positive"))
	}
	if c.ManifestValidity > 0 && c.ManifestValidity < time.Hour {
		errs = append(errs, fmt.Errorf("manifest validity %s is under an hour: nodes would hold an expired manifest between refreshes", c.ManifestValidity))
	}
	if c.CAValidity < c.CertValidity {
		errs = append(errs, fmt.Errorf("CA validity %s is shorter than the certificate validity %s", c.CAValidity, c.CertValidity))
	}
	seen := map[string]bool{}
	endpoints := map[string]string{}
	for _, s := range c.Members {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.ID] {
			errs = append(errs, fmt.Errorf("member %s: given twice", s.ID))
		}
		seen[s.ID] = true
		endpoints[s.ID] = s.Endpoint
	}
	if err := checkEndpoints(endpoints); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Init creates a federation in dir: trust anchor, CA, one folder per member
// and the signed manifest, version 1. dir must be missing or empty, or
// (with Force) a federation directory made by Init. On failure it removes
// what it wrote.
func Init(dir string, cfg InitConfig, opts ...Option) (a *Admin, ch *Change, err error) {
	o := buildOptions(opts)
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, nil, fmt.Errorf("federation init: %w", err)
	}
	if err := prepareDir(dir, cfg.Force); err != nil {
		return nil, nil, fmt.Errorf("federation init: %w", err)
	}
	defer func() {
		if err != nil {
			removeKnown(dir)
			err = fmt.Errorf("federation init: %w", err)
		}
	}()
	now := o.now()

	anchor, err := jose.GenerateKey(cfg.Alg)
	if err != nil {
		return nil, nil, err
	}
	if err := savePrivateKey(fpath(dir, AnchorKeyFile), anchor); err != nil {
		return nil, nil, err
	}
	pubJWK, err := publicJWK(anchor.Public())
	if err != nil {
		return nil, nil, err
	}
	if err := writeNew(fpath(dir, AnchorPubFile), pubJWK, 0o644); err != nil {
		return nil, nil, err
	}
	ca, err := devca.New(cfg.Name+" FLX federation CA", cfg.CAValidity)
	if err != nil {
		return nil, nil, err
	}
	if err := ca.Save(fpath(dir, CADir)); err != nil {
		return nil, nil, err
	}

	a = &Admin{
		dir: dir, o: o, anchor: anchor, anchorPub: anchor.Public(),
		settings: Settings{
			Federation:       cfg.Name,
			Alg:              cfg.Alg,
			CertValidity:     cfg.CertValidity.String(),
			ManifestValidity: cfg.ManifestValidity.String(),
			Members:          map[string]MemberSettings{},
		},
	}
	ports := portAllocator{}
	for _, s := range cfg.Members {
		ports.reserveEndpoint(s.Endpoint)
	}
	members := make([]federation.Member, 0, len(cfg.Members))
	for _, s := range cfg.Members {
		ms := MemberSettings{Hosts: s.Hosts, FederationListen: federationListen(s.Endpoint), LocalAPIListen: ports.next()}
		mb, err := createMember(dir, s, memberMaterial{
			federation: cfg.Name, settings: ms, ca: ca, anchorPub: a.anchorPub,
			alg: cfg.Alg, certValidity: cfg.CertValidity, now: now,
		})
		if err != nil {
			return nil, nil, err
		}
		members = append(members, mb)
		a.settings.Members[s.ID] = ms
	}
	issued := now.UTC().Truncate(time.Second)
	m := &federation.Manifest{
		Federation: cfg.Name,
		Version:    1,
		IssuedAt:   issued,
		ExpiresAt:  issued.Add(cfg.ManifestValidity),
		TLSCAPEM:   []string{string(ca.CertPEM())},
		Members:    members,
	}
	raw, err := federation.SignManifest(m, anchor)
	if err != nil {
		return nil, nil, err
	}
	verified, err := federation.VerifyManifest(raw, a.anchorPub, now, nil)
	if err != nil {
		return nil, nil, err
	}
	if ch, err = a.publish(verified, raw); err != nil {
		return nil, nil, err
	}
	if err := saveSettings(dir, a.settings); err != nil {
		return nil, nil, err
	}
	return a, ch, nil
}

// prepareDir makes dir ready for Init.
func prepareDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, dirPerm)
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("%s is not empty; refusing to overwrite it (use --force to replace a federation made by flx federation init, destroying its trust anchor key)", dir)
	}
	ours := false
	for _, e := range entries {
		if slices.Contains(knownEntries, e.Name()) {
			ours = true
		}
	}
	if !ours {
		return fmt.Errorf("%s is not empty and holds no federation made by flx federation init; refusing even with --force", dir)
	}
	removeKnown(dir)
	return nil
}

func removeKnown(dir string) {
	for _, name := range knownEntries {
		_ = os.RemoveAll(fpath(dir, name))
	}
}

// Open reads a federation directory: the trust anchor's keys (the private
// one from WithAnchorKey's path if given), federation.json and the current
// manifest, which must verify with the anchor (an expired one is accepted so
// that it can be renewed; see Expired).
func Open(dir string, opts ...Option) (*Admin, error) {
	o := buildOptions(opts)
	pub, err := loadPublicKey(fpath(dir, AnchorPubFile))
	if err != nil {
		return nil, fmt.Errorf("federation: trust anchor public key: %w", err)
	}
	keyPath := o.anchorKey
	if keyPath == "" {
		keyPath = fpath(dir, AnchorKeyFile)
	}
	anchor, err := jose.LoadPrivateKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("federation: trust anchor private key (kept offline? pass its path with --anchor-key): %w", err)
	}
	if !anchor.Public().SameKey(pub) || anchor.KID() != pub.KID() {
		return nil, fmt.Errorf("federation: the trust anchor key %s does not match %s", keyPath, fpath(dir, AnchorPubFile))
	}
	raw, err := os.ReadFile(fpath(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	m, expired, err := ReadManifest(raw, pub, o.now())
	if err != nil {
		return nil, fmt.Errorf("federation: %s: %w", ManifestFile, err)
	}
	s, err := loadSettings(dir)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if s.Federation == "" {
		s.Federation = m.Federation
	}
	if s.Federation != m.Federation {
		return nil, fmt.Errorf("federation: %s is for federation %q but the manifest for %q", SettingsFile, s.Federation, m.Federation)
	}
	return &Admin{dir: dir, o: o, anchor: anchor, anchorPub: pub, settings: s, cur: m, expired: expired}, nil
}

// ReadManifest verifies a signed manifest with the trust anchor's public
// key. An expired manifest is still returned, with expired set, once its
// signature and content check out (verified as of its issued_at), so that it
// can be shown and renewed.
func ReadManifest(raw []byte, anchorPub *jose.PublicKey, now time.Time) (m *federation.Manifest, expired bool, err error) {
	m, err = federation.VerifyManifest(raw, anchorPub, now, nil)
	if err == nil || !errors.Is(err, federation.ErrManifestExpired) {
		return m, false, err
	}
	tok, perr := jose.Parse(raw, federation.TypManifest)
	if perr != nil {
		return nil, false, err
	}
	payload, perr := tok.Verify(anchorPub)
	if perr != nil {
		return nil, false, err
	}
	var times struct {
		IssuedAt time.Time `json:"issued_at"`
	}
	if json.Unmarshal(payload, &times) != nil {
		return nil, false, err
	}
	m, err = federation.VerifyManifest(raw, anchorPub, times.IssuedAt, nil)
	if err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// LoadManifest reads and verifies a manifest file with an anchor public key
// file (see ReadManifest).
func LoadManifest(manifestPath, anchorPubPath string, now time.Time) (*federation.Manifest, bool, error) {
	pub, err := loadPublicKey(anchorPubPath)
	if err != nil {
		return nil, false, fmt.Errorf("trust anchor: %w", err)
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, false, err
	}
	m, expired, err := ReadManifest(raw, pub, now)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", manifestPath, err)
	}
	return m, expired, nil
}

func (a *Admin) manifestValidity() time.Duration {
	if a.o.manifestValidity > 0 {
		return a.o.manifestValidity
	}
	return a.settings.manifestValidity()
}

func (a *Admin) certValidity() time.Duration {
	if a.o.certValidity > 0 {
		return a.o.certValidity
	}
	return a.settings.certValidity()
}

// cloneManifest copies the content of m into a new, editable manifest.
func cloneManifest(m *federation.Manifest) *federation.Manifest {
	c := &federation.Manifest{
		Federation: m.Federation,
		Version:    m.Version,
		IssuedAt:   m.IssuedAt,
		ExpiresAt:  m.ExpiresAt,
		TLSCAPEM:   slices.Clone(m.TLSCAPEM),
		Members:    make([]federation.Member, len(m.Members)),
	}
	for i, mb := range m.Members {
		mb.JWKS = slices.Clone(mb.JWKS)
		mb.TLSSPKISHA256 = slices.Clone(mb.TLSSPKISHA256)
		mb.Accepts = slices.Clone(mb.Accepts)
		c.Members[i] = mb
	}
	return c
}

func findMember(m *federation.Manifest, id string) *federation.Member {
	for i := range m.Members {
		if m.Members[i].ID == id {
			return &m.Members[i]
		}
	}
	return nil
}

// resign builds the next manifest: a copy of the current one changed by
// edit, version+1, issued now, expiring after the manifest validity; signs
// it and verifies it against the current one (no rollback).
func (a *Admin) resign(edit func(*federation.Manifest) error) (*federation.Manifest, []byte, error) {
	now := a.o.now()
	next := cloneManifest(a.cur)
	if edit != nil {
		if err := edit(next); err != nil {
			return nil, nil, err
		}
	}
	issued := now.UTC().Truncate(time.Second)
	next.Version = a.cur.Version + 1
	next.IssuedAt = issued
	next.ExpiresAt = issued.Add(a.manifestValidity())
	raw, err := federation.SignManifest(next, a.anchor)
	if err != nil {
		return nil, nil, err
	}
	m, err := federation.VerifyManifest(raw, a.anchorPub, now, a.cur)
	if err != nil {
		return nil, nil, fmt.Errorf("the new manifest does not verify against the current one: %w", err)
	}
	return m, raw, nil
}

// publish writes the manifest to OUT/manifest.jws and then to every member
// folder's data/trust/manifest.jws, each atomically.
func (a *Admin) publish(m *federation.Manifest, raw []byte) (*Change, error) {
	if err := writeAtomic(fpath(a.dir, ManifestFile), raw, 0o644); err != nil {
		return nil, err
	}
	a.cur, a.expired = m, false
	ch := &Change{Manifest: m}
	var errs []error
	for _, mb := range m.Members {
		fi, err := os.Stat(MemberDir(a.dir, mb.ID))
		if err != nil || !fi.IsDir() {
			ch.Missing = append(ch.Missing, mb.ID)
			continue
		}
		if err := writeAtomic(MemberPath(a.dir, mb.ID, MemberManifestFile), raw, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("member %s: %w", mb.ID, err))
			continue
		}
		ch.Distributed = append(ch.Distributed, mb.ID)
	}
	if len(errs) > 0 {
		return ch, fmt.Errorf("manifest version %d written to %s but not to every member: %w", m.Version, ManifestFile, errors.Join(errs...))
	}
	return ch, nil
}

// AddMember creates the member's folder (keys, certificate, configuration,
// policy, tokens) and publishes a manifest listing it.
func (a *Admin) AddMember(spec MemberSpec) (ch *Change, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("federation add-member: %w", err)
		}
	}()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if _, ok := a.cur.Member(spec.ID); ok {
		return nil, fmt.Errorf("member %s is already in the federation", spec.ID)
	}
	endpoints := map[string]string{spec.ID: spec.Endpoint}
	ports := portAllocator{}
	ports.reserveEndpoint(spec.Endpoint)
	for _, mb := range a.cur.Members {
		endpoints[mb.ID] = mb.Endpoint
		ports.reserveEndpoint(mb.Endpoint)
	}
	for _, ms := range a.settings.Members {
		ports.reserve(ms.LocalAPIListen)
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	ca, err := devca.Load(fpath(a.dir, CADir))
	if err != nil {
		return nil, err
	}
	alg := a.settings.Alg
	if !alg.Supported() {
		alg = a.anchor.Alg()
	}
	ms := MemberSettings{Hosts: spec.Hosts, FederationListen: federationListen(spec.Endpoint), LocalAPIListen: ports.next()}
	published := false
	defer func() {
		if err != nil && !published {
			_ = os.RemoveAll(MemberDir(a.dir, spec.ID))
		}
	}()
	mb, err := createMember(a.dir, spec, memberMaterial{
		federation: a.cur.Federation, settings: ms, ca: ca, anchorPub: a.anchorPub,
		alg: alg, certValidity: a.certValidity(), now: a.o.now(),
	})
	if err != nil {
		return nil, err
	}
	m, raw, err := a.resign(func(n *federation.Manifest) error {
		n.Members = append(n.Members, mb)
		return nil
	})
	if err != nil {
		return nil, err
	}
	published = true
	if ch, err = a.publish(m, raw); err != nil {
		return ch, err
	}
	a.settings.Members[spec.ID] = ms
	return ch, saveSettings(a.dir, a.settings)
}

// SetStatus suspends (federation.StatusSuspended) or reinstates
// (federation.StatusActive) a member. Nodes refuse everything from a
// suspended member and send nothing to it.
func (a *Admin) SetStatus(id string, st federation.Status) (*Change, error) {
	if st != federation.StatusActive && st != federation.StatusSuspended {
		return nil, fmt.Errorf("federation: status %q is not active or suspended", st)
	}
	m, raw, err := a.resign(func(n *federation.Manifest) error {
		mb := findMember(n, id)
		if mb == nil {
			return fmt.Errorf("no member %s in the federation", id)
		}
		if mb.Status == st {
			return fmt.Errorf("member %s is already %s", id, st)
		}
		mb.Status = st
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("federation: set status: %w", err)
	}
	return a.publish(m, raw)
}

// Renew re-signs the manifest unchanged but for version, issued_at and
// expires_at. Run it well before expires_at (nodes refuse an expired
// manifest; a cron job every week suits the 30-day default).
func (a *Admin) Renew() (*Change, error) {
	m, raw, err := a.resign(nil)
	if err != nil {
		return nil, fmt.Errorf("federation renew: %w", err)
	}
	return a.publish(m, raw)
}
