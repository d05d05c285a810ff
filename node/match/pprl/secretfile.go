package pprl

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// secretFile is the file form of a Secret: {"kid": "...", "key": "<base64>"}.
type secretFile struct {
	KeyID string `json:"kid"`
	Key   string `json:"key"`
}

var kidRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// LoadSecret reads a federation matching secret from a file that only its
// owner may read (mode 0600 or stricter, like a private key): JSON
// {"kid": "<epoch id>", "key": "<standard base64 of at least 32 bytes>"}.
func LoadSecret(path string) (*Secret, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pprl: secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("pprl: secret: %s has mode %04o; it must not be accessible by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pprl: secret: %w", err)
	}
	var f secretFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("pprl: secret %s: not {\"kid\": ..., \"key\": ...}: %w", path, err)
	}
	if !kidRE.MatchString(f.KeyID) {
		return nil, fmt.Errorf("pprl: secret %s: kid %q must be 1 to 64 letters, digits, '.', '_' or '-'", path, f.KeyID)
	}
	key, err := base64.StdEncoding.DecodeString(f.Key)
	if err != nil {
		return nil, fmt.Errorf("pprl: secret %s: key is not base64: %w", path, err)
	}
	if len(key) < minSecret {
		return nil, fmt.Errorf("pprl: secret %s: %w (%d bytes, want at least %d)", path, ErrSecret, len(key), minSecret)
	}
	return &Secret{ID: f.KeyID, Key: key}, nil
}
