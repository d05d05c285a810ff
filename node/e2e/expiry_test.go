package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/backoff"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// Store and forward outlasts an outage longer than the envelope lifetime:
// an envelope that nears its exp while queued is re-signed with a new jti
// (the same claims otherwise) before its next attempt, instead of being
// refused as expired when the peer returns. The nodes here sign envelopes
// valid for 3 s and tolerate 2 s of clock skew, so an outage of a few
// seconds outlives them (the node's config allows 1m..168h; the mechanism
// is the same). The sender re-signs an envelope whose exp is less than a
// skew away, and the receiver refuses one whose exp passed more than a skew
// ago: an attempt has two skews (4 s) from the sender's check to the
// receiver's, which a loaded test machine needs.
const (
	shortTTL  = 3 * time.Second
	shortSkew = 2 * time.Second
)

var operatorActor = node.Actor{Name: "operator-1", Role: "operator"}

// TestEnvelopeOutlivesOutage: the peer is down while the envelope expires;
// the sender keeps it queued, re-signs it, and it is delivered once the
// peer returns, with a receipt for the new jti.
func TestEnvelopeOutlivesOutage(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) { testExpiredWhileQueued(t, d, false) })
	}
}

// TestRequeueExpiredEnvelope: the envelope was dead-lettered (retry budget
// spent while the peer was down) and expired meanwhile; requeued by an
// operator, it is re-signed on its next attempt and delivered.
func TestRequeueExpiredEnvelope(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) { testExpiredWhileQueued(t, d, true) })
	}
}

func testExpiredWhileQueued(t *testing.T, d nodetest.Dialect, deadLetter bool) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	addrB := lnB.Addr().String()
	lnB.Close() // XB-RC is down
	f.Sign(t)
	delivery := node.DeliveryOptions{Workers: 4, MaxAttempts: 1000, Backoff: backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		RequestTimeout: 5 * time.Second, Lease: 15 * time.Second, PollInterval: 50 * time.Millisecond}
	if deadLetter {
		delivery.MaxAttempts = 2
	}
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d, Delivery: &delivery, EnvelopeTTL: shortTTL, Skew: shortSkew})

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	res, err := xa.Forward(ctx, cw, demoCase, "XB-RC")
	if err != nil || res.State != "queued" {
		t.Fatalf("forward: %v (state %s)", err, res.State)
	}
	first := must(xa.Store.GetOutbox(ctx, res.OutboxID))(t)
	if first.JTI != res.JTI || first.Envelope == nil {
		t.Fatalf("queued row %+v", first)
	}
	exp := time.Unix(decodeExp(t, first.Envelope), 0)

	// The outage outlasts the envelope: wait until XB-RC would refuse the
	// first bytes (exp at or before its now - skew), with a margin.
	nodetest.WaitFor(t, 30*time.Second, "the first envelope to expire during the outage", func() bool {
		return time.Now().After(exp.Add(shortSkew + time.Second))
	})
	row := must(xa.Store.GetOutbox(ctx, res.OutboxID))(t)
	if deadLetter {
		nodetest.WaitFor(t, 10*time.Second, "the row to be dead-lettered", func() bool {
			row = must(xa.Store.GetOutbox(ctx, res.OutboxID))(t)
			return row.State == store.Dead
		})
		if row.Envelope == nil {
			t.Fatalf("the dead row lost its envelope")
		}
		if row.JTI != first.JTI {
			// Under load the second attempt may come near the envelope's
			// expiry and re-sign it before the row dies: what follows
			// (refused first bytes, requeue, delivery under a new jti)
			// holds either way.
			t.Logf("the row was re-signed (jti %s) before it was dead-lettered", row.JTI)
		}
	} else if row.State == store.Dead || row.State == store.Delivered || row.Attempts < 2 {
		t.Fatalf("while XB-RC is down the row is %s after %d attempts", row.State, row.Attempts)
	}
	t.Logf("during the outage: %s, %d attempts, jti %s (first %s), last error %q", row.State, row.Attempts, row.JTI, first.JTI, row.LastError)

	// XB-RC returns.
	var lnB2 net.Listener
	nodetest.WaitFor(t, 10*time.Second, "XB-RC's port free again", func() bool {
		var err error
		lnB2, err = net.Listen("tcp", addrB)
		return err == nil
	})
	xb := nodetest.Start(t, f, "XB-RC", lnB2, nodetest.Options{Dialect: d, Skew: shortSkew})
	// The first bytes are now refused as expired: re-sending them, as the
	// node did before, could never deliver.
	if code := postRaw(t, f, xb, first.Envelope); code != string(federation.CodeExpired) {
		t.Fatalf("XB-RC answered the first envelope with %q, want expired", code)
	}
	if deadLetter {
		if _, err := xa.Requeue(ctx, operatorActor, res.OutboxID); err != nil {
			t.Fatalf("requeue: %v", err)
		}
	}

	nodetest.WaitFor(t, 30*time.Second, "the envelope delivered to XB-RC", func() bool {
		row = must(xa.Store.GetOutbox(ctx, res.OutboxID))(t)
		if row.State == store.Dead {
			t.Fatalf("dead-lettered after XB-RC returned: %s", row.LastError)
		}
		return row.State == store.Delivered
	})
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)

	// Delivered under a new jti, with a receipt for exactly those bytes;
	// the claims are the first envelope's.
	if row.JTI == first.JTI || bytes.Equal(row.Envelope, first.Envelope) {
		t.Fatalf("delivered with the first jti %s", row.JTI)
	}
	sum := sha256.Sum256(row.Envelope)
	if _, err := federation.VerifyReceipt(row.Receipt, f.Manifest, federation.ExpectedReceipt{
		Issuer: "XB-RC", Audience: "XA-RC", ReceiptFor: row.JTI, SHA256: hex.EncodeToString(sum[:]), Skew: time.Minute,
	}, time.Now()); err != nil {
		t.Fatalf("receipt of the delivered row: %v", err)
	}
	old, renewed := decodeJWS(t, first.Envelope), decodeJWS(t, row.Envelope)
	if renewed.Iss != old.Iss || renewed.Aud != old.Aud || renewed.Kind != old.Kind || renewed.CaseID != old.CaseID || !sameJSON(t, renewed.Body, old.Body) {
		t.Errorf("re-signed claims differ: %+v, first %+v", renewed, old)
	}
	if renewedExp := time.Unix(decodeExp(t, row.Envelope), 0); !renewedExp.After(exp) {
		t.Errorf("re-signed exp %s is not after the first %s", renewedExp, exp)
	}
	inbox := allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase})
	if len(inbox) != 1 || inbox[0].JTI != federation.ReplayKey("XA-RC", row.JTI) || inbox[0].ProcessError != "" {
		t.Fatalf("XB-RC's inbox for the case: %+v (want the one row %s)", inbox, row.JTI)
	}
	if c, err := xb.Store.GetCase(ctx, demoCase); err != nil || c.Version != 1 {
		t.Errorf("XB-RC holds version %d (%v)", c.Version, err)
	}
	ds := must(xa.Store.ListDisclosures(ctx, demoCase))(t)
	if len(ds) != 1 || ds[0].JTI != row.JTI || ds[0].Member != "XB-RC" {
		t.Errorf("disclosures %+v", ds)
	}

	// Every re-signing is audited with both jtis, and the last one names
	// the jti that was delivered.
	audits := must(xa.Store.ListAudit(ctx, store.AuditFilter{Action: "outbox.resign", Object: strconv.FormatInt(res.OutboxID, 10)}))(t)
	if len(audits) == 0 {
		t.Fatal("no outbox.resign audit entry")
	}
	var a struct {
		OldJTI string `json:"old_jti"`
		JTI    string `json:"jti"`
	}
	if err := json.Unmarshal(audits[0].Details, &a); err != nil || a.OldJTI != first.JTI {
		t.Errorf("first outbox.resign: %s (%v), want old_jti %s", audits[0].Details, err, first.JTI)
	}
	if err := json.Unmarshal(audits[len(audits)-1].Details, &a); err != nil || a.JTI != row.JTI {
		t.Errorf("last outbox.resign: %s (%v), want jti %s", audits[len(audits)-1].Details, err, row.JTI)
	}
	t.Logf("re-signed %d time(s); delivered after %d attempts", len(audits), row.Attempts)
	auditIntact(t, "XA-RC", xa.Store)
	noProcessErrors(t, "XB-RC", xb.Store)
}

// must returns v or fails the test on err.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// decodeExp returns the exp claim of a compact JWS.
func decodeExp(t testing.TB, raw []byte) int64 {
	t.Helper()
	var c struct {
		Exp int64 `json:"exp"`
	}
	parts := bytes.Split(raw, []byte{'.'})
	if len(parts) != 3 {
		t.Fatal("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil || json.Unmarshal(b, &c) != nil || c.Exp == 0 {
		t.Fatalf("no exp in %.60q", raw)
	}
	return c.Exp
}

// postRaw sends raw to tn as XA-RC and returns the problem code ("" for a
// 202).
func postRaw(t testing.TB, f *fedtest.Federation, tn *nodetest.Node, raw []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, tn.FedURL+"/flx/v1/envelopes", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/jose")
	resp, err := nodetest.Client(t, f, "XA-RC", tn).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusAccepted {
		return ""
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return p.Code
}
