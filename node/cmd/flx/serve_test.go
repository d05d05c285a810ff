package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/fedadmin"
)

// startFromInit makes a one-member federation with fedadmin and returns

// serveAsPeer starts a node from a fresh init directory (startFromInit),
// its configuration first changed by each of tune, and returns it with the
// member's own federation certificate, which a test presents to dial the
// node as a peer. The caller stops the node.
func serveAsPeer(t *testing.T, tune ...func(*config.Config)) (*runningNode, tls.Certificate) {
	t.Helper()
	cfg := startFromInit(t)
	for _, f := range tune {
		f(&cfg)
	}
	cert, err := tls.LoadX509KeyPair(cfg.Federation.TLSCert, cfg.Federation.TLSKey)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := startNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return rn, cert
}

// the member's loaded configuration, with free listen ports.
func startFromInit(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	fed, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	spec := fedadmin.MemberSpec{ID: "XA-RC", Country: "XA", Role: federation.RoleSociety, Endpoint: "https://" + fed}
	if _, _, err := fedadmin.Init(dir, fedadmin.InitConfig{Name: "serve test", Members: []fedadmin.MemberSpec{spec}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(fedadmin.MemberDir(dir, "XA-RC"), fedadmin.MemberConfigFile), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Federation.Listen = fed
	if cfg.LocalAPI.Listen, err = freePort(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServeLocalAPIOverTLS(t *testing.T) {
	cfg := startFromInit(t)
	ca, err := devca.New("local API test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ca.IssueMember("XA-RC", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg.LocalAPI.TLSCert, cfg.LocalAPI.TLSKey = filepath.Join(dir, "local.pem"), filepath.Join(dir, "local.key")
	os.WriteFile(cfg.LocalAPI.TLSCert, iss.CertPEM, 0o644)
	os.WriteFile(cfg.LocalAPI.TLSKey, iss.KeyPEM, 0o600)
	cafile := filepath.Join(dir, "ca.pem")
	os.WriteFile(cafile, ca.CertPEM(), 0o644)
	if err := cfg.Verify(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rn, err := startNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Stop(); rn.Wait() })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM())
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + rn.LocalAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz over HTTPS: %s", resp.Status)
	}
	// The web console is served on the same listener, with its policy.
	resp, err = c.Get("https://" + rn.LocalAddr + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("console sign-in over HTTPS: %s, CSP %q", resp.Status, resp.Header.Get("Content-Security-Policy"))
	}
	// Plain HTTP is not served any more.
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + rn.LocalAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP still answered 200")
		}
	}
	// The container health check can probe it with the CA.
	if out, err := runCLI(t, "healthcheck", "--url", "https://"+rn.LocalAddr+"/healthz", "--cacert", cafile); err != nil {
		t.Fatalf("healthcheck --cacert: %v %s", err, out)
	}
	if _, err := runCLI(t, "healthcheck", "--url", "https://"+rn.LocalAddr+"/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("healthcheck without the CA must fail on the certificate: %v", err)
	}
}

func TestServeRefusesBadSetup(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		edit func(*config.Config)
		want string
	}{
		{"missing anchor", func(c *config.Config) { c.Federation.TrustAnchor += ".missing" }, "trust anchor"},
		{"unknown member", func(c *config.Config) { c.Member = "XZ-RC" }, "not in the federation manifest"},
		{"missing policy", func(c *config.Config) { c.Policy.Rules += ".missing" }, "policy"},
		{"bad local TLS", func(c *config.Config) {
			c.LocalAPI.TLSCert, c.LocalAPI.TLSKey = c.Federation.TLSCert, c.Federation.TLSCert
		}, "local API TLS"},
		{"matching secret readable by others", func(c *config.Config) {
			c.Match.SecretFile = filepath.Join(c.DataDir, "match-secret.json")
			os.WriteFile(c.Match.SecretFile, []byte(`{"kid":"2026-1","key":"`+strings.Repeat("QUJD", 11)+`"}`), 0o644)
		}, "match.secret_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := startFromInit(t)
			tc.edit(&cfg)
			rn, err := startNode(ctx, cfg, quiet)
			if err == nil {
				rn.Stop()
				rn.Wait()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestServeWithoutConsole(t *testing.T) {
	cfg := startFromInit(t)
	cfg.LocalAPI.Console.Enabled = false
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rn, err := startNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rn.Stop(); rn.Wait() })
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + rn.LocalAddr + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("console disabled, /console/signin: %s", resp.Status)
	}
}

// TestServeFlagsOverrideLikeTheirVariables: each flx serve flag stands for
// an FLX_* variable of the configuration, wins over it, and is applied
// before relative paths resolve (--data-dir moves the database and keys).
func TestServeFlagsOverrideLikeTheirVariables(t *testing.T) {
	names := map[string]bool{}
	for _, n := range config.EnvNames() {
		names[n] = true
	}
	for _, sf := range serveFlags {
		if !names[sf.env] {
			t.Errorf("--%s stands for %s, which the configuration does not read", sf.flag, sf.env)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("member: XA-RC\ndata_dir: data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLX_DELIVERY_WORKERS", "3")
	t.Setenv("FLX_LOG_LEVEL", "debug")
	cmd := serveCmd()
	if err := cmd.ParseFlags([]string{"--data-dir", "elsewhere", "--delivery-workers", "5", "--member", "XB-RC"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cmd, path)
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "elsewhere")
	if cfg.DataDir != moved || cfg.Store.DSN != "sqlite:"+filepath.Join(moved, "flx.db") || cfg.Federation.SigningKey != filepath.Join(moved, "keys", "signing.jwk") {
		t.Errorf("--data-dir: data_dir %s, dsn %s, signing key %s; want all under %s", cfg.DataDir, cfg.Store.DSN, cfg.Federation.SigningKey, moved)
	}
	if cfg.Delivery.Workers != 5 || cfg.Member != "XB-RC" {
		t.Errorf("flags did not win over the variables: workers %d, member %s", cfg.Delivery.Workers, cfg.Member)
	}
	if cfg.Log.Level != "debug" {
		t.Errorf("a variable without its flag: log.level %q, want debug", cfg.Log.Level)
	}
	if err := cmd.ParseFlags([]string{"--delivery-workers", "many"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(cmd, path); err == nil || !strings.Contains(err.Error(), "FLX_DELIVERY_WORKERS") {
		t.Errorf("a malformed flag value: %v", err)
	}
}
