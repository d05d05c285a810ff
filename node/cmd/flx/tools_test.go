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

	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/store"
)

func TestPolicyCheckCommand(t *testing.T) {
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.jws")
	anchor := filepath.Join(dir, "anchor.jwk")
	pub, _ := json.Marshal(f.Anchor.Public())
	os.WriteFile(manifest, f.Raw, 0o644)
	os.WriteFile(anchor, pub, 0o644)
	rules := filepath.Join("..", "..", "..", "policy", "example-rules.yaml")
	doc := filepath.Join("demodata", "case.json")
	var ee exitError

	out, err := runCLI(t, "policy", "check", "--rules", rules, "--case", doc, "--to", "XB-RC", "--manifest", manifest, "--anchor", anchor)
	if err != nil || !strings.Contains(out, "ALLOW_WITH_REDACTIONS") || !strings.Contains(out, "/persons/1/sensitive") {
		t.Fatalf("known destination: err=%v\n%s", err, out)
	}
	// Without the manifest the destination is unknown: deny, exit 1.
	out, err = runCLI(t, "policy", "check", "--rules", rules, "--case", doc, "--to", "XB-RC")
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "DENY") {
		t.Fatalf("unknown destination: err=%v\n%s", err, out)
	}
	// A manifest under another anchor is refused.
	other := fedtest.New(t, "XA-RC:XA:society")
	pub2, _ := json.Marshal(other.Anchor.Public())
	os.WriteFile(anchor, pub2, 0o644)
	if _, err := runCLI(t, "policy", "check", "--rules", rules, "--case", doc, "--to", "XB-RC", "--manifest", manifest, "--anchor", anchor); err == nil {
		t.Fatal("manifest from another anchor accepted")
	}
	// A bad rules file is a usage error, exit 2.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("schema: nope\n"), 0o644)
	_, err = runCLI(t, "policy", "check", "--rules", bad, "--case", doc, "--to", "XB-RC")
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("bad rules: err=%v", err)
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "flx.db")
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("member: XA-RC\nstore:\n  dsn: sqlite:"+db+"\n"), 0o644)
	st, err := store.Open(ctx, "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"case.create", "case.update", "send.queued"} {
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: "cw", Action: a, Object: "XA-RC:1"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, err := runCLI(t, "audit", "verify", "--config", cfg)
	if err != nil || !strings.Contains(out, "intact: 3 entries") {
		t.Fatalf("intact log: err=%v\n%s", err, out)
	}
	// Someone with database access edits an entry (dropping the append-only trigger first).
	raw, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	out, err = runCLI(t, "audit", "verify", "--config", cfg)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "TAMPERED") || !strings.Contains(out, "entry 2") {
		t.Fatalf("tampered log: err=%v\n%s", err, out)
	}
}
