package devca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/familylinks/flx/federation/keyfile"
)

// File names used by [CA.Save], [Load] and [Issued.Save].
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Save writes the CA certificate (ca.crt, mode 0644) and key (ca.key, mode
// 0600) into dir, creating dir with mode 0700 if needed. It never overwrites:
// if either file exists it fails with an error matching fs.ErrExist, so a CA
// key cannot be lost by running an init twice.
func (ca *CA) Save(dir string) error {
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return fmt.Errorf("devca.Save: %w", err)
	}
	if err := savePair(dir, CACertFile, ca.certPEM, CAKeyFile, keyPEM); err != nil {
		return fmt.Errorf("devca.Save: %w", err)
	}
	return nil
}

// Save writes the certificate (name.crt, mode 0644) and key (name.key, mode
// 0600) into dir, as tls.LoadX509KeyPair reads them. It never overwrites.
func (i *Issued) Save(dir, name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("devca.Issued.Save: bad file name %q", name)
	}
	if err := savePair(dir, name+".crt", i.CertPEM, name+".key", i.KeyPEM); err != nil {
		return fmt.Errorf("devca.Issued.Save: %w", err)
	}
	return nil
}

func savePair(dir, certName string, certPEM []byte, keyName string, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w", p, os.ErrExist)
		}
	}
	if err := keyfile.WriteNew(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := keyfile.WriteNew(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// Load reads a CA saved by [CA.Save]. It refuses a key file that group or
// others may access, and a key that does not match the certificate.
func Load(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, fmt.Errorf("devca.Load: %w", err)
	}
	keyPath := filepath.Join(dir, CAKeyFile)
	keyPEM, err := keyfile.ReadPrivate(keyPath)
	if err != nil {
		return nil, fmt.Errorf("devca.Load: the CA key: %w", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("devca.Load: %s: %w", CACertFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("devca.Load: %s is not a CA certificate", CACertFile)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("devca.Load: %s: %w", CAKeyFile, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("devca.Load: the key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, certPEM: encodeCert(cert.Raw)}, nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}
