package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/mtls"
)

// Checks of manifest mode (SPEC.md §3, FLX-TLS-004): each refusal is a
// manifest of the next version that differs from a valid one by its one
// fault; the valid one is then adopted, which shows that the fault alone
// was refused. Limits are probed SKEW ± 5 s around their edge.

// checkManifestSignature checks FLX-MAN-001: a manifest is adopted only
// with the exact header and the trust anchor's signature.
func checkManifestSignature(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	v := held + 1
	p := t.manifestDoc(v).payload()
	a := t.manifest.anchor
	otherKey, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Abortf("tester: %v", err)
	}
	other := signerOf(otherKey)
	good := t.signManifest(p)
	changed := t.manifestDoc(v)
	changed.member(MemberPeer)["name"] = "Conformance peer, renamed"
	parts := strings.Split(string(good), ".")
	tampered := []byte(parts[0] + "." + b64.EncodeToString(changed.payload()) + "." + parts[2])
	withX5U := []byte(fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":%q,"x5u":"https://anchor.invalid/anchor.pem"}`, a.alg, a.kid, federation.TypManifest))
	probes := []struct {
		what string
		raw  []byte
	}{
		{"a manifest signed by another key under the anchor's kid", compact(header(other.alg, a.kid, federation.TypManifest), p, other)},
		{"a manifest whose payload was changed after signing", tampered},
		{"a manifest with typ flx-envelope+jws", compact(header(a.alg, a.kid, federation.TypEnvelope), p, a)},
		{"a manifest whose header adds x5u", compact(withX5U, p, a)},
		{"a manifest whose kid is not the anchor's", compact(header(a.alg, "not-the-anchor", federation.TypManifest), p, a)},
		{"a manifest with alg none", compact(header("none", a.kid, federation.TypManifest), p, nil)},
		{"an HS256 manifest keyed with the anchor's public JWK", hmacCompact(header("HS256", a.kid, federation.TypManifest), p, t.manifest.anchorPub)},
	}
	for _, pr := range probes {
		if !t.refuseManifest(pr.what, pr.raw, v, held) {
			return
		}
	}
	if ok, err := t.adoptManifest(good, v); !ok {
		t.Abortf("manifest mode: the same content signed by the anchor (version %d) was not adopted within %s (%v)", v, t.patience, err)
	}
}

// checkManifestContent checks FLX-MAN-002: content that breaks §3.2 in one
// way, correctly signed, is not adopted.
func checkManifestContent(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	v := held + 1
	extraKey, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Abortf("tester: %v", err)
	}
	var extraJWK map[string]any
	kb, _ := json.Marshal(extraKey.Public())
	_ = json.Unmarshal(kb, &extraJWK)
	pin := make([]byte, 32)
	_, _ = rand.Read(pin)
	probes := []struct {
		what string
		edit func(d manifestDoc) []byte
	}{
		{"an unknown top-level member", func(d manifestDoc) []byte { d["comment"] = "x"; return d.payload() }},
		{"an unknown member in a member entry", func(d manifestDoc) []byte { d.member(MemberPeer)["note"] = "x"; return d.payload() }},
		{"the member federation twice", func(d manifestDoc) []byte {
			name, _ := json.Marshal(d["federation"])
			p := d.payload()
			return append([]byte(`{"federation":`+string(name)+`,`), p[1:]...)
		}},
		{"a kid used by two members", func(d manifestDoc) []byte {
			peer := d.member(MemberPeer)["jwks"].(map[string]any)["keys"].([]any)
			susp := d.member(MemberSuspended)["jwks"].(map[string]any)
			susp["keys"] = append(susp["keys"].([]any), peer[0])
			return d.payload()
		}},
		{"a pin used by two members", func(d manifestDoc) []byte {
			peer := d.member(MemberPeer)["tls_spki_sha256"].([]any)
			susp := d.member(MemberSuspended)
			susp["tls_spki_sha256"] = append(susp["tls_spki_sha256"].([]any), peer[0])
			return d.payload()
		}},
		{"a member id listed twice (other keys and pins)", func(d manifestDoc) []byte {
			twin := map[string]any{}
			for k, val := range d.member(MemberSuspended) {
				twin[k] = val
			}
			twin["id"], twin["status"] = MemberPeer, "active"
			twin["jwks"] = map[string]any{"keys": []any{extraJWK}}
			twin["tls_spki_sha256"] = []any{hex.EncodeToString(pin)}
			d["members"] = append(d["members"].([]any), twin)
			return d.payload()
		}},
		{"another federation name", func(d manifestDoc) []byte {
			d["federation"] = fmt.Sprint(d["federation"]) + " (other)"
			return d.payload()
		}},
		{"a country not of two capital letters", func(d manifestDoc) []byte { d.member(MemberPeer)["country"] = "xd"; return d.payload() }},
		{"an active member without a pin", func(d manifestDoc) []byte { d.member(MemberPeer)["tls_spki_sha256"] = []any{}; return d.payload() }},
	}
	for _, pr := range probes {
		if !t.refuseManifest(pr.what, t.signManifest(pr.edit(t.manifestDoc(v))), v, held) {
			return
		}
	}
	if ok, err := t.adoptManifest(t.signManifest(t.manifestDoc(v).payload()), v); !ok {
		t.Abortf("manifest mode: the same version without the faults was not adopted within %s (%v)", t.patience, err)
	}
}

// roundUp is tm rounded up to the second, so that a time probed beyond an
// edge stays beyond it once written as an RFC 3339 date-time.
func roundUp(tm time.Time) time.Time { return tm.Add(time.Second - 1).Truncate(time.Second) }

// checkManifestTimes checks FLX-MAN-003 at its edges: issued_at SKEW + 5 s
// ahead and expires_at SKEW + 5 s past are refused; issued_at SKEW − 5 s
// ahead is adopted (expires_at just inside its edge: FLX-MAN-006's check).
func checkManifestTimes(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	v := held + 1
	future := t.manifestDoc(v)
	future["issued_at"] = rfc3339(roundUp(t.now().Add(t.skew + skewMargin)))
	if !t.refuseManifest(fmt.Sprintf("a manifest issued SKEW + %s ahead", skewMargin), t.signManifest(future.payload()), v, held) {
		return
	}
	expired := t.manifestDoc(v)
	expired["issued_at"] = rfc3339(t.now().Add(-48 * time.Hour))
	expired["expires_at"] = rfc3339(t.now().Add(-t.skew - skewMargin))
	if !t.refuseManifest(fmt.Sprintf("a manifest that expired SKEW + %s ago", skewMargin), t.signManifest(expired.payload()), v, held) {
		return
	}
	inside := t.manifestDoc(v)
	inside["issued_at"] = rfc3339(t.now().Add(t.skew - skewMargin))
	if ok, err := t.adoptManifest(t.signManifest(inside.payload()), v); !ok {
		t.Errorf("a manifest issued SKEW − %s ahead (version %d) was not adopted within %s (%v): only a manifest issued beyond now + SKEW is refused",
			skewMargin, v, t.patience, err)
	}
}

// checkManifestRollback checks FLX-MAN-004: once version v is held, v − 1
// and v with other content are refused, and v again is harmless.
func checkManifestRollback(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	v := held + 1
	cur := t.signManifest(t.manifestDoc(v).payload())
	if ok, err := t.adoptManifest(cur, v); !ok {
		t.Abortf("manifest mode: version %d was not adopted within %s (%v)", v, t.patience, err)
	}
	if !t.refuseManifest(fmt.Sprintf("version %d, below the held version %d", v-1, v), t.signManifest(t.manifestDoc(v-1).payload()), v-1, v) {
		return
	}
	// The same version with other content: the version cannot show its
	// adoption, XD-PEER's suspension in it does.
	other := t.manifestDoc(v)
	other.member(MemberPeer)["status"] = "suspended"
	if !t.refuseManifest(fmt.Sprintf("version %d again with XD-PEER suspended", v), t.signManifest(other.payload()), v, v) {
		return
	}
	if err := t.peerStillActive(); err != nil {
		t.Errorf("version %d again with other content was adopted: XD-PEER, suspended only in it, is refused (%v)", v, err)
		return
	}
	if t.refuseManifest(fmt.Sprintf("the held version %d again, the same bytes", v), cur, v, v) {
		if err := t.peerStillActive(); err != nil {
			t.Errorf("after the held manifest was read again, XD-PEER is refused (%v)", err)
		}
	}
}

// peerStillActive asks the candidate's metadata as XD-PEER.
func (t *T) peerStillActive() error {
	ans, err := t.request(certPeer, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		return err
	}
	if ans.Status != http.StatusOK {
		return fmt.Errorf("answered %s", ans)
	}
	return nil
}

// checkManifestKept checks FLX-MAN-005: a manifest that cannot be read, or
// is no manifest at all, leaves the held one in use.
func checkManifestKept(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	for _, pr := range []struct {
		what string
		raw  []byte
	}{
		{"the manifest file removed", nil},
		{"a manifest file holding no manifest", []byte("this is not a manifest")},
	} {
		if !t.refuseManifest(pr.what, pr.raw, 0, held) {
			return
		}
		raw, c := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
		if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
			t.Errorf("with %s, a valid envelope: %v", pr.what, err)
		}
	}
}

// checkManifestExpiredStops checks FLX-MAN-006 at its edge: a manifest
// whose expires_at is SKEW − 6 s ago is adopted and used; once expires_at
// + SKEW has passed, an envelope is refused (503 unavailable with
// Retry-After; or, from a node that then trusts no certificate, a failed
// handshake or 401 unauthenticated_peer); a newer valid manifest ends it.
func checkManifestExpiredStops(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	const inside = 6 * time.Second
	v := held + 1
	d := t.manifestDoc(v)
	expires := t.now().Add(-t.skew + inside).Truncate(time.Second)
	d["issued_at"] = rfc3339(t.now().Add(-48 * time.Hour))
	d["expires_at"] = rfc3339(expires)
	if ok, err := t.adoptManifest(t.signManifest(d.payload()), v); !ok {
		t.Errorf("a manifest whose expires_at is SKEW − %s ago (version %d) was not adopted within %s (%v): only one that expired at or before now − SKEW is refused",
			inside, v, t.patience, err)
		return
	}
	if t.now().Before(expires.Add(t.skew - time.Second)) {
		raw, c := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
		if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
			t.Errorf("before expires_at + SKEW, with the held manifest still valid: a valid envelope: %v", err)
		}
	}
	if wait := time.Until(expires.Add(t.skew + time.Second).Add(-t.clockOffset)); wait > 0 {
		time.Sleep(wait)
	}
	raw, _ := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	ans, err := t.request(certTester, http.MethodPost, "/flx/v1/envelopes", raw, "application/jose")
	switch {
	case err != nil:
		// Refused in the handshake: no usable manifest, no trusted peer.
	case ans.Status == http.StatusUnauthorized:
		// The same on a connection made before (FLX-ID-005).
		if _, perr := shouldRefuse(ans, "unauthenticated_peer"); perr != nil {
			t.Errorf("with the held manifest expired: %v", perr)
		}
	case ans.Status == http.StatusServiceUnavailable:
		if _, perr := shouldRefuse(ans, "unavailable"); perr != nil {
			t.Errorf("with the held manifest expired: %v", perr)
		}
		if ans.Header.Get("Retry-After") == "" {
			t.Errorf("with the held manifest expired: 503 without Retry-After")
		}
	default:
		t.Errorf("with the held manifest expired SKEW + 1 s ago, a valid envelope was answered %s; want 503 unavailable with Retry-After (or a failed handshake, or 401 unauthenticated_peer)", ans)
	}
	v2 := v + 1
	if ok, err := t.adoptManifest(t.signManifest(t.manifestDoc(v2).payload()), v2); !ok {
		t.Errorf("with its held manifest expired, the candidate did not adopt a newer valid one (version %d) within %s (%v)", v2, t.patience, err)
		return
	}
	raw, c := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("after a newer valid manifest was adopted, a valid envelope: %v", err)
	}
}

// peerGet is one metadata request of XD-PEER on client c: the status (0:
// the request failed, err says why), whether the TLS session was resumed
// and whether an open connection was reused.
type peerGet struct {
	status          int
	resumed, reused bool
	err             error
}

func (t *T) getAsPeer(c *http.Client) peerGet {
	var g peerGet
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { g.reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.ctx, trace), http.MethodGet, t.target.String()+"/.well-known/flx", nil)
	if err != nil {
		g.err = err
		return g
	}
	resp, err := c.Do(req)
	if err != nil {
		g.err = err
		return g
	}
	defer resp.Body.Close()
	g.status = resp.StatusCode
	g.resumed = resp.TLS != nil && resp.TLS.DidResume
	return g
}

// checkResumedHandshakeRechecked checks FLX-TLS-004 (and the second part
// of FLX-ID-005): XD-PEER holds an open connection and a session ticket;
// a manifest suspending it is adopted; its next request on the open
// connection is refused, and so is the resumption of its session, in the
// handshake whenever a full handshake with its certificate is.
func checkResumedHandshakeRechecked(t *T) {
	held := t.startManifest()
	defer t.restoreManifest()
	newPeer := func() *http.Client {
		return mtls.NewClient(t.id.Certs[certPeer], t.dir, t.candidate, 15*time.Second)
	}
	c := newPeer()
	defer c.CloseIdleConnections()
	if g := t.getAsPeer(c); g.status != http.StatusOK {
		t.Abortf("XD-PEER's metadata request before the check: %d %v", g.status, g.err)
	}
	c.CloseIdleConnections()
	first := t.getAsPeer(c)
	if first.status != http.StatusOK {
		t.Abortf("XD-PEER's second metadata request before the check: %d %v", first.status, first.err)
	}
	d := t.manifestDoc(held + 1)
	d.member(MemberPeer)["status"] = "suspended"
	t.mustAdopt("a manifest suspending XD-PEER", d)

	open := t.getAsPeer(c)
	switch {
	case !open.reused:
		t.Logf("XD-PEER's connection was closed before the suspension took effect: no open connection to check (FLX-ID-005)")
	case open.err == nil && open.status/100 == 2:
		t.Errorf("FLX-ID-005: once the held manifest suspends XD-PEER, its next request on a connection it held was answered %d", open.status)
	}
	f := newPeer()
	full := t.getAsPeer(f)
	f.CloseIdleConnections()
	if full.err == nil && full.status/100 == 2 {
		t.Errorf("a new handshake of XD-PEER, suspended by the held manifest, was answered %d", full.status)
	}
	if !first.resumed {
		t.Logf("the candidate did not resume XD-PEER's TLS session before the suspension: no resumption to check")
		return
	}
	c.CloseIdleConnections()
	res := t.getAsPeer(c)
	switch {
	case res.err != nil:
		// Refused in the handshake.
	case res.status/100 == 2:
		t.Errorf("XD-PEER resumed its TLS session after the held manifest suspended it and was answered %d", res.status)
	case res.resumed && full.err != nil:
		t.Errorf("XD-PEER's resumed handshake completed (then answered %d) after the held manifest suspended it, where a full handshake with its certificate fails: the handshake's checks were not run on the resumption", res.status)
	}
}

// checkManifestExpiredSendsNothing checks the sending half of FLX-MAN-006:
// a case queued for the tester (its first attempt answered 503) is not
// sent while the held manifest is expired, and arrives once a newer valid
// manifest is adopted (it stayed queued). It needs the trigger calls too.
func checkManifestExpiredSendsNothing(t *T) {
	if t.trigger == nil {
		t.Skipf("outbound mode not enabled (no trigger URL, SPEC.md §12)")
	}
	held := t.startManifest()
	defer t.restoreManifest()
	var open atomic.Bool
	caseID := t.sendCase(func(*Arrival) Action {
		if open.Load() {
			return Action{}
		}
		return Action{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: "1"}
	})
	if got := t.listener.Wait(forCase(caseID), 1, t.patience); len(got) == 0 {
		t.Abortf("the case forwarded to the tester did not arrive within %s", t.patience)
	}
	// A manifest that expires (with SKEW) 3 s after it is written.
	const inside = 3 * time.Second
	v := held + 1
	d := t.manifestDoc(v)
	expires := t.now().Add(-t.skew + inside).Truncate(time.Second)
	d["issued_at"] = rfc3339(t.now().Add(-48 * time.Hour))
	d["expires_at"] = rfc3339(expires)
	if ok, err := t.adoptManifest(t.signManifest(d.payload()), v); !ok {
		t.Abortf("manifest mode: a manifest expiring in %s (version %d) was not adopted within %s (%v)", inside, v, t.patience, err)
	}
	// From expires_at + SKEW (tester's clock, with its own slack) the
	// listener would accept the case: nothing may come until a newer
	// manifest is adopted.
	expired := expires.Add(t.skew).Add(-t.clockOffset).Add(500 * time.Millisecond)
	if wait := time.Until(expired); wait > 0 {
		time.Sleep(wait)
	}
	open.Store(true)
	time.Sleep(t.quiet)
	for _, a := range t.listener.Arrivals(forCase(caseID)) {
		if a.At.After(expired) {
			t.Errorf("with its held manifest expired, the candidate sent the case's envelope to the tester (%s after expires_at + SKEW)", a.At.Sub(expired).Round(100*time.Millisecond))
			return
		}
	}
	v2 := v + 1
	if ok, err := t.adoptManifest(t.signManifest(t.manifestDoc(v2).payload()), v2); !ok {
		t.Errorf("with its held manifest expired, the candidate did not adopt a newer valid one (version %d) within %s (%v)", v2, t.patience, err)
		return
	}
	// Its backoff grew while it could not send: up to the patience and 16 s.
	accepted := func(a *Arrival) bool { return a.CaseID == caseID && strings.HasPrefix(a.Answered, "202") }
	if got := t.listener.Wait(accepted, 1, t.patience+16*time.Second); len(got) == 0 {
		t.Errorf("the envelope queued while the manifest was expired did not arrive within %s of a newer manifest: it must stay queued", t.patience+16*time.Second)
	}
}
