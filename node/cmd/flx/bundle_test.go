package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/store"
)

// TestBundleCommands carries a case from XA-RC to XB-RC and the receipt
// back with `flx bundle export` and `flx bundle import`, on the folders that
// `flx federation init` writes (bundle keys and enc_jwks included), without
// any network.
func TestBundleCommands(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "fed")
	if out, err := runCLI(t, "federation", "init", "--dir", dir, "--name", "bundles",
		"--member", "XA-RC:XA:society:https://127.0.0.1:18443",
		"--member", "XB-RC:XB:society:https://xb-rc.invalid:8443",
		"--member", "ICRC-CTA:XC:coordinator:https://icrc-cta.invalid:8443"); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cfg := func(id string) string { return fedadmin.MemberPath(dir, id, fedadmin.MemberConfigFile) }
	st, err := os.Stat(fedadmin.MemberPath(dir, "XB-RC", fedadmin.MemberBundleKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle key: %v %v", st, err)
	}
	doc, err := os.ReadFile(filepath.Join("demodata", "case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var caseID string
	err = withOfflineNode(ctx, cfg("XA-RC"), func(n *node.Node) error {
		c, err := n.CreateCase(ctx, node.Actor{Name: "cw", Role: "caseworker"}, doc)
		if err != nil {
			return err
		}
		caseID = c.ID
		_, err = n.Forward(ctx, node.Actor{Name: "cw", Role: "caseworker"}, c.ID, "XB-RC")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bundle, ret := filepath.Join(work, "to-xb.flxb"), filepath.Join(work, "to-xa.flxb")
	out, err := runCLI(t, "bundle", "export", "--config", cfg("XA-RC"), "--to", "XB-RC", "--out", bundle)
	if err != nil || !strings.Contains(out, "1 envelopes written") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "bundle", "import", "--config", cfg("ICRC-CTA"), "--in", bundle); err == nil || !strings.Contains(err.Error(), "wrong_audience") {
		t.Fatalf("import by the wrong member: %v\n%s", err, out)
	}
	out, err = runCLI(t, "bundle", "import", "--config", cfg("XB-RC"), "--in", bundle, "--return", ret)
	if err != nil || !strings.Contains(out, "1 stored") || !strings.Contains(out, "return bundle for XA-RC") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = runCLI(t, "bundle", "import", "--config", cfg("XA-RC"), "--in", ret)
	if err != nil || !strings.Contains(out, "1 receipts recorded") {
		t.Fatalf("import of the return bundle: %v\n%s", err, out)
	}
	err = withOfflineNode(ctx, cfg("XB-RC"), func(n *node.Node) error {
		c, err := n.View().GetCase(ctx, caseID)
		if err != nil || c.Origin != "XA-RC" || c.Document == nil {
			t.Errorf("XB-RC holds %+v, %v", c, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = withOfflineNode(ctx, cfg("XA-RC"), func(n *node.Node) error {
		rows, err := n.View().ListOutbox(ctx, store.OutboxFilter{CaseID: caseID})
		if err != nil || len(rows) != 1 || rows[0].State != store.Delivered {
			t.Errorf("XA-RC outbox %+v, %v", rows, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
