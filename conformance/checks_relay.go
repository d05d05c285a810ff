package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// The tester as a relay (SPEC.md §14). XD-REMOTE names XD-TESTER in its
// relay_via, so XD-TESTER may relay: the tester signs XD-REMOTE's envelopes
// and the first hop with XD-REMOTE's key, its own hop with XD-TESTER's,
// and sends the chain to the candidate as the relay would. What the
// candidate sends back to XD-REMOTE must travel through XD-TESTER
// (FLX-RLY-001), and nothing may reach XD-REMOTE's own endpoint.

// remoteClaims are claims of an envelope XD-REMOTE addresses to the candidate.
func (env *Env) remoteClaims(kind federation.Kind, body []byte) Claims {
	c := env.claims(kind, body)
	c.Iss = MemberRemote
	return c
}

// viaTester returns the two hops of a chain XD-REMOTE -> XD-TESTER ->
// the candidate for inner.
func (env *Env) viaTester(inner []byte) (first, second string) {
	now := env.now().Unix()
	first = env.hop(hopClaims{Iss: MemberRemote, Aud: MemberTester, Iat: now - 1, Inner: sha256Hex(inner)}, keyRemote)
	second = env.hop(hopClaims{Iss: MemberTester, Aud: env.candidate, Iat: now, Inner: sha256Hex(inner), Prev: sha256Hex([]byte(first))}, keyTester)
	return first, second
}

// relayedByTester is the relay.forward XD-TESTER sends to the candidate
// carrying inner with the chain XD-REMOTE -> XD-TESTER -> candidate.
func (env *Env) relayedByTester(inner []byte, caseID string) ([]byte, Claims) {
	h1, h2 := env.viaTester(inner)
	return env.relayed(inner, caseID, map[string]any{"inner": string(inner), "hops": []string{h1, h2}})
}

// remoteCase is a valid case.create of a fresh XD-REMOTE case for the
// candidate, and its claims.
func (t *T) remoteCase() ([]byte, Claims) {
	c := t.remoteClaims(federation.KindCaseCreate, caseDoc(newCaseID(MemberRemote), MemberRemote))
	return t.sign(c, keyRemote), c
}

// checkTesterRelayMisbehaves checks that the candidate, as final recipient,
// refuses what a faulty relay (the tester) does to a chain: an inner
// envelope altered by the relay (which rebinds only its own hop), the
// origin's hop dropped, the hops reordered (bad_relay), and an inner
// envelope for another member re-addressed to the candidate
// (wrong_audience, FLX-RLY-006, for a candidate that may not relay). The
// same chain, unaltered, is accepted.
func checkTesterRelayMisbehaves(t *T) {
	inner, c := t.remoteCase()
	h1, h2 := t.viaTester(inner)
	now := t.now().Unix()
	// Altered by the relay: the payload changed (another purpose), the
	// origin's header and signature kept; the relay's own hop binds the
	// new bytes.
	ac := c
	ac.Body = setMembers(c.Body, map[string]any{"purpose": "family_reunification"})
	hdr, _, _ := strings.Cut(string(inner), ".")
	altered := []byte(hdr + "." + b64.EncodeToString(ac.payload()) + string(inner)[strings.LastIndexByte(string(inner), '.'):])
	h2altered := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(altered), Prev: sha256Hex([]byte(h1))}, keyTester)
	// Dropped: only the relay's hop, first, with or without the link to
	// the hop it dropped.
	h2alone := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(inner)}, keyTester)
	// The relay's hop signed in the future (beyond SKEW), or earlier than
	// the origin's hop by more than SKEW.
	skew := int64((t.skew + time.Minute) / time.Second)
	h2future := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now + skew, Inner: sha256Hex(inner), Prev: sha256Hex([]byte(h1))}, keyTester)
	h2older := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now - 1 - skew, Inner: sha256Hex(inner), Prev: sha256Hex([]byte(h1))}, keyTester)
	faults := []struct {
		what  string
		inner []byte
		hops  []string
	}{
		{"inner envelope altered by the relay", altered, []string{h1, h2altered}},
		{"origin's hop dropped (the relay's hop still names it)", inner, []string{h2}},
		{"origin's hop dropped (the relay's hop first)", inner, []string{h2alone}},
		{"hops reordered", inner, []string{h2, h1}},
		{"the relay's hop issued after now + SKEW", inner, []string{h1, h2future}},
		{"the relay's hop older than the origin's by more than SKEW", inner, []string{h1, h2older}},
	}
	for _, f := range faults {
		raw, _ := t.relayed(f.inner, c.CaseID, map[string]any{"inner": string(f.inner), "hops": f.hops})
		if _, err := shouldRefuse(t.post(t, raw), "bad_relay"); err != nil {
			t.Errorf("%s: %v", f.what, err)
		}
	}
	if !t.id.Manifest.MayRelay(MemberPeer) {
		// A later hop by a member that may not relay: XD-PEER passes the
		// origin's envelope on, with a chain that otherwise holds.
		p1 := t.hop(hopClaims{Iss: MemberRemote, Aud: MemberPeer, Iat: now - 1, Inner: sha256Hex(inner)}, keyRemote)
		p2 := t.hop(hopClaims{Iss: MemberPeer, Aud: t.candidate, Iat: now, Inner: sha256Hex(inner), Prev: sha256Hex([]byte(p1))}, keyPeer)
		b, err := json.Marshal(map[string]any{"inner": string(inner), "hops": []string{p1, p2}})
		if err != nil {
			t.Abortf("tester: %v", err)
		}
		pc := t.claims(federation.KindRelayForward, nil)
		pc.Iss, pc.Body, pc.CaseID = MemberPeer, b, c.CaseID
		if _, err := shouldRefuse(t.postAs(t, certPeer, t.sign(pc, keyPeer), "application/jose"), "bad_relay"); err != nil {
			t.Errorf("a later hop by %s, which may not relay: %v", MemberPeer, err)
		}
	}
	if !t.id.Manifest.MayRelay(t.candidate) {
		// Re-addressed: XD-REMOTE's envelope for XD-PEER, relayed to the
		// candidate with a chain that holds.
		pid := newCaseID(MemberRemote)
		pc := t.remoteClaims(federation.KindCaseCreate, caseDoc(pid, MemberRemote))
		pc.Aud = MemberPeer
		pin := t.sign(pc, keyRemote)
		raw, _ := t.relayedByTester(pin, pid)
		if _, err := shouldRefuse(t.post(t, raw), "wrong_audience"); err != nil {
			t.Errorf("inner envelope for %s re-addressed to the candidate: %v", MemberPeer, err)
		}
	}
	raw, oc := t.relayedByTester(inner, c.CaseID)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
}

// e2eReceiptFor matches an arrival at XD-TESTER that carries the
// candidate's end-to-end receipt for the inner envelope (jti, bytes) to
// origin, as the inner token of a relay.forward.
func (t *T) e2eReceiptFor(origin, caseID, jti string, inner []byte) func(*Arrival) bool {
	return func(a *Arrival) bool {
		if a.Kind != string(federation.KindRelayForward) || a.Env == nil || a.Env.CaseID != caseID {
			return false
		}
		in, err := federation.RelayInner(a.Raw)
		if err != nil {
			return false
		}
		_, err = federation.VerifyReceipt(in, t.id.Manifest, federation.ExpectedReceipt{
			Issuer: t.candidate, Audience: origin, ReceiptFor: jti, SHA256: sha256Hex(inner), Skew: t.skew,
		}, t.now())
		return err == nil
	}
}

// checkReceiptThroughRelay checks that the candidate sends what it owes a
// member whose relay_via names XD-TESTER through XD-TESTER, never to the
// member's own endpoint: after a relayed case.create of XD-REMOTE, its
// end-to-end receipt arrives at XD-TESTER as the inner token of a
// relay.forward whose one hop is the candidate's, to XD-TESTER.
func checkReceiptThroughRelay(t *T) {
	spy := t.spyEndpoint(MemberRemote, certRemote)
	defer spy.srv.Close()
	inner, c := t.remoteCase()
	raw, oc := t.relayedByTester(inner, c.CaseID)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
	got := t.listener.Wait(t.e2eReceiptFor(MemberRemote, c.CaseID, c.JTI, inner), 1, t.patience)
	if len(got) == 0 {
		t.Errorf("no end-to-end receipt for %s's envelope arrived through %s (its relay_via) within %s", MemberRemote, MemberTester, t.patience)
	} else if err := t.hopsOf(got[0].Env, nil); err != nil {
		t.Errorf("the relay.forward carrying the receipt: %v", err)
	}
	if n := spy.envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) reached %s's own endpoint, which names %s in relay_via", n, MemberRemote, MemberTester)
	}
}

// hopsOf checks the chain of a relay.forward env the candidate sent: the
// hops received before (want, exact bytes), then exactly one
// hop by the candidate to env's audience that binds the inner bytes and the hop
// before it.
func (t *T) hopsOf(env *federation.Envelope, want []string) error {
	var b struct {
		Inner string   `json:"inner"`
		Hops  []string `json:"hops"`
	}
	if err := federation.DecodeStrict(env.Body, &b); err != nil {
		return fmt.Errorf("body: %v", err)
	}
	if len(b.Hops) != len(want)+1 || !slices.Equal(b.Hops[:len(want)], want) {
		return fmt.Errorf("%d hops, want the %d received unchanged and one of the candidate's", len(b.Hops), len(want))
	}
	last := b.Hops[len(want)]
	var h hopClaims
	if err := json.Unmarshal(payloadOf([]byte(last)), &h); err != nil {
		return fmt.Errorf("the candidate's hop: %v", err)
	}
	prev := ""
	if len(want) > 0 {
		prev = sha256Hex([]byte(want[len(want)-1]))
	}
	if h.Iss != t.candidate || h.Aud != env.Audience || h.Inner != sha256Hex([]byte(b.Inner)) || h.Prev != prev {
		return fmt.Errorf("the candidate's hop %+v does not continue the chain (iss %s, aud %s, prev %q)", h, t.candidate, env.Audience, prev)
	}
	return nil
}

// checkConfirmationThroughRelay checks that withdrawals and confirmations
// travel by the same routes as any envelope (FLX-RLY-010): the tester
// relays a case.create of XD-REMOTE and then XD-REMOTE's withdrawal of it;
// the candidate's confirmation must arrive at XD-TESTER as the inner token
// of a relay.forward (aud XD-REMOTE, confirming that withdrawal), never at
// XD-REMOTE's endpoint.
func checkConfirmationThroughRelay(t *T) {
	spy := t.spyEndpoint(MemberRemote, certRemote)
	defer spy.srv.Close()
	inner, c := t.remoteCase()
	raw, oc := t.relayedByTester(inner, c.CaseID)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
	wc := t.remoteClaims(federation.KindCaseWithdraw, withdrawalDoc(c.CaseID))
	win := t.sign(wc, keyRemote)
	wraw, woc := t.relayedByTester(win, c.CaseID)
	t.mustAccept(t, t.post(t, wraw), wraw, woc, federation.ReceiptAccepted)
	match := func(a *Arrival) bool {
		if a.Kind != string(federation.KindRelayForward) || a.Env == nil || a.Env.CaseID != c.CaseID {
			return false
		}
		in, err := federation.RelayInner(a.Raw)
		if err != nil {
			return false
		}
		var ic Claims
		if json.Unmarshal(payloadOf(in), &ic) != nil || ic.Kind != string(federation.KindCaseWithdraw) || ic.Aud != MemberRemote || ic.Iss != t.candidate {
			return false
		}
		w, err := schema.ParseWithdrawal(ic.Body)
		return err == nil && w.Confirms == wc.JTI
	}
	if got := t.listener.Wait(match, 1, t.patience); len(got) == 0 {
		t.Errorf("no confirmation of %s's withdrawal %s arrived through %s within %s", MemberRemote, wc.JTI, MemberTester, t.patience)
	}
	time.Sleep(time.Second)
	if n := spy.envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) reached %s's own endpoint, which names %s in relay_via", n, MemberRemote, MemberTester)
	}
}

// checkRelayLoop checks that a chain in which a member sends two hops (a
// loop) is refused with bad_relay (FLX-RLY-004), though every other rule
// holds: XD-REMOTE -> XD-TESTER -> XD-COORD -> XD-TESTER -> candidate, each
// hop naming the one before it, the relays XD-TESTER and XD-COORD both
// allowed to relay.
func checkRelayLoop(t *T) {
	if !t.id.Manifest.MayRelay(MemberCoord) || !t.id.Manifest.MayRelay(MemberTester) {
		t.Skipf("the conformance manifest does not let %s and %s relay", MemberCoord, MemberTester)
	}
	inner, c := t.remoteCase()
	now := t.now().Unix()
	in := sha256Hex(inner)
	h1 := t.hop(hopClaims{Iss: MemberRemote, Aud: MemberTester, Iat: now - 3, Inner: in}, keyRemote)
	h2 := t.hop(hopClaims{Iss: MemberTester, Aud: MemberCoord, Iat: now - 2, Inner: in, Prev: sha256Hex([]byte(h1))}, keyTester)
	h3 := t.hop(hopClaims{Iss: MemberCoord, Aud: MemberTester, Iat: now - 1, Inner: in, Prev: sha256Hex([]byte(h2))}, keyCoord)
	h4 := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: in, Prev: sha256Hex([]byte(h3))}, keyTester)
	raw, _ := t.relayed(inner, c.CaseID, map[string]any{"inner": string(inner), "hops": []string{h1, h2, h3, h4}})
	mustRefuse(t, t.post(t, raw), "bad_relay")
}

// checkRelayHopAsOrigin checks that a hop naming the origin XD-REMOTE as
// iss but signed with the relay XD-TESTER's key (under its own kid) is
// refused with unknown_key (FLX-RLY-003): a relay cannot sign the origin's
// hop, though the chain XD-REMOTE -> XD-TESTER -> candidate otherwise holds.
func checkRelayHopAsOrigin(t *T) {
	inner, c := t.remoteCase()
	now := t.now().Unix()
	h1 := t.hop(hopClaims{Iss: MemberRemote, Aud: MemberTester, Iat: now - 1, Inner: sha256Hex(inner)}, keyTester)
	h2 := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(inner), Prev: sha256Hex([]byte(h1))}, keyTester)
	raw, _ := t.relayed(inner, c.CaseID, map[string]any{"inner": string(inner), "hops": []string{h1, h2}})
	mustRefuse(t, t.post(t, raw), "unknown_key")
}
