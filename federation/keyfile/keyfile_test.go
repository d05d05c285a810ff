package keyfile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/familylinks/flx/federation/keyfile"
)

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	if err := keyfile.WriteNew(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
	}
	// An existing file is never overwritten, and not removed by the refusal.
	if err := keyfile.WriteNew(path, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteNew = %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, []byte("first")) {
		t.Fatalf("file now holds %q, want the first write", got)
	}
	// A folder that does not exist: an error, nothing created.
	if err := keyfile.WriteNew(filepath.Join(dir, "no", "key.pem"), []byte("x"), 0o600); err == nil {
		t.Fatal("WriteNew into a missing folder succeeded")
	}
}

func TestReadPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not checked on Windows")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		mode    fs.FileMode
		exposed bool
	}{
		{0o600, false}, {0o400, false}, {0o640, true}, {0o604, true}, {0o660, true}, {0o644, true},
	} {
		path := filepath.Join(dir, tc.mode.String())
		if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		data, err := keyfile.ReadPrivate(path)
		switch {
		case tc.exposed && !errors.Is(err, keyfile.ErrExposed):
			t.Errorf("mode %04o: err %v, want ErrExposed", tc.mode, err)
		case tc.exposed && data != nil:
			t.Errorf("mode %04o: returned the data of an exposed file", tc.mode)
		case !tc.exposed && (err != nil || string(data) != "secret"):
			t.Errorf("mode %04o: %q, %v; want the data", tc.mode, data, err)
		}
	}
	if _, err := keyfile.ReadPrivate(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
}
