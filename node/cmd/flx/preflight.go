package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/policy"
)

// preflight checks what flx serve needs before anything is opened or
// listened on, and returns every problem found at once (errors.Join), each
// saying what to fix: private keys readable by group or others, key and
// certificate files that cannot be read or do not belong together, an
// expired certificate, a policy that does not load, and the two listeners
// on one address. What needs the store or the manifest is checked after,
// by startNode.
func preflight(cfg config.Config, now time.Time) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	privateKey := func(what, path string) {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			add("%s: %w", what, err)
		case fi.Mode().Perm()&0o077 != 0:
			add("%s %s is readable or writable by group or others (mode %04o): chmod 0600 %s", what, path, fi.Mode().Perm(), path)
		}
	}
	certPair := func(what, certFile, keyFile string) {
		privateKey(what+" key", keyFile)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			add("%s certificate %s and key %s: %w (the key must be the certificate's)", what, certFile, keyFile, err)
			return
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			add("%s certificate %s: %w", what, certFile, err)
			return
		}
		if now.After(leaf.NotAfter) {
			add("%s certificate %s expired on %s: renew it", what, certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
		} else if now.Before(leaf.NotBefore) {
			add("%s certificate %s is valid only from %s: check the clock", what, certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	certPair("federation TLS", cfg.Federation.TLSCert, cfg.Federation.TLSKey)
	privateKey("signing key", cfg.Federation.SigningKey)
	if cfg.LocalAPI.TLSCert != "" {
		certPair("local API TLS", cfg.LocalAPI.TLSCert, cfg.LocalAPI.TLSKey)
	}
	if _, err := os.Stat(cfg.Federation.TrustAnchor); err != nil {
		add("trust anchor: %w", err)
	}
	if _, err := policy.Load(cfg.Policy.Rules); err != nil {
		add("policy: %w", err)
	}
	if cfg.Federation.Listen != "" && cfg.Federation.Listen == cfg.LocalAPI.Listen {
		add("federation.listen and local_api.listen are both %s: give each its own address", cfg.Federation.Listen)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("serve: the configuration has %d problem(s), nothing was started:\n%w", len(errs), errors.Join(errs...))
}
