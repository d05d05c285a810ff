package media

import (
	"os"
	"testing"

	"github.com/familylinks/flx/node/internal/dbtest"
)

// TestMain drops each test's PostgreSQL database off the test's path (a
// DROP DATABASE waits for a checkpoint: up to a second or two on a busy
// machine, once per PostgreSQL test before), and fails the run if a drop
// fails.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
