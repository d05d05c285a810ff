package fedadmin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/keyfile"
)

const dirPerm = 0o700

// writeAtomic replaces path with data: a temporary file in the same folder,
// synced, given perm, then renamed over path, so a reader (a node refreshing
// its manifest) sees the old file or the new one, never a part.
func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// writeNew creates path, failing if it exists, with perm.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return err
	}
	return keyfile.WriteNew(path, data, perm)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// savePrivateKey writes a private JWK (0600), creating its folder.
func savePrivateKey(path string, k *jose.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return err
	}
	return jose.SavePrivateKey(path, k)
}

// publicJWK encodes a public key as a JWK file.
func publicJWK(k *jose.PublicKey) ([]byte, error) {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// loadPublicKey reads a public JWK file.
func loadPublicKey(path string) (*jose.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := jose.ParsePublicJWK(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Settings is federation.json: what later commands need to issue a member's
// files the way init did. The signed manifest stays the source of truth
// for members, keys and status.
type Settings struct {
	Federation string   `json:"federation"`
	Alg        jose.Alg `json:"alg"`
	// CertValidity is the validity of member certificates; ManifestValidity
	// the time from a manifest's issued_at to its expires_at (Go durations).
	CertValidity     string                    `json:"cert_validity"`
	ManifestValidity string                    `json:"manifest_validity"`
	Members          map[string]MemberSettings `json:"members"`
}

// MemberSettings is what init chose for one member's files.
type MemberSettings struct {
	Hosts            []string `json:"hosts,omitempty"`
	FederationListen string   `json:"federation_listen"`
	LocalAPIListen   string   `json:"local_api_listen"`
}

func (s *Settings) certValidity() time.Duration {
	d, err := time.ParseDuration(s.CertValidity)
	if err != nil || d <= 0 {
		return DefaultCertValidity
	}
	return d
}

func (s *Settings) manifestValidity() time.Duration {
	d, err := time.ParseDuration(s.ManifestValidity)
	if err != nil || d <= 0 {
		return DefaultManifestValidity
	}
	return d
}

func loadSettings(dir string) (Settings, error) {
	var s Settings
	b, err := os.ReadFile(fpath(dir, SettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Settings{Members: map[string]MemberSettings{}}, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", SettingsFile, err)
	}
	if s.Members == nil {
		s.Members = map[string]MemberSettings{}
	}
	return s, nil
}

func saveSettings(dir string, s Settings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(fpath(dir, SettingsFile), append(b, '\n'), 0o644)
}
