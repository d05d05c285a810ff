package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// ErrExposed is wrapped by ReadPrivate when group or others may access the
// file.
var ErrExposed = errors.New("the file must not be accessible by group or others (chmod 600)")

// WriteNew creates path with perm, failing if it exists, writes data, syncs
// and closes it. On any failure it removes what it created, so a half-written
// key never stays behind.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// ReadPrivate reads a private file. On Unix it refuses, with ErrExposed, a
// file that group or others may access (as ssh does).
func ReadPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: %w", path, fi.Mode().Perm(), ErrExposed)
	}
	return os.ReadFile(path)
}
