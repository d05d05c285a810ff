package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestCorrectionReachesEveryCopy corrects a case XB-RC holds: version 2
// removes the enquirer's street address. XB-RC receives version 2 without
// anyone forwarding it again (FLX-COR-001) and afterwards keeps the removed
// value nowhere: not in a superseded version (only its hash), not in a
// stored envelope, not in its database files (FLX-COR-003). Version 3 closes
// the case as consent withdrawn: the policy refuses it to XB-RC, which is
// then told to erase (FLX-COR-002).
func TestCorrectionReachesEveryCopy(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testCorrectionReachesEveryCopy)
}

func testCorrectionReachesEveryCopy(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	f.Sign(t)
	dsnB := nodetest.DSN(t, d)
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d})
	xb := nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d, DSN: dsnB})

	const canary = "7 Canary Lane QZX1"
	v1 := readTestdata(t, "case.json")
	v1 = bytes.Replace(v1, []byte("4 Invented Road"), []byte(canary), 1)
	if _, err := xa.CreateCase(ctx, cw, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.Forward(ctx, cw, demoCase, "XB-RC"); err != nil {
		t.Fatal(err)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || !bytes.Contains(c.Document, []byte(canary)) {
		t.Fatalf("XB-RC should hold version 1 with the address (the test needs it there): %v", err)
	}

	// Version 2 drops the address line; nobody forwards it.
	var doc map[string]any
	if err := json.Unmarshal(v1, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["persons"].([]any)[0].(map[string]any)["address"].(map[string]any), "address_line")
	doc["version"] = 2
	v2, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(v2, []byte(canary)) {
		t.Fatal("version 2 still has the address line")
	}
	if _, err := xa.UpdateCase(ctx, cw, demoCase, v2); err != nil {
		t.Fatalf("%v %+v", err, problem.As(err).Errors)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseUpdate), 1)
	c, err := xb.Store.GetCase(ctx, demoCase)
	if err != nil || c.Version != 2 || bytes.Contains(c.Document, []byte(canary)) {
		t.Fatalf("XB-RC after the correction: version %d, address kept %t (%v)", c.Version, bytes.Contains(c.Document, []byte(canary)), err)
	}
	vs, err := xb.Store.ListCaseVersions(ctx, demoCase)
	if err != nil || len(vs) != 2 {
		t.Fatalf("XB-RC versions %d: %v", len(vs), err)
	}
	if vs[0].Document != nil || len(vs[0].SHA256) != 64 || vs[1].Document == nil {
		t.Errorf("XB-RC keeps version 1's document %t (hash %q); version 2's %t", vs[0].Document != nil, vs[0].SHA256, vs[1].Document != nil)
	}
	for _, r := range allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase, IncludeEnvelope: true}) {
		if r.Kind == string(federation.KindCaseCreate) && r.Envelope != nil {
			t.Errorf("XB-RC keeps the envelope of version 1 (inbox %d)", r.ID)
		}
	}
	if d == nodetest.SQLite {
		if where := goneFromFiles(t, strings.TrimPrefix(dsnB, "sqlite:"), canary); where != "" {
			t.Errorf("the removed address is still in XB-RC's database files: %s", where)
		}
	}

	// Version 3 closes the case as consent withdrawn: refused to XB-RC,
	// which is told to erase.
	v3 := patch(t, v2, map[string]any{"version": 3, "status": "closed_withdrawn"})
	if _, err := xa.UpdateCase(ctx, cw, demoCase, v3); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 30*time.Second, "XB-RC erases the case", func() bool {
		c, err := xb.Store.GetCase(ctx, demoCase)
		return err == nil && c.Erased() && c.Document == nil
	})
	nodetest.WaitFor(t, 30*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	ds, err := xa.Store.ListDecisions(ctx, demoCase)
	if err != nil || len(ds) != 3 || ds[2].Effect != "deny" {
		t.Fatalf("XA-RC decisions: %d (%v), want forward, v2, v3 denied", len(ds), err)
	}
	noProcessErrors(t, "XA-RC", xa.Store)
	noProcessErrors(t, "XB-RC", xb.Store)
}

// inFiles reports where in the database file at path (and its -wal and
// -journal siblings) value occurs, as bytes or in base64 (standard or URL
// alphabet, at each of the three alignments): "" when nowhere.
// goneFromFiles waits until value (erased by a transaction that has
// committed) is in none of the SQLite database's files, and returns where it
// still is after 15 s. The store moves erased pages out of the WAL with a
// checkpoint right after the commit, which waits for the readers of older
// snapshots: a check made the moment the commit is visible may come before it.
func goneFromFiles(t testing.TB, path, value string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		where := inFiles(t, path, value)
		if where == "" || time.Now().After(deadline) {
			return where
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func inFiles(t testing.TB, path, value string) string {
	t.Helper()
	needles := [][]byte{[]byte(value)}
	for shift := range 3 {
		src := append(bytes.Repeat([]byte{0}, shift), value...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(src)
			s = strings.TrimRight(s, "=")
			// Drop the characters that mix in neighbouring bytes.
			lead := (shift*4 + 2) / 3
			if len(s) > lead+2 {
				needles = append(needles, []byte(s[lead:len(s)-2]))
			}
		}
	}
	var found []string
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range needles {
			if bytes.Contains(b, n) {
				found = append(found, filepath.Base(p)+" (form "+string(rune('0'+i))+")")
			}
		}
	}
	return strings.Join(found, ", ")
}
