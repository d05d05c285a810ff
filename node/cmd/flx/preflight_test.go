package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/node/config"
)

// TestServeRefusesMisconfiguration: each problem is found before anything
// listens, and all of them are listed at once.
func TestServeRefusesMisconfiguration(t *testing.T) {
	good := startFromInit(t)
	if err := preflight(good, time.Now()); err != nil {
		t.Fatalf("a configuration from flx federation init: %v", err)
	}
	otherKey := func(t *testing.T) string {
		ca, err := devca.New("other CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := ca.IssueMember("XA-RC", []string{"localhost"}, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "other.key")
		os.WriteFile(p, iss.KeyPEM, 0o600)
		return p
	}
	copyMode := func(t *testing.T, src string, mode os.FileMode) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		os.WriteFile(p, b, mode)
		os.Chmod(p, mode)
		return p
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, c *config.Config)
		now  time.Time
		want []string
	}{
		{"TLS key readable by others", func(t *testing.T, c *config.Config) { c.Federation.TLSKey = copyMode(t, c.Federation.TLSKey, 0o644) }, time.Time{}, []string{"federation TLS key", "chmod 0600"}},
		{"signing key readable by group", func(t *testing.T, c *config.Config) {
			c.Federation.SigningKey = copyMode(t, c.Federation.SigningKey, 0o640)
		}, time.Time{}, []string{"signing key", "mode 0640"}},
		{"unreadable signing key", func(t *testing.T, c *config.Config) { c.Federation.SigningKey = "/nonexistent/signing.jwk" }, time.Time{}, []string{"signing key", "no such file"}},
		{"certificate and key mismatch", func(t *testing.T, c *config.Config) { c.Federation.TLSKey = otherKey(t) }, time.Time{}, []string{"must be the certificate's"}},
		{"expired certificate", func(t *testing.T, c *config.Config) {}, time.Now().AddDate(20, 0, 0), []string{"expired on"}},
		{"missing policy", func(t *testing.T, c *config.Config) { c.Policy.Rules = "/nonexistent/policy.yaml" }, time.Time{}, []string{"policy:"}},
		{"listen clash", func(t *testing.T, c *config.Config) { c.LocalAPI.Listen = c.Federation.Listen }, time.Time{}, []string{"give each its own address"}},
		{"all at once", func(t *testing.T, c *config.Config) {
			c.Federation.TLSKey = copyMode(t, c.Federation.TLSKey, 0o644)
			c.Policy.Rules = "/nonexistent/policy.yaml"
			c.LocalAPI.Listen = c.Federation.Listen
		}, time.Time{}, []string{"3 problem(s)", "chmod 0600", "policy:", "own address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(t, &c)
			now := tc.now
			if now.IsZero() {
				now = time.Now()
			}
			err := preflight(c, now)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nwant %q", err, w)
				}
			}
		})
	}
	// startNode refuses before opening anything.
	bad := good
	bad.LocalAPI.Listen = bad.Federation.Listen
	if _, err := startNode(context.Background(), bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "nothing was started") {
		t.Fatalf("startNode: %v", err)
	}
}
