package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestAuditVerifyAgainstWitness: XA-RC signs its audit head and sends it
// to the coordinator, which keeps it; then someone with database access
// deletes the tail of XA-RC's audit log (the chain that is left is intact).
// `flx audit verify` reports the deleted tail and exits 1, against the head
// acknowledged in XA-RC's outbox and against the head taken from the
// witness. On SQLite and PostgreSQL.
func TestAuditVerifyAgainstWitness(t *testing.T) {
	nodetest.EachDialect(t, testAuditWitness)
}

func testAuditWitness(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "ICRC-CTA:XC:coordinator")
	xaLn := nodetest.Listen(t, f.Member(t, "XA-RC"))
	ctaLn := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	f.Sign(t)
	dsn := nodetest.DSN(t, d)
	xa := nodetest.Start(t, f, "XA-RC", xaLn, nodetest.Options{DSN: dsn})
	cta := nodetest.Start(t, f, "ICRC-CTA", ctaLn, nodetest.Options{Dialect: d})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	if _, err := xa.CreateCase(ctx, cw, demoDoc("case")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := xa.ReadCase(ctx, cw, "XA-RC:DEMO-0001", true); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := xa.SendAuditHead(ctx); err != nil || n != 1 {
		t.Fatalf("SendAuditHead: %d %v, want 1 queued", n, err)
	}
	if n, err := xa.SendAuditHead(ctx); err != nil || n != 0 {
		t.Fatalf("SendAuditHead again with no change: %d %v, want 0", n, err)
	}
	var held store.AuditHead
	deadline := time.Now().Add(20 * time.Second)
	for {
		hs, err := cta.WitnessedHeads(ctx, "XA-RC")
		if err != nil {
			t.Fatal(err)
		}
		sent, _ := node.SentAuditHeads(ctx, xa.Store, "XA-RC", "ICRC-CTA")
		if len(hs) == 1 && len(sent) == 1 && sent[0].Acknowledged {
			held = hs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witness holds %+v, XA-RC sent %+v", hs, sent)
		}
		time.Sleep(50 * time.Millisecond)
	}
	v, err := xa.Store.VerifyAudit(ctx)
	if err != nil || !v.OK() || held.Count < 4 || held.Count > v.Rows {
		t.Fatalf("witnessed count %d, local chain %+v %v", held.Count, v, err)
	}
	xa.Stop() // the node is not needed to check its database

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("member: XA-RC\nstore:\n  dsn: "+dsn+"\n"), 0o644)
	headFile := filepath.Join(dir, "head.json")
	hb, _ := json.Marshal(map[string]any{"heads": []map[string]any{{"member": held.Member, "count": held.Count, "envelope": string(held.Envelope)}}})
	os.WriteFile(headFile, hb, 0o644)

	out, err := runCLI(t, "audit", "verify", "--config", cfg)
	if err != nil || !strings.Contains(out, "holds the latest head acknowledged by ICRC-CTA") {
		t.Fatalf("intact log against the acknowledged head: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "audit", "verify", "--config", cfg, "--witness-head", headFile); err != nil || !strings.Contains(out, "holds the head in") {
		t.Fatalf("intact log against the witness's head: %v\n%s", err, out)
	}

	// Delete the tail: the last two witnessed entries and everything after.
	driver, raw := "sqlite", strings.TrimPrefix(dsn, "sqlite:")
	stmts := []string{`DROP TRIGGER audit_log_no_delete`, `DELETE FROM audit_log WHERE seq > $1`}
	if d == nodetest.Postgres {
		driver, raw = "postgres", dsn
		stmts = []string{`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`, `DELETE FROM audit_log WHERE seq > $1`}
	}
	db, err := sql.Open(driver, raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range stmts {
		var args []any
		if i == 1 {
			args = []any{held.Count - 2}
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	var ee exitError
	for _, args := range [][]string{{}, {"--witness-head", headFile}} {
		out, err := runCLI(t, append([]string{"audit", "verify", "--config", cfg}, args...)...)
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "chain intact") || !strings.Contains(out, "AUDIT LOG TAMPERED") ||
			!strings.Contains(out, "truncated tail") {
			t.Fatalf("truncated log %v: err=%v\n%s", args, err, out)
		}
	}
}
