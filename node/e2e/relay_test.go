package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// startRelayed starts XA-RC, XB-RC and ICRC-CTA where XB-RC names ICRC-CTA
// in relay_via (and is pull_only when pullOnly: then it has no listener and
// fetches what ICRC-CTA keeps for it).
func startRelayed(t *testing.T, d nodetest.Dialect, pullOnly bool) (*fedtest.Federation, map[string]*nodetest.Node) {
	t.Helper()
	f := fedtest.New(t, threeMembers...)
	xbm := f.Member(t, "XB-RC")
	xbm.RelayVia = []string{"ICRC-CTA"}
	xbm.PullOnly = pullOnly
	lns := map[string]net.Listener{}
	for id := range f.Members {
		if id == "XB-RC" && pullOnly {
			xbm.Endpoint = "https://xb-rc.invalid:8443" // never dialled
			continue
		}
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	tune := func(o *node.Options) {
		o.RelayWait = 30 * time.Second
		o.PullInterval = 100 * time.Millisecond
	}
	nodes := map[string]*nodetest.Node{}
	for id := range f.Members {
		nodes[id] = nodetest.Start(t, f, id, lns[id], nodetest.Options{Dialect: d, Tune: tune})
	}
	return f, nodes
}

// TestRelayEndToEnd sends a case from XA-RC to XB-RC, which names ICRC-CTA
// in relay_via, over real mTLS on each store, then withdraws it: the case
// travels as XA-RC signed it inside ICRC-CTA's relay envelope, XB-RC keeps
// it as XA-RC's, XA-RC's row is delivered only by XB-RC's end-to-end
// receipt, ICRC-CTA records the disclosure and keeps no case, and the
// withdrawal and its confirmation complete.
func TestRelayEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		for _, pullOnly := range []bool{false, true} {
			name := string(d) + "/push"
			if pullOnly {
				name = string(d) + "/pull"
			}
			t.Run(name, func(t *testing.T) { testRelayEndToEnd(t, d, pullOnly) })
		}
	}
}

func testRelayEndToEnd(t *testing.T, d nodetest.Dialect, pullOnly bool) {
	ctx := context.Background()
	_, nodes := startRelayed(t, d, pullOnly)
	xa, xb, cta := nodes["XA-RC"], nodes["XB-RC"], nodes["ICRC-CTA"]

	if _, err := xa.CreateCase(ctx, cw, readTestdata(t, "case.json")); err != nil {
		t.Fatal(err)
	}
	res, err := xa.Forward(ctx, cw, demoCase, "XB-RC")
	if err != nil || res.State != "queued" {
		t.Fatalf("forward: %v %+v", err, res)
	}
	waitProcessed(t, xb.Store, demoCase, string(federation.KindCaseCreate), 1)
	c, err := xb.Store.GetCase(ctx, demoCase)
	if err != nil || c.Origin != "XA-RC" || !sameJSON(t, c.Document, res.Document) {
		t.Fatalf("XB-RC holds %+v, %v", c, err)
	}
	in := allInbox(t, xb.Store, store.InboxFilter{CaseID: demoCase})
	if len(in) != 1 || in[0].Iss != "XA-RC" || in[0].Kind != string(federation.KindCaseCreate) {
		t.Fatalf("XB-RC inbox = %+v", in)
	}
	// The inner envelope is kept exactly as XA-RC signed it: aud XB-RC.
	got, err := xb.Store.GetInbox(ctx, in[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if cl := decodeJWS(t, got.Envelope); cl.Iss != "XA-RC" || cl.Aud != "XB-RC" || cl.JTI != res.JTI {
		t.Fatalf("stored inner envelope claims %+v (sent jti %s)", cl, res.JTI)
	}

	// XA-RC's row is delivered by XB-RC's end-to-end receipt, not by the relay's.
	nodetest.WaitFor(t, 30*time.Second, "XA-RC's row delivered end to end", func() bool {
		o, err := xa.Store.GetOutbox(ctx, res.OutboxID)
		return err == nil && o.State == store.Delivered
	})
	o, _ := xa.Store.GetOutbox(ctx, res.OutboxID)
	if rc := decodeJWS(t, o.Receipt); rc.Iss != "XB-RC" || rc.Aud != "XA-RC" {
		t.Fatalf("the receipt kept for the row is from %s to %s, want XB-RC's end-to-end receipt", rc.Iss, rc.Aud)
	}
	if ds, _ := xa.Store.ListDisclosures(ctx, demoCase); len(ds) != 1 || ds[0].Member != "XB-RC" {
		t.Fatalf("XA-RC disclosures = %+v, want one to XB-RC", ds)
	}
	if cl := decodeJWS(t, o.Envelope); cl.Kind != string(federation.KindRelayForward) || cl.Aud != "ICRC-CTA" {
		t.Fatalf("XA-RC sent %s to %s, want relay.forward to ICRC-CTA", cl.Kind, cl.Aud)
	}
	if o.LastError != "" && !strings.HasPrefix(o.LastError, "relayed:") {
		t.Errorf("row error %q: something dialled XB-RC?", o.LastError)
	}

	// ICRC-CTA relayed it: disclosure record, no case kept.
	if _, err := cta.Store.GetCase(ctx, demoCase); err == nil {
		t.Error("the relay keeps the case")
	}
	acc, err := cta.Store.ListAudit(ctx, store.AuditFilter{Action: "relay.accept", Object: demoCase, Limit: 10})
	if err != nil || len(acc) == 0 {
		t.Fatalf("ICRC-CTA recorded no relay disclosure: %v", err)
	}
	var det map[string]any
	_ = json.Unmarshal(acc[0].Details, &det)
	if det["origin"] != "XA-RC" || det["to"] != "XB-RC" || det["jti"] != res.JTI {
		t.Errorf("relay record %v", det)
	}
	if bytes.Contains(acc[0].Details, []byte("Sampleyan")) || bytes.Contains(acc[0].Details, []byte("given")) {
		t.Errorf("the relay record holds case content: %s", acc[0].Details)
	}

	// Withdrawal through the same route; XB-RC confirms.
	if _, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn")); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, 60*time.Second, "XB-RC's confirmation", func() bool {
		rs, err := xa.Store.ListRecipients(ctx, demoCase)
		return err == nil && len(rs) == 1 && !rs[0].WithdrawalConfirmedAt.IsZero()
	})
	if c, _ := xb.Store.GetCase(ctx, demoCase); c.Document != nil {
		t.Error("XB-RC did not erase the case")
	}
	noProcessErrors(t, "XA-RC", xa.Store)
	noProcessErrors(t, "XB-RC", xb.Store)
	noProcessErrors(t, "ICRC-CTA", cta.Store)
}

// relayHarness builds relay chains as a misbehaving ICRC-CTA would, and
// posts them to a node over mTLS as ICRC-CTA.
type relayHarness struct {
	t *testing.T
	f *fedtest.Federation
}

// chain returns the relay.forward that ICRC-CTA sends to `to`, carrying
// inner (signed by its iss) with a first hop by the inner's signer.
func (h relayHarness) chain(inner []byte, origin, to string) []byte {
	h.t.Helper()
	now := time.Now()
	first, _, err := federation.Originate(inner, federation.Wrap{Self: origin, To: "ICRC-CTA", Signer: h.f.Member(h.t, origin).Key, Now: now})
	if err != nil {
		h.t.Fatal(err)
	}
	v := &federation.Verifier{Manifest: federation.StaticManifest(h.f.Manifest), Self: "ICRC-CTA"}
	env, err := v.Verify(context.Background(), first, origin)
	if err != nil {
		h.t.Fatal(err)
	}
	r, err := federation.OpenRelay(context.Background(), v, env)
	if err != nil {
		h.t.Fatal(err)
	}
	out, _, err := r.Forward(federation.Wrap{Self: "ICRC-CTA", To: to, Signer: h.f.Member(h.t, "ICRC-CTA").Key, Now: now})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h relayHarness) post(n *nodetest.Node, raw []byte) answer {
	h.t.Helper()
	c := nodetest.Client(h.t, h.f, "ICRC-CTA", n)
	a, err := send(h.t, c, http.MethodPost, n.FedURL+federation.EnvelopesPath, "application/jose", bytes.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// TestRelayAttacks posts forged chains to XB-RC as ICRC-CTA: an altered
// inner envelope, a replay through the relay, a member claiming another's
// identity, and a chain re-addressed to a member that does not relay.
func TestRelayAttacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, nodes := startRelayed(t, nodetest.SQLite, false)
	xa, xb := nodes["XA-RC"], nodes["XB-RC"]
	h := relayHarness{t, f}
	body := minimalCase(t, "XA-RC:RELAY-1")
	genuine := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:RELAY-1", body)

	t.Run("relay alters the inner envelope", func(t *testing.T) {
		out := h.chain(genuine, "XA-RC", "XB-RC")
		// Re-sign the outer with ICRC-CTA's key over a body whose inner
		// payload was changed: the origin's hop no longer binds it.
		cl, err := federation.ClaimsOf(out)
		if err != nil {
			t.Fatal(err)
		}
		var rb struct {
			Inner string   `json:"inner"`
			Hops  []string `json:"hops"`
		}
		if err := json.Unmarshal(cl.Body, &rb); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(rb.Inner, ".")
		forged := f.Envelope(t, "ICRC-CTA", "XB-RC", federation.KindCaseCreate, "XA-RC:RELAY-1", patch(t, body, map[string]any{"status": "closed_withdrawn"}))
		fp := strings.Split(string(forged), ".")
		rb.Inner = parts[0] + "." + fp[1] + "." + parts[2] // origin's header and signature, other claims
		cl.Body, _ = json.Marshal(rb)
		cl.JTI = federation.NewJTI()
		tampered, err := federation.Sign(cl, f.Member(t, "ICRC-CTA").Key)
		if err != nil {
			t.Fatal(err)
		}
		a := h.post(xb, tampered)
		if a.status != 400 || a.problem.Code != "bad_relay" {
			t.Fatalf("altered inner: %d %s (%s)", a.status, a.problem.Code, a.problem.Detail)
		}
	})

	t.Run("replay through the relay is processed once", func(t *testing.T) {
		for i, want := range []string{"accepted", "duplicate"} {
			a := h.post(xb, h.chain(genuine, "XA-RC", "XB-RC"))
			if a.status != 202 || decodeJWS(t, a.body).Status != want {
				t.Fatalf("post %d: %d %s %s", i, a.status, a.problem.Code, a.body)
			}
		}
		waitProcessed(t, xb.Store, "XA-RC:RELAY-1", string(federation.KindCaseCreate), 1)
		if n := len(allInbox(t, xb.Store, store.InboxFilter{CaseID: "XA-RC:RELAY-1"})); n != 1 {
			t.Fatalf("XB-RC stored %d envelopes, want 1", n)
		}
		// Both copies are receipted end to end to XA-RC.
		nodetest.WaitFor(t, 30*time.Second, "end-to-end receipts at XA-RC", func() bool {
			rows := allInbox(t, xa.Store, store.InboxFilter{CaseID: "XA-RC:RELAY-1", Kind: string(federation.KindRelayForward)})
			return len(rows) >= 2
		})
		// The same jti with other bytes through the relay is a replay.
		cl, _ := federation.ClaimsOf(genuine)
		cl.Body = patch(t, body, map[string]any{"status": "tracing_in_progress"})
		other, err := federation.Sign(cl, f.Member(t, "XA-RC").Key)
		if err != nil {
			t.Fatal(err)
		}
		a := h.post(xb, h.chain(other, "XA-RC", "XB-RC"))
		if a.status < 400 || a.problem.Code != "replay" {
			t.Fatalf("same jti, other bytes: %d %s", a.status, a.problem.Code)
		}
	})

	t.Run("relay claims to be the origin", func(t *testing.T) {
		// ICRC-CTA signs a case of XA-RC itself: only the origin may create it.
		inner := f.Envelope(t, "ICRC-CTA", "XB-RC", federation.KindCaseCreate, "XA-RC:RELAY-2", minimalCase(t, "XA-RC:RELAY-2"))
		out, _, err := federation.Originate(inner, federation.Wrap{Self: "ICRC-CTA", To: "XB-RC", Signer: f.Member(t, "ICRC-CTA").Key, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if a := h.post(xb, out); a.status != 403 || a.problem.Code != "sender_mismatch" {
			t.Fatalf("relay as origin: %d %s (%s)", a.status, a.problem.Code, a.problem.Detail)
		}
		// An inner envelope and first hop naming XA-RC as iss but signed
		// with ICRC-CTA's key: not a key of XA-RC.
		cl, _ := federation.ClaimsOf(inner)
		cl.Issuer = "XA-RC"
		forged, err := federation.Sign(cl, f.Member(t, "ICRC-CTA").Key)
		if err != nil {
			t.Fatal(err)
		}
		out = handChain(t, f, forged, "XA-RC:RELAY-2", []hopSpec{{"XA-RC", "ICRC-CTA", "ICRC-CTA"}, {"ICRC-CTA", "XB-RC", "ICRC-CTA"}})
		a := h.post(xb, out)
		if a.status != 400 || a.problem.Code != "unknown_key" {
			t.Fatalf("forged origin: %d %s (%s)", a.status, a.problem.Code, a.problem.Detail)
		}
		if _, err := xb.Store.GetCase(ctx, "XA-RC:RELAY-2"); err == nil {
			t.Fatal("XB-RC stored a case the relay forged")
		}
	})

	t.Run("relay re-addresses the chain", func(t *testing.T) {
		// XA-RC's envelope for XB-RC, sent by the relay to XA-RC's own
		// node, which does not relay: the origin signed aud XB-RC.
		inner := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:RELAY-3", minimalCase(t, "XA-RC:RELAY-3"))
		out := handChain(t, f, inner, "XA-RC:RELAY-3", []hopSpec{{"XA-RC", "ICRC-CTA", "XA-RC"}, {"ICRC-CTA", "XA-RC", "ICRC-CTA"}})
		if a := h.post(xa, out); a.status != 400 || a.problem.Code != "wrong_audience" {
			t.Fatalf("re-addressed: %d %s (%s)", a.status, a.problem.Code, a.problem.Detail)
		}
	})

	t.Run("relay refuses what the recipient does not accept", func(t *testing.T) {
		inner := f.Envelope(t, "XA-RC", "XB-RC", federation.KindStatsReport, "XA-RC:stats-2026-01", []byte(`{}`))
		out, _, err := federation.Originate(inner, federation.Wrap{Self: "XA-RC", To: "ICRC-CTA", Signer: f.Member(t, "XA-RC").Key, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		c := nodetest.Client(t, f, "XA-RC", nodes["ICRC-CTA"])
		a, err := send(t, c, http.MethodPost, nodes["ICRC-CTA"].FedURL+federation.EnvelopesPath, "application/jose", bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if a.status != 403 || a.problem.Code != "relay_refused" {
			t.Fatalf("relay of an unaccepted kind: %d %s (%s)", a.status, a.problem.Code, a.problem.Detail)
		}
	})
}

// hopSpec is one hand-made hop: from, to, and whose key signs it.
type hopSpec struct{ from, to, signer string }

// handChain builds a relay.forward by hand, hop by hop, so that a test can
// sign a hop with a key that is not its sender's or send a chain where no
// honest relay would; the outer envelope is signed by the last hop's signer.
func handChain(t *testing.T, f *fedtest.Federation, inner []byte, caseID string, hops []hopSpec) []byte {
	t.Helper()
	now := time.Now()
	var raws []string
	prev := ""
	for _, h := range hops {
		claims := map[string]any{"iss": h.from, "aud": h.to, "iat": now.Unix(), "inner_sha256": sha256Hex(inner)}
		if prev != "" {
			claims["prev_sha256"] = prev
		}
		payload, _ := json.Marshal(claims)
		raw, err := jose.Sign(payload, federation.TypHop, f.Member(t, h.signer).Key)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, string(raw))
		prev = sha256Hex(raw)
	}
	body, _ := json.Marshal(map[string]any{"inner": string(inner), "hops": raws})
	last := hops[len(hops)-1]
	out, err := federation.Sign(federation.Claims{
		Issuer: last.from, Audience: last.to, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		JTI: federation.NewJTI(), Kind: federation.KindRelayForward, CaseID: caseID, Body: body,
	}, f.Member(t, last.signer).Key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
