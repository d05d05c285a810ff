package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// TestBenchExchangeBothStores runs a small exchange on PostgreSQL and on
// SQLite: every envelope delivered and processed once on each (the bench
// checks the counts on both sides), and the figures side by side.
func TestBenchExchangeBothStores(t *testing.T) {
	pg := os.Getenv("FLX_TEST_POSTGRES")
	if pg == "" {
		if os.Getenv("FLX_REQUIRE_POSTGRES") != "" {
			t.Fatal("FLX_REQUIRE_POSTGRES is set but FLX_TEST_POSTGRES is not")
		}
		t.Skip("FLX_TEST_POSTGRES not set")
	}
	if testing.Short() {
		t.Skip("two exchanges between real nodes")
	}
	var out bytes.Buffer
	err := runBenchExchange(t.Context(), &out, io.Discard, benchOptions{pg: pg, n: 60, workers: 4, probe: 10, batch: 50, stores: "postgres,sqlite"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"postgres stores", "sqlite stores", "side by side (60 envelopes each)", "\n  postgres ", "\n  sqlite ", "ratio:      total CPU per envelope / floor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := parseBenchStores("postgres,mysql"); err == nil {
		t.Error(`--stores "postgres,mysql" accepted`)
	}
}
