package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is one node's configuration. The YAML keys are the `yaml` tags;
// Example returns a fully commented file with every default.
type Config struct {
	// Member is this node's member id in the federation manifest (required).
	Member string `yaml:"member"`
	// DataDir holds the SQLite database (when no DSN is set), the manifest
	// cache and relative key/certificate paths. Default "data".
	DataDir string `yaml:"data_dir"`

	Store      Store      `yaml:"store"`
	Federation Federation `yaml:"federation"`
	LocalAPI   LocalAPI   `yaml:"local_api"`
	Policy     Policy     `yaml:"policy"`
	Delivery   Delivery   `yaml:"delivery"`
	Media      Media      `yaml:"media"`
	// Coordination: relays, pull, carried bundles, statistics (coordination.go).
	Coordination Coordination `yaml:"coordination"`
	Match        Match        `yaml:"match"`
	Runtime      Runtime      `yaml:"runtime"`
	Log          Log          `yaml:"log"`
}

// Store selects the database.
type Store struct {
	// DSN is "postgres://..." (production) or "sqlite:PATH". Default
	// "sqlite:<data_dir>/flx.db", the embedded store.
	DSN string `yaml:"dsn"`
}

// Federation is the mTLS listener and the trust material.
type Federation struct {
	// Listen is the federation (mTLS) listener address. Default "127.0.0.1:8443".
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey are this member's certificate and key (PEM), issued
	// by the federation CA. Defaults "tls/cert.pem", "tls/key.pem".
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// SigningKey is this member's private signing key (JWK, file mode 0600).
	// Default "keys/signing.jwk".
	SigningKey string `yaml:"signing_key"`
	// TrustAnchor is the pinned public key of the federation trust anchor
	// (JWK) that signs the manifest. Default "trust/anchor.jwk".
	TrustAnchor string `yaml:"trust_anchor"`
	// Manifest is where the signed federation manifest comes from: a file
	// path or an https:// URL. Default "trust/manifest.jws".
	Manifest string `yaml:"manifest"`
	// ManifestRefresh is how often the manifest is re-read. Default 5m.
	ManifestRefresh time.Duration `yaml:"manifest_refresh"`
	// MaxBodyBytes is the largest envelope accepted; larger bodies are
	// refused before parsing. Default 1048576 (1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadTimeout bounds reading one request's body on the federation
	// listener; a body not read in time is answered 408 request_timeout,
	// which senders retry (a slow link is never taken for a bad envelope).
	// Default 60s; 5s..10m.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// HeaderTimeout bounds a new connection's TLS handshake and the
	// headers of each request on the federation listener: a client that
	// connects and sends nothing, half a ClientHello, or headers a byte
	// at a time is cut off then. Default 10s; 1s..30s (SPEC.md FLX-LIM-004
	// checks that headers that never end are given up within 30 s).
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout closes a connection with no request under way (an idle
	// HTTP/1.1 keep-alive, or HTTP/2 without an open stream) after this
	// long. Default 2m; 1s..1h.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections bounds the connections the federation listener holds
	// at once, from accept to close (a TLS handshake under way counts,
	// before any certificate is seen): one more is closed as soon as it is
	// accepted and counted in flx_connections_refused_total. 0: a quarter
	// of the process's open-file limit (RLIMIT_NOFILE), at most 4096.
	// Default 0; 0 or at least 1.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerSource bounds those from one source address (an
	// IPv4 address, or an IPv6 /64): one host cannot take every slot of
	// max_connections. A peer uses a few (up to 9 HTTP/2 connections and
	// one per media upload in flight, per replica behind the address).
	// Default 256; 1..max_connections.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// MaxBatchEnvelopes is the most envelopes accepted in one batch (POST
	// /flx/v1/batches). Default 100; 1..1000.
	MaxBatchEnvelopes int `yaml:"max_batch_envelopes"`
	// MaxBatchBytes is the largest batch body accepted; larger ones are
	// refused before parsing. Default 8388608 (8 MiB); at least
	// max_body_bytes, at most 64 MiB.
	MaxBatchBytes int64 `yaml:"max_batch_bytes"`
	// ApplyOnReceive applies a received batch's case.create and
	// case.update envelopes, and such an envelope received alone, in the
	// transaction that stores them (one transaction per request instead
	// of two, and no reading back): the
	// answer to the peer waits for the apply. false: envelopes are stored
	// and answered, then applied by the inbox processor. Either way a
	// stored envelope is receipted even if applying it fails. Default true.
	ApplyOnReceive bool `yaml:"apply_on_receive"`
	// ClockSkew is the tolerance for iat/exp checks. Default 60s.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// EnvelopeTTL is the validity of envelopes this node signs (exp - iat).
	// Default 168h (a week: store and forward over intermittent links).
	EnvelopeTTL time.Duration `yaml:"envelope_ttl"`
}

// LocalAPI is the caseworker/operator listener.
type LocalAPI struct {
	// Listen is the local API address (plain HTTP on loopback by default; put
	// it behind the Society's own TLS front end if exposed). Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey, when both are set, serve the local API over
	// HTTPS: do so whenever it is reachable from other machines, since
	// bearer tokens travel on it. Default empty: plain HTTP, for the
	// loopback default (or a TLS-terminating proxy in front).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Tokens are the bearer tokens and their roles. Each token is stored as
	// its SHA-256 (hex) so the file holds no secret. Default: none (the
	// local API then refuses every call but /healthz, /readyz, /metrics).
	Tokens []Token `yaml:"tokens"`
	// Console is the web console served under /console/ on this listener.
	Console Console `yaml:"console"`
	// HeaderTimeout bounds a new connection's TLS handshake (with
	// tls_cert) and the headers of each request on this listener (the
	// console and /metrics too): a client that connects and sends nothing,
	// or headers a byte at a time, is cut off then. Default 10s; 1s..30s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout closes an idle keep-alive connection after this long.
	// Default 2m; 1s..1h.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConnections bounds the connections this listener holds at once,
	// from accept to close: one more is closed as soon as it is accepted
	// and counted in flx_connections_refused_total. 0: a quarter of the
	// process's open-file limit (RLIMIT_NOFILE), at most 1024. Default 0;
	// 0 or at least 1.
	MaxConnections int `yaml:"max_connections"`
}

// Console configures the web console (node/console). People sign in with
// the tokens above; the console keeps a session in an HTTP-only cookie.
type Console struct {
	// Enabled serves the console under /console/. Default true.
	Enabled bool `yaml:"enabled"`
	// IdleTimeout ends a session unused for this long. Default 30m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxAge ends a session this long after sign-in, used or not. Default 12h.
	MaxAge time.Duration `yaml:"max_age"`
	// BehindTLSProxy says browsers reach the console over HTTPS through a
	// proxy that terminates TLS in front of a plain-HTTP listener (the
	// session cookie then gets the __Host- prefix). Default false.
	BehindTLSProxy bool `yaml:"behind_tls_proxy"`
}

// Token grants a role to a bearer token.
type Token struct {
	// Name identifies the holder in the audit log (never the token itself).
	Name string `yaml:"name"`
	// Role is caseworker, operator, auditor or admin (admin manages the
	// personal tokens kept in the database, nothing else).
	Role string `yaml:"role"`
	// SHA256 is the lowercase hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
}

// Policy is the data-protection rules file.
type Policy struct {
	// Rules is the path of the Society's rules file (YAML). Default
	// "policy.yaml"; when the file is missing the node refuses to start.
	Rules string `yaml:"rules"`
}

// Delivery tunes the outbox worker.
type Delivery struct {
	// Workers is the number of requests in flight to one peer. With
	// BatchSize it is the window of envelopes in flight: a link of round
	// trip RTT carries at most Workers × BatchSize / RTT envelopes a second
	// (32 × 50 over 600 ms: 2,666/s, some 1,000/s measured). Default 32.
	Workers int `yaml:"workers"`
	// MaxAttempts before a message is dead-lettered (visible and
	// re-queueable by an operator). Default 50.
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffInitial and BackoffMax bound the jittered exponential backoff.
	// Defaults 1s and 1h.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	BackoffMax     time.Duration `yaml:"backoff_max"`
	// RequestTimeout bounds one delivery attempt. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// BatchSize is the most envelopes sent to a peer in one request (POST
	// /flx/v1/batches); 1 sends each alone (POST /flx/v1/envelopes). A peer
	// that has no batch resource gets single envelopes, and so does a batch
	// a peer refuses as too large: keep it at most the peers'
	// max_batch_envelopes (100 by default). Default 50; 1..1000.
	BatchSize int `yaml:"batch_size"`
	// Linger is how long envelopes queued while one request to a peer is
	// in flight wait for more to go in the same request (unless a batch's
	// worth is queued or the answer comes first); one queued while none is
	// in flight goes at once, and while more are, with the next answer. It
	// bounds the requests a steady trickle costs, for at most this much
	// added latency. 0 sends at once while fewer than two requests are in
	// flight. Default 5ms; 0..1s.
	Linger time.Duration `yaml:"linger"`
	// Lease is how long a claimed message is held before another worker or
	// process may retry it. Default 2m.
	Lease time.Duration `yaml:"lease"`
	// PollInterval is how often the outbox is polled when idle. Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Media configures recorded video and voice messages: where their bytes
// are kept, the limits of what peers may send, and what this node sends.
type Media struct {
	// Blobs is where recordings are kept: "disk" (under dir: atomic writes,
	// fsync), "postgres" (chunks in the store's PostgreSQL database, which
	// every replica sharing it reads), or "auto": postgres with a
	// PostgreSQL DSN, disk otherwise. Default "auto".
	Blobs string `yaml:"blobs"`
	// Dir holds the blobs of the disk store. Default "media" (under data_dir).
	Dir string `yaml:"dir"`
	// ChunkBytes is the chunk size of recordings attached here: each chunk
	// is verified on its own by the receiver, and a cut loses at most one.
	// A multiple of 64 KiB from 64 KiB to 4 MiB. Default 1 MiB.
	ChunkBytes int64 `yaml:"chunk_bytes"`
	// MaxMediaBytes is the largest recording per message, sent or received.
	// Default 2 GiB.
	MaxMediaBytes int64 `yaml:"max_media_bytes"`
	// MaxUploadsPerPeer is how many unfinished uploads one peer may hold
	// here. Default 16.
	MaxUploadsPerPeer int `yaml:"max_uploads_per_peer"`
	// MaxPendingBytesPerPeer bounds the unfinished bytes one peer may hold
	// here. Default 8 GiB.
	MaxPendingBytesPerPeer int64 `yaml:"max_pending_bytes_per_peer"`
	// BandwidthPerPeer caps what this node sends to each peer, in bytes per
	// second (0: no cap). Default 0.
	BandwidthPerPeer int64 `yaml:"bandwidth_per_peer"`
}

// Match configures candidate matching between the persons of the cases the
// node holds, and cross-border matching with privacy-preserving encodings.
type Match struct {
	// Enabled computes candidate matches whenever a case is created,
	// updated, imported or received. Default true.
	Enabled bool `yaml:"enabled"`
	// Threshold is the lowest score listed, in (0, 1). Default 0.065, as
	// node/match's DefaultThreshold (a pair with about one chance in
	// fifteen to be the same person is worth a caseworker's look).
	Threshold float64 `yaml:"threshold"`
	// SecretFile holds the federation matching secret of the current key
	// epoch (JSON {"kid": "...", "key": "<base64 of at least 32 bytes>"},
	// mode 0600), shared by the members that match across borders. Default
	// empty: this node neither asks other members nor compares what they
	// ask (it answers with no candidate).
	SecretFile string `yaml:"secret_file"`
	// QueryTTL is how long the encoding sent in a match query is valid
	// (1h..720h). Default 72h.
	QueryTTL time.Duration `yaml:"query_ttl"`
	// QueriesPerMinute bounds the match queries accepted from one member
	// (a token bucket of that size, refilled at that rate): more are
	// refused with rate_limited (429, Retry-After), which the sender's
	// delivery retries. It slows a member probing the persons held with
	// many encodings. 1..100000; default 60.
	QueriesPerMinute int `yaml:"queries_per_minute"`
}

// Runtime tunes the Go runtime of flx serve: how much memory the garbage
// collector trades for CPU. The standard GOGC and GOMEMLIMIT variables,
// when set, win over both fields.
type Runtime struct {
	// GCPercent is the garbage collector's target (GOGC): the heap grows
	// to this percentage over the live data before a collection. Higher
	// collects less often, for less CPU and more memory; the memory limit
	// below bounds it. 50..1000; default 200 (Go's own is 100: collecting
	// was a fifth of a node's CPU receiving a list of 100,000 cases).
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitBytes is a soft limit on the node's memory (GOMEMLIMIT):
	// nearing it, the collector runs more often whatever gc_percent says.
	// 0: three quarters of the memory the process may use (its cgroup's
	// limit, as in a container, or else the machine's memory); -1: none.
	// Default 0.
	MemoryLimitBytes int64 `yaml:"memory_limit_bytes"`
}

// Log configures structured logging (log/slog). Personal data is never logged.
type Log struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `yaml:"level"`
	// Format is "text" or "json". Default "text".
	Format string `yaml:"format"`
}

// Defaults returns a configuration with every default filled in (Member empty).
func Defaults() Config {
	return Config{
		DataDir: "data",
		Federation: Federation{
			Listen:                  "127.0.0.1:8443",
			TLSCert:                 "tls/cert.pem",
			TLSKey:                  "tls/key.pem",
			SigningKey:              "keys/signing.jwk",
			TrustAnchor:             "trust/anchor.jwk",
			Manifest:                "trust/manifest.jws",
			ManifestRefresh:         5 * time.Minute,
			MaxBodyBytes:            1 << 20,
			ReadTimeout:             60 * time.Second,
			HeaderTimeout:           10 * time.Second,
			IdleTimeout:             2 * time.Minute,
			MaxConnectionsPerSource: 256,
			MaxBatchEnvelopes:       100,
			MaxBatchBytes:           8 << 20,
			ApplyOnReceive:          true,
			ClockSkew:               60 * time.Second,
			EnvelopeTTL:             168 * time.Hour,
		},
		LocalAPI: LocalAPI{Listen: "127.0.0.1:8080", Console: Console{Enabled: true, IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour},
			HeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
		Policy: Policy{Rules: "policy.yaml"},
		Delivery: Delivery{
			Workers:        32,
			MaxAttempts:    50,
			BackoffInitial: time.Second,
			BackoffMax:     time.Hour,
			RequestTimeout: 30 * time.Second,
			BatchSize:      50,
			Linger:         5 * time.Millisecond,
			Lease:          2 * time.Minute,
			PollInterval:   time.Second,
		},
		Media: Media{Blobs: "auto", Dir: "media", ChunkBytes: 1 << 20, MaxMediaBytes: 2 << 30, MaxUploadsPerPeer: 16,
			MaxPendingBytesPerPeer: 8 << 30},
		Coordination: defaultCoordination(),
		Match:        Match{Enabled: true, Threshold: 0.065, QueryTTL: 72 * time.Hour, QueriesPerMinute: 60},
		Runtime:      Runtime{GCPercent: 200},
		Log:          Log{Level: "info", Format: "text"},
	}
}

// Parse reads YAML over the defaults. Unknown fields are errors naming the line.
func Parse(data []byte) (Config, error) {
	c := Defaults()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (io.EOF) means all defaults.
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Load reads the file at path, applies FLX_* environment overrides, and
// resolves relative paths against the file's directory.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if env == nil {
		env = os.LookupEnv
	}
	if err := c.ApplyEnv(env); err != nil {
		return Config{}, err
	}
	c.Resolve(filepath.Dir(path))
	return c, nil
}

// envVars maps FLX_* variables to setters. Keep in step with Example().
func (c *Config) envVars() map[string]func(string) error {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	dur := func(p *time.Duration) func(string) error {
		return func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			*p = d
			return nil
		}
	}
	boolean := func(p *bool) func(string) error {
		return func(v string) error {
			b, err := strconv.ParseBool(v)
			*p = b
			return err
		}
	}
	num := func(p *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return err
			}
			*p = n
			return nil
		}
	}
	i64 := func(p *int64) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			*p = n
			return err
		}
	}
	return map[string]func(string) error{
		"FLX_MEMBER":                      str(&c.Member),
		"FLX_DATA_DIR":                    str(&c.DataDir),
		"FLX_STORE_DSN":                   str(&c.Store.DSN),
		"FLX_FEDERATION_LISTEN":           str(&c.Federation.Listen),
		"FLX_FEDERATION_TLS_CERT":         str(&c.Federation.TLSCert),
		"FLX_FEDERATION_TLS_KEY":          str(&c.Federation.TLSKey),
		"FLX_FEDERATION_SIGNING_KEY":      str(&c.Federation.SigningKey),
		"FLX_FEDERATION_TRUST_ANCHOR":     str(&c.Federation.TrustAnchor),
		"FLX_FEDERATION_MANIFEST":         str(&c.Federation.Manifest),
		"FLX_FEDERATION_MANIFEST_REFRESH": dur(&c.Federation.ManifestRefresh),
		"FLX_FEDERATION_MAX_BODY_BYTES": func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			c.Federation.MaxBodyBytes = n
			return err
		},
		"FLX_FEDERATION_CLOCK_SKEW":                 dur(&c.Federation.ClockSkew),
		"FLX_FEDERATION_READ_TIMEOUT":               dur(&c.Federation.ReadTimeout),
		"FLX_FEDERATION_HEADER_TIMEOUT":             dur(&c.Federation.HeaderTimeout),
		"FLX_FEDERATION_IDLE_TIMEOUT":               dur(&c.Federation.IdleTimeout),
		"FLX_FEDERATION_MAX_CONNECTIONS":            num(&c.Federation.MaxConnections),
		"FLX_FEDERATION_MAX_CONNECTIONS_PER_SOURCE": num(&c.Federation.MaxConnectionsPerSource),
		"FLX_LOCAL_API_MAX_CONNECTIONS":             num(&c.LocalAPI.MaxConnections),
		"FLX_LOCAL_API_HEADER_TIMEOUT":              dur(&c.LocalAPI.HeaderTimeout),
		"FLX_LOCAL_API_IDLE_TIMEOUT":                dur(&c.LocalAPI.IdleTimeout),
		"FLX_FEDERATION_MAX_BATCH_ENVELOPES":        num(&c.Federation.MaxBatchEnvelopes),
		"FLX_FEDERATION_MAX_BATCH_BYTES": func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			c.Federation.MaxBatchBytes = n
			return err
		},
		"FLX_FEDERATION_ENVELOPE_TTL":            dur(&c.Federation.EnvelopeTTL),
		"FLX_FEDERATION_APPLY_ON_RECEIVE":        boolean(&c.Federation.ApplyOnReceive),
		"FLX_LOCAL_API_LISTEN":                   str(&c.LocalAPI.Listen),
		"FLX_LOCAL_API_TLS_CERT":                 str(&c.LocalAPI.TLSCert),
		"FLX_LOCAL_API_TLS_KEY":                  str(&c.LocalAPI.TLSKey),
		"FLX_LOCAL_API_CONSOLE_ENABLED":          boolean(&c.LocalAPI.Console.Enabled),
		"FLX_LOCAL_API_CONSOLE_IDLE_TIMEOUT":     dur(&c.LocalAPI.Console.IdleTimeout),
		"FLX_LOCAL_API_CONSOLE_MAX_AGE":          dur(&c.LocalAPI.Console.MaxAge),
		"FLX_LOCAL_API_CONSOLE_BEHIND_TLS_PROXY": boolean(&c.LocalAPI.Console.BehindTLSProxy),
		"FLX_POLICY_RULES":                       str(&c.Policy.Rules),
		"FLX_DELIVERY_WORKERS":                   num(&c.Delivery.Workers),
		"FLX_DELIVERY_MAX_ATTEMPTS":              num(&c.Delivery.MaxAttempts),
		"FLX_DELIVERY_BACKOFF_INITIAL":           dur(&c.Delivery.BackoffInitial),
		"FLX_DELIVERY_BACKOFF_MAX":               dur(&c.Delivery.BackoffMax),
		"FLX_DELIVERY_REQUEST_TIMEOUT":           dur(&c.Delivery.RequestTimeout),
		"FLX_DELIVERY_BATCH_SIZE":                num(&c.Delivery.BatchSize),
		"FLX_DELIVERY_LINGER":                    dur(&c.Delivery.Linger),
		"FLX_DELIVERY_LEASE":                     dur(&c.Delivery.Lease),
		"FLX_DELIVERY_POLL_INTERVAL":             dur(&c.Delivery.PollInterval),
		"FLX_MEDIA_BLOBS":                        str(&c.Media.Blobs),
		"FLX_MEDIA_DIR":                          str(&c.Media.Dir),
		"FLX_MEDIA_CHUNK_BYTES":                  i64(&c.Media.ChunkBytes),
		"FLX_MEDIA_MAX_MEDIA_BYTES":              i64(&c.Media.MaxMediaBytes),
		"FLX_MEDIA_MAX_UPLOADS_PER_PEER":         num(&c.Media.MaxUploadsPerPeer),
		"FLX_MEDIA_MAX_PENDING_BYTES_PER_PEER":   i64(&c.Media.MaxPendingBytesPerPeer),
		"FLX_MEDIA_BANDWIDTH_PER_PEER":           i64(&c.Media.BandwidthPerPeer),
		"FLX_COORDINATION_ROUTES": func(v string) error {
			r, err := parseRoutes(v)
			c.Coordination.Routes = r
			return err
		},
		"FLX_COORDINATION_RELAY_WAIT":       dur(&c.Coordination.RelayWait),
		"FLX_COORDINATION_PULL_INTERVAL":    dur(&c.Coordination.PullInterval),
		"FLX_COORDINATION_PULL_LEASE":       dur(&c.Coordination.PullLease),
		"FLX_COORDINATION_BUNDLE_KEY":       str(&c.Coordination.BundleKey),
		"FLX_COORDINATION_STATS_EVERY":      dur(&c.Coordination.StatsEvery),
		"FLX_COORDINATION_STATS_SETTLE":     dur(&c.Coordination.StatsSettle),
		"FLX_COORDINATION_STATS_THRESHOLD":  num(&c.Coordination.StatsThreshold),
		"FLX_COORDINATION_STATS_ROUNDING":   num(&c.Coordination.StatsRounding),
		"FLX_COORDINATION_AUDIT_HEAD_EVERY": dur(&c.Coordination.AuditHeadEvery),
		"FLX_COORDINATION_AUDIT_WITNESSES": func(v string) error {
			c.Coordination.AuditWitnesses = nil
			for _, w := range strings.Split(v, ",") {
				if w = strings.TrimSpace(w); w != "" {
					c.Coordination.AuditWitnesses = append(c.Coordination.AuditWitnesses, w)
				}
			}
			return nil
		},
		"FLX_MATCH_ENABLED": boolean(&c.Match.Enabled),
		"FLX_MATCH_THRESHOLD": func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			c.Match.Threshold = f
			return err
		},
		"FLX_MATCH_SECRET_FILE": str(&c.Match.SecretFile),
		"FLX_MATCH_QUERY_TTL":   dur(&c.Match.QueryTTL),
		"FLX_MATCH_QUERIES_PER_MINUTE": func(v string) error {
			n, err := strconv.Atoi(v)
			c.Match.QueriesPerMinute = n
			return err
		},
		"FLX_RUNTIME_GC_PERCENT":         num(&c.Runtime.GCPercent),
		"FLX_RUNTIME_MEMORY_LIMIT_BYTES": i64(&c.Runtime.MemoryLimitBytes),
		"FLX_LOG_LEVEL":                  str(&c.Log.Level),
		"FLX_LOG_FORMAT":                 str(&c.Log.Format),
	}
}

// EnvNames lists every FLX_* variable the configuration reads, sorted.
func EnvNames() []string {
	var c Config
	names := make([]string, 0, 32)
	for k := range c.envVars() {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ApplyEnv overrides fields from FLX_* variables; a malformed value is an error naming the variable.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, name := range EnvNames() {
		v, ok := lookup(name)
		if !ok {
			continue
		}
		if err := c.envVars()[name](v); err != nil {
			errs = append(errs, fmt.Errorf("config: %s=%q: %w", name, v, err))
		}
	}
	return errors.Join(errs...)
}

// Resolve makes relative paths absolute against base (the config file's
// directory) and fills the default DSN.
func (c *Config) Resolve(base string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	in := func(p string) string {
		if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
			return p
		}
		return filepath.Join(c.DataDir, p)
	}
	c.Federation.TLSCert = in(c.Federation.TLSCert)
	c.Federation.TLSKey = in(c.Federation.TLSKey)
	c.Federation.SigningKey = in(c.Federation.SigningKey)
	c.Federation.TrustAnchor = in(c.Federation.TrustAnchor)
	c.Federation.Manifest = in(c.Federation.Manifest)
	c.Policy.Rules = in(c.Policy.Rules)
	c.LocalAPI.TLSCert = in(c.LocalAPI.TLSCert)
	c.LocalAPI.TLSKey = in(c.LocalAPI.TLSKey)
	c.Media.Dir = in(c.Media.Dir)
	c.Coordination.BundleKey = in(c.Coordination.BundleKey)
	c.Match.SecretFile = in(c.Match.SecretFile)
	if c.Store.DSN == "" {
		c.Store.DSN = "sqlite:" + filepath.Join(c.DataDir, "flx.db")
	}
}

var memberRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)

// Verify returns every problem found, joined, or nil.
func (c *Config) Verify() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !memberRE.MatchString(c.Member) {
		bad("member", "%q is not a member id (want e.g. XA-RC)", c.Member)
	}
	for field, addr := range map[string]string{"federation.listen": c.Federation.Listen, "local_api.listen": c.LocalAPI.Listen} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(field, "%q is not host:port", addr)
		}
	}
	// Bounds from conformance/SPEC.md: FLX-LIM-001, FLX-LIM-003, FLX-ENV-005.
	if c.Federation.MaxBodyBytes < 1<<20 || c.Federation.MaxBodyBytes > 64<<20 {
		bad("federation.max_body_bytes", "%d is outside 1 MiB..64 MiB (FLX-LIM-001)", c.Federation.MaxBodyBytes)
	}
	if c.Federation.ClockSkew < 30*time.Second || c.Federation.ClockSkew > 300*time.Second {
		bad("federation.clock_skew", "%s is outside 30s..300s (FLX-LIM-003)", c.Federation.ClockSkew)
	}
	if c.Federation.EnvelopeTTL < time.Minute || c.Federation.EnvelopeTTL > 7*24*time.Hour {
		bad("federation.envelope_ttl", "%s is outside 1m..168h (FLX-ENV-005)", c.Federation.EnvelopeTTL)
	}
	if c.Federation.ReadTimeout < 5*time.Second || c.Federation.ReadTimeout > 10*time.Minute {
		bad("federation.read_timeout", "%s is outside 5s..10m", c.Federation.ReadTimeout)
	}
	for _, lt := range []struct {
		name         string
		header, idle time.Duration
	}{{"federation", c.Federation.HeaderTimeout, c.Federation.IdleTimeout}, {"local_api", c.LocalAPI.HeaderTimeout, c.LocalAPI.IdleTimeout}} {
		if lt.header < time.Second || lt.header > 30*time.Second {
			bad(lt.name+".header_timeout", "%s is outside 1s..30s (FLX-LIM-004)", lt.header)
		}
		if lt.idle < time.Second || lt.idle > time.Hour {
			bad(lt.name+".idle_timeout", "%s is outside 1s..1h", lt.idle)
		}
	}
	for field, n := range map[string]int{"federation.max_connections": c.Federation.MaxConnections, "local_api.max_connections": c.LocalAPI.MaxConnections} {
		if n < 0 {
			bad(field, "%d: want 0 (a quarter of the open-file limit) or a number of connections", n)
		}
	}
	if n, most := c.Federation.MaxConnectionsPerSource, c.Federation.MaxConnections; n < 1 || most > 0 && n > most {
		bad("federation.max_connections_per_source", "%d is outside 1..max_connections (%d; 0 is automatic)", n, most)
	}
	if c.Federation.MaxBatchEnvelopes < 1 || c.Federation.MaxBatchEnvelopes > 1000 {
		bad("federation.max_batch_envelopes", "%d is outside 1..1000", c.Federation.MaxBatchEnvelopes)
	}
	if c.Federation.MaxBatchBytes < c.Federation.MaxBodyBytes || c.Federation.MaxBatchBytes > 64<<20 {
		bad("federation.max_batch_bytes", "%d is outside max_body_bytes..64 MiB", c.Federation.MaxBatchBytes)
	}
	if c.Federation.ManifestRefresh < time.Second {
		bad("federation.manifest_refresh", "%s is below 1s", c.Federation.ManifestRefresh)
	}
	if !strings.HasPrefix(c.Store.DSN, "postgres://") && !strings.HasPrefix(c.Store.DSN, "postgresql://") && !strings.HasPrefix(c.Store.DSN, "sqlite:") {
		bad("store.dsn", "want postgres://... or sqlite:PATH")
	}
	if c.LocalAPI.Console.Enabled && (c.LocalAPI.Console.IdleTimeout <= 0 || c.LocalAPI.Console.MaxAge < c.LocalAPI.Console.IdleTimeout) {
		bad("local_api.console", "idle_timeout must be positive and max_age at least idle_timeout")
	}
	if (c.LocalAPI.TLSCert == "") != (c.LocalAPI.TLSKey == "") {
		bad("local_api.tls_cert/tls_key", "set both (HTTPS) or neither (plain HTTP)")
	}
	seen := map[string]bool{}
	for i, t := range c.LocalAPI.Tokens {
		f := fmt.Sprintf("local_api.tokens[%d]", i)
		switch t.Role {
		case "caseworker", "operator", "auditor", "admin":
		default:
			bad(f+".role", "%q is not caseworker, operator, auditor or admin", t.Role)
		}
		if t.Name == "" {
			bad(f+".name", "empty")
		}
		if len(t.SHA256) != 64 || strings.ToLower(t.SHA256) != t.SHA256 {
			bad(f+".sha256", "want 64 lowercase hex characters")
		}
		if seen[t.SHA256] {
			bad(f+".sha256", "duplicate token")
		}
		seen[t.SHA256] = true
	}
	d := c.Delivery
	if d.Workers < 1 || d.Workers > 256 {
		bad("delivery.workers", "%d is outside 1..256", d.Workers)
	}
	if d.BatchSize < 1 || d.BatchSize > 1000 {
		bad("delivery.batch_size", "%d is outside 1..1000", d.BatchSize)
	}
	if d.Linger < 0 || d.Linger > time.Second {
		bad("delivery.linger", "%s is outside 0..1s", d.Linger)
	}
	if d.MaxAttempts < 1 {
		bad("delivery.max_attempts", "%d is below 1", d.MaxAttempts)
	}
	// FLX-DLV-004: the first wait (jittered in [initial/2, initial]) is at least 500ms.
	if d.BackoffInitial < time.Second || d.BackoffMax < d.BackoffInitial || d.BackoffMax < time.Minute {
		bad("delivery.backoff_initial/backoff_max", "want 1s <= initial <= max and max >= 1m (FLX-DLV-004)")
	}
	if d.RequestTimeout <= 0 || d.RequestTimeout > 120*time.Second {
		bad("delivery.request_timeout", "%s is outside 0..120s (FLX-DLV-007)", d.RequestTimeout)
	}
	if d.Lease <= d.RequestTimeout {
		bad("delivery.lease", "lease (%s) must exceed request_timeout (%s) so a slow attempt is not retried concurrently", d.Lease, d.RequestTimeout)
	}
	if d.PollInterval <= 0 {
		bad("delivery.poll_interval", "must be positive")
	}
	m := c.Media
	switch m.Blobs {
	case "auto", "disk", "postgres":
	default:
		bad("media.blobs", "%q is not auto, disk or postgres", m.Blobs)
	}
	if m.Blobs == "postgres" && !strings.HasPrefix(c.Store.DSN, "postgres") {
		bad("media.blobs", "postgres needs a PostgreSQL store.dsn")
	}
	if m.ChunkBytes < 64<<10 || m.ChunkBytes > 4<<20 || m.ChunkBytes%(64<<10) != 0 {
		bad("media.chunk_bytes", "%d is not a multiple of 64 KiB from 64 KiB to 4 MiB (FLX-MED-002)", m.ChunkBytes)
	}
	if m.MaxMediaBytes < 1<<20 || m.MaxMediaBytes > m.ChunkBytes*(1<<17) {
		bad("media.max_media_bytes", "%d is outside 1 MiB..%d (131072 chunks of chunk_bytes)", m.MaxMediaBytes, m.ChunkBytes*(1<<17))
	}
	if m.MaxUploadsPerPeer < 1 || m.MaxPendingBytesPerPeer < m.MaxMediaBytes {
		bad("media.max_uploads_per_peer/max_pending_bytes_per_peer", "want at least 1 upload and at least max_media_bytes pending")
	}
	if m.BandwidthPerPeer < 0 || (m.BandwidthPerPeer > 0 && m.BandwidthPerPeer < 16<<10) {
		bad("media.bandwidth_per_peer", "%d: want 0 (no cap) or at least 16384 bytes per second", m.BandwidthPerPeer)
	}
	c.Coordination.verify(bad)
	if c.Match.Threshold <= 0 || c.Match.Threshold >= 1 {
		bad("match.threshold", "%g is outside (0, 1)", c.Match.Threshold)
	}
	if c.Match.QueryTTL < time.Hour || c.Match.QueryTTL > 720*time.Hour {
		bad("match.query_ttl", "%s is outside 1h..720h", c.Match.QueryTTL)
	}
	if c.Match.QueriesPerMinute < 1 || c.Match.QueriesPerMinute > 100000 {
		bad("match.queries_per_minute", "%d is outside 1..100000", c.Match.QueriesPerMinute)
	}
	if c.Runtime.GCPercent < 50 || c.Runtime.GCPercent > 1000 {
		bad("runtime.gc_percent", "%d is outside 50..1000", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimitBytes < -1 || c.Runtime.MemoryLimitBytes > 0 && c.Runtime.MemoryLimitBytes < 64<<20 {
		bad("runtime.memory_limit_bytes", "%d is neither 0 (automatic), -1 (none) nor at least 64 MiB", c.Runtime.MemoryLimitBytes)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}

//go:embed example.yaml
var example []byte

// Example returns the documented example configuration: every field with
// its default and a comment.
func Example() []byte { return append([]byte(nil), example...) }
