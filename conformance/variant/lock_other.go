//go:build !unix

package variant

import "os"

// lockFile does not lock here: builds may then run side by side, which
// costs time on an empty build cache, never correctness.
func lockFile(*os.File) error { return nil }
