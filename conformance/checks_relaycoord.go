package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/familylinks/flx/federation"
)

// The candidate as a coordinator relaying what is not a case (SPEC.md
// §14.3, §17): statistics reports for another coordinator, and what it
// answers for a final recipient that the manifest suspends. XD-COORD is a
// coordinator whose relay is XD-TESTER: what the candidate relays to it
// arrives at the tester's listener.

// remoteStats is XD-REMOTE's statistics report of period for aud, signed,
// sent in a one-hop chain XD-REMOTE -> candidate (posted with XD-REMOTE's
// certificate), with its body changed by edit.
func (t *T) remoteStats(aud, period string, edit func(map[string]any)) (inner, raw []byte, hop string, oc Claims) {
	body := statsBody(MemberRemote, period, 1, map[string]any{"rcm_collected": 10})
	if edit != nil {
		edit(body)
	}
	b, _ := json.Marshal(body)
	c := t.remoteClaims(federation.KindStatsReport, b)
	c.Aud, c.CaseID = aud, MemberRemote+":stats-"+period
	inner = t.sign(c, keyRemote)
	hop = t.hop(hopClaims{Iss: MemberRemote, Aud: t.candidate, Iat: t.now().Unix(), Inner: sha256Hex(inner)}, keyRemote)
	hb, _ := json.Marshal(map[string]any{"inner": string(inner), "hops": []string{hop}})
	oc = t.remoteClaims(federation.KindRelayForward, nil)
	oc.Body, oc.CaseID = hb, c.CaseID
	return inner, t.sign(oc, keyRemote), hop, oc
}

// checkStatsRelayed checks that a coordinator candidate relays a
// statistics report to another coordinator: XD-REMOTE's valid report for
// XD-COORD is answered 202 and arrives at XD-TESTER (XD-COORD's relay) as a
// relay.forward with the same inner bytes, XD-REMOTE's hop and one of the
// candidate's; a report for a member that is no coordinator, one with a
// count its protection never publishes and one about another member are
// refused with relay_refused.
func checkStatsRelayed(t *T) {
	t.mayRelay()
	period := statsPeriod()
	for _, f := range []struct {
		what, aud string
		edit      func(map[string]any)
	}{
		{"a report for " + MemberPull + ", which is no coordinator", MemberPull, nil},
		{"a report with a count of 3 at k = b = 5", MemberCoord, func(b map[string]any) { b["counts"].(map[string]any)["tracing_opened"] = 3 }},
		{"a report about another member", MemberCoord, func(b map[string]any) { b["member"] = MemberPeer }},
	} {
		_, raw, _, _ := t.remoteStats(f.aud, period, f.edit)
		if _, err := shouldRefuse(t.postAs(t, certRemote, raw, "application/jose"), "relay_refused"); err != nil {
			t.Errorf("%s: %v", f.what, err)
		}
	}
	inner, raw, hop, oc := t.remoteStats(MemberCoord, period, nil)
	t.mustAccept(t, t.postAs(t, certRemote, raw, "application/jose"), raw, oc, federation.ReceiptAccepted)
	match := func(a *Arrival) bool {
		if a.Kind != string(federation.KindRelayForward) || a.CaseID != oc.CaseID || a.Env == nil {
			return false
		}
		in, err := federation.RelayInner(a.Raw)
		return err == nil && string(in) == string(inner)
	}
	got := t.listener.Wait(match, 1, t.patience)
	if len(got) == 0 {
		t.Fatalf("the report relayed for %s never reached its relay %s with the same inner bytes within %s", MemberCoord, MemberTester, t.patience)
	}
	if err := t.hopsOf(got[0].Env, []string{hop}); err != nil {
		t.Errorf("the relayed report's chain: %v", err)
	}
}

// checkSuspendedRecipient checks that a relay refuses a chain for a final
// recipient that the manifest suspends with relay_refused, the code that
// tells the sender the relay has no route, and not suspended_member, which
// would tell it that it is suspended itself.
func checkSuspendedRecipient(t *T) {
	t.mayRelay()
	inner, c := t.testerCaseFor(MemberSuspended, nil)
	ans, _, _ := t.relayThroughCandidate(inner, c.CaseID)
	if _, err := shouldRefuse(ans, "relay_refused"); err != nil {
		t.Errorf("a chain for %s, which the manifest suspends: %v", MemberSuspended, err)
	}
}

// remoteMedia is media XD-REMOTE attaches to a message for the candidate,
// signed by XD-REMOTE (its chunk hashes, bytes and inner envelope), and the
// relay.forward XD-TESTER sends it in, with the chain XD-REMOTE ->
// XD-TESTER -> candidate.
func (t *T) remoteMedia(size int) (m *testMedia, chain []byte, oc Claims) {
	m = &testMedia{data: randBytes(size), caseID: newCaseID(MemberRemote)}
	for off := 0; off < size; off += chunkTest {
		s := sha256.Sum256(m.data[off:min(off+chunkTest, size)])
		m.hashes = append(m.hashes, s[:]...)
	}
	whole, root := sha256.Sum256(m.data), sha256.Sum256(m.hashes)
	doc := setMembers(example("message.video_message"), map[string]any{
		"case_id": m.caseID, "message_id": MemberRemote + ":vid-" + hex.EncodeToString(randBytes(4)),
		"from": map[string]any{"member": MemberRemote}, "to": map[string]any{"member": t.candidate}, "reply_to": nil,
		"media": map[string]any{"sha256": hex.EncodeToString(whole[:]), "media_type": "video/mp4", "size_bytes": size,
			"duration_seconds": 12.5, "chunk_bytes": chunkTest, "chunks_sha256": hex.EncodeToString(root[:])},
	})
	m.env = t.sign(t.remoteClaims(federation.KindMessageDeliver, doc), keyRemote)
	chain, oc = t.relayedByTester(m.env, m.caseID)
	return m, chain, oc
}

// checkRelayedMedia checks that a final recipient takes a relayed
// recording from the relay that sends the last hop (SPEC.md §18.10): the
// relay.forward is refused with media_incomplete before its media; the
// media is offered with the relay.forward as the offer's envelope (201); a
// chunk the relay altered is refused with media_mismatch and does not
// count; once every chunk of the origin's hash list is in, the
// relay.forward is accepted.
func checkRelayedMedia(t *T) {
	m, chain, oc := t.remoteMedia(3*chunkTest + 500)
	mustRefuse(t, t.post(t, chain), "media_incomplete")
	ans := t.offer(certTester, chain, m.hashes)
	loc := ans.Header.Get("Location")
	if ans.Status != http.StatusCreated || !strings.HasPrefix(loc, mediaUploads+"/") || ans.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("offer of a relayed message's media with its relay.forward: want 201 at offset 0, got %s", ans)
	}
	altered := append([]byte{}, m.data[:chunkTest]...)
	altered[100] ^= 0x01
	mustRefuse(t, t.patch(certTester, loc, 0, altered), "media_mismatch")
	if ans := t.head(certTester, loc); ans.Header.Get("Upload-Offset") != "0" {
		t.Fatalf("a chunk the relay altered counted: Upload-Offset %q, want 0", ans.Header.Get("Upload-Offset"))
	}
	mustRefuse(t, t.post(t, chain), "media_incomplete")
	if ans := t.patch(certTester, loc, 0, m.data); ans.Status != http.StatusNoContent || ans.Header.Get("Upload-Offset") != strconv.Itoa(len(m.data)) {
		t.Fatalf("PATCH of the whole media: want 204 at %d, got %s", len(m.data), ans)
	}
	t.mustAccept(t, t.post(t, chain), chain, oc, federation.ReceiptAccepted)
}

// checkMediaNotToPullOnly checks that a coordinator candidate does not take
// a recording it cannot deliver: the tester's message with attached media
// for XD-PULL, which pulls its envelopes from the candidate, is refused
// with relay_refused both as a media offer (before any session) and as the
// relay.forward itself.
func checkMediaNotToPullOnly(t *T) {
	t.mayRelay()
	m := t.newMedia(2*chunkTest, MemberPull, 0)
	chain, _ := t.relayed(m.env, m.caseID, nil)
	if _, err := shouldRefuse(t.offer(certTester, chain, m.hashes), "relay_refused"); err != nil {
		t.Errorf("the offer of a recording for %s: %v", MemberPull, err)
	}
	if _, err := shouldRefuse(t.post(t, chain), "relay_refused"); err != nil {
		t.Errorf("the relay.forward of a message with a recording for %s: %v", MemberPull, err)
	}
}
