package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/federation/jose"
)

// Carried bundles (SPEC.md §16), through the optional trigger calls of §12
// that export and import them. The tester is XD-PULL at the other end:
// what the candidate queues for the pull-only XD-PULL can be exported to
// it, and XD-PULL's receipts come back in a bundle. Bundles the tester
// makes for the candidate come from XD-TESTER.

// bundleCalls skips a check when the candidate does not offer the bundle
// calls: an import without a bundle must be a 400, not a 404, 405 or 501.
func (t *T) bundleCalls() {
	ans, err := t.trigger.call(http.MethodPost, "/api/v1/bundles/import", t.trigger.token, map[string]string{"bundle": ""})
	if err != nil {
		t.Abortf("trigger: %v", err)
	}
	if ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented {
		t.Skipf("the candidate does not offer the bundle calls of SPEC.md §12")
	}
}

// bundleImported is the answer to POST /api/v1/bundles/import.
type bundleImported struct {
	Stored     int    `json:"stored"`
	Duplicates int    `json:"duplicates"`
	Refused    int    `json:"refused"`
	Receipts   int    `json:"receipts"`
	Return     string `json:"return"`
}

// importBundle has the candidate import file.
func (t *T) importBundle(file []byte) *Answer {
	ans, err := t.trigger.call(http.MethodPost, "/api/v1/bundles/import", t.trigger.token, map[string]string{"bundle": string(file)})
	if err != nil {
		t.Abortf("trigger: import bundle: %v", err)
	}
	return ans
}

// mustImport has the candidate import file, which it must take whole.
func (t *T) mustImport(what string, file []byte) bundleImported {
	ans := t.importBundle(file)
	var out bundleImported
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &out) != nil {
		t.Fatalf("%s: want the bundle imported (200 with the counts), got %s", what, ans)
	}
	return out
}

// candidateEncKey is the candidate's bundle key in the manifest.
func (t *T) candidateEncKey() *jose.EncPublicKey {
	k, err := t.id.Manifest.EncKeyFor(t.candidate, t.now())
	if err != nil {
		t.Abortf("the candidate publishes no bundle key in the conformance manifest: %v", err)
	}
	return k
}

// bundleClaims are the signed members of a bundle from XD-TESTER to the
// candidate holding envelopes, issued now and valid a day.
func (t *T) bundleClaims(envelopes ...[]byte) map[string]any {
	now := t.now()
	es := make([]string, len(envelopes))
	for i, e := range envelopes {
		es[i] = string(e)
	}
	return map[string]any{
		"iss": MemberTester, "aud": t.candidate, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(),
		"jti": federation.NewJTI(), "envelopes": es, "receipts": []string{}, "refusals": []any{},
	}
}

// sealBundle signs claims with s (typ flx-bundle+jws) and encrypts them to
// key (typ flx-bundle+jwe), as §16.1 describes.
func (t *T) sealBundle(claims map[string]any, s *rawSigner, key *jose.EncPublicKey) []byte {
	p, _ := json.Marshal(claims)
	signed := compact(header(s.alg, s.kid, bundle.TypSigned), p, s)
	out, err := jose.Encrypt(signed, bundle.TypEncrypted, bundle.TypSigned, key)
	if err != nil {
		t.Abortf("tester: seal a bundle: %v", err)
	}
	return out
}

// exportFor has the candidate export what it queued for XD-PULL and opens
// the bundle as XD-PULL, checking its header; it returns the bundle's
// envelope of caseID.
func (t *T) exportFor(caseID string) (*bundle.Opened, []byte) {
	ans, err := t.trigger.call(http.MethodPost, "/api/v1/bundles/export", t.trigger.token, map[string]string{"to": MemberPull})
	if err != nil {
		t.Abortf("trigger: export bundle: %v", err)
	}
	var out struct {
		Bundle string `json:"bundle"`
	}
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &out) != nil || out.Bundle == "" {
		t.Fatalf("export for %s, with a case queued for it: want 200 with the bundle, got %s", MemberPull, ans)
	}
	raw := bytes.TrimSuffix([]byte(out.Bundle), []byte("\n"))
	enc, err := jose.ParseJWE(raw, bundle.TypEncrypted)
	if err != nil {
		t.Fatalf("the exported bundle is not one compact JWE of typ %s: %v", bundle.TypEncrypted, err)
	}
	h := enc.Header()
	mb, _ := t.id.Manifest.Member(MemberPull)
	if h.Alg != "ECDH-ES+A256KW" || h.Enc != "A256GCM" || h.Cty != bundle.TypSigned || mb.EncJWKS.Key(h.KID) == nil {
		t.Errorf("the bundle's header %+v: want ECDH-ES+A256KW, A256GCM, cty %s and a kid of %s's enc_jwks", h, bundle.TypSigned, MemberPull)
	}
	op := &bundle.Opener{Self: MemberPull, Manifest: federation.StaticManifest(t.id.Manifest), Keys: []*jose.EncPrivateKey{t.id.PullEnc}, Skew: t.skew, Now: t.now}
	opened, err := op.Open(t.ctx, raw)
	if err != nil {
		t.Fatalf("the exported bundle does not open as %s's (§16.1, FLX-BDL-003): %v", MemberPull, err)
	}
	if opened.From != t.candidate {
		t.Errorf("the bundle is signed by %s, want the candidate", opened.From)
	}
	var env []byte
	for i, it := range opened.Envelopes {
		switch {
		case it.Err != nil:
			t.Errorf("envelope %d of the bundle is not the candidate's for %s: %v", i, MemberPull, it.Err)
		case it.Envelope.CaseID == caseID:
			env = it.Raw
		}
	}
	for i, rc := range opened.Receipts {
		if rc.Err != nil {
			t.Errorf("receipt %d of the bundle is not the candidate's: %v", i, rc.Err)
		}
	}
	if env == nil {
		t.Fatalf("the bundle for %s holds no envelope of case %s, queued for it", MemberPull, caseID)
	}
	return opened, env
}

// checkBundleExport checks that a bundle the candidate exports for XD-PULL
// has the format of §16.1, opens with XD-PULL's key, is signed by the
// candidate, and holds only its envelopes for XD-PULL, the queued case's
// among them.
func checkBundleExport(t *T) {
	t.bundleCalls()
	t.drainPull(t)
	caseID := t.forwardTo(MemberPull)
	t.exportFor(caseID)
}

// checkBundleReceiptsBack checks that an exported envelope counts as
// delivered only on a receipt that verifies: XD-PULL's return bundle with a
// receipt bound to other bytes leaves the case undelivered to XD-PULL, and
// one with its valid receipt delivers it (the optional read call of §12).
func checkBundleReceiptsBack(t *T) {
	t.bundleCalls()
	t.drainPull(t)
	caseID := t.forwardTo(MemberPull)
	_, env := t.exportFor(caseID)
	delivered := func() bool {
		d, ok, err := t.trigger.caseRecipients(caseID)
		switch {
		case err != nil:
			t.Abortf("trigger: %v", err)
		case !ok:
			t.Skipf("the candidate does not offer GET /api/v1/cases/{id} (SPEC.md §12)")
		}
		return !d[MemberPull].IsZero()
	}
	var c Claims
	_ = json.Unmarshal(payloadOf(env), &c)
	seal := func(receipt []byte) []byte {
		file, err := bundle.Seal(bundle.Contents{Receipts: [][]byte{receipt}}, bundle.SealOptions{
			From: MemberPull, To: t.candidate, Signer: t.id.Keys[keyPull], EncryptTo: t.candidateEncKey(), Now: t.now(),
		})
		if err != nil {
			t.Abortf("tester: seal the return bundle: %v", err)
		}
		return file
	}
	bad, _ := json.Marshal(map[string]any{"iss": MemberPull, "aud": t.candidate, "iat": t.now().Unix(), "receipt_for": c.JTI,
		"sha256": sha256Hex(append([]byte("other "), env...)), "status": "accepted"})
	s := signerOf(t.id.Keys[keyPull])
	t.mustImport("a return bundle with a receipt bound to other bytes", seal(compact(header(s.alg, s.kid, "flx-receipt+jws"), bad, s)))
	if delivered() {
		t.Fatalf("the case counts as delivered to %s on a receipt bound to other bytes", MemberPull)
	}
	t.mustImport("the return bundle", seal([]byte(t.pullReceipt(string(env)))))
	deadline := time.Now().Add(t.patience)
	for !delivered() {
		if time.Now().After(deadline) {
			t.Fatalf("the case does not count as delivered to %s within %s of the return bundle with its valid receipt", MemberPull, t.patience)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkBundleRefused checks that whole bundles are refused, and nothing of
// them stored: encrypted to another member's key, addressed to another
// member and re-encrypted to the candidate, tampered, truncated, signed by
// a key in no manifest, with another cty, signed by a suspended member,
// expired and issued in the future. The envelope they
// all held is then accepted (not a duplicate) when POSTed.
func checkBundleRefused(t *T) {
	t.bundleCalls()
	raw, c := t.validCase()
	tester := signerOf(t.id.Keys[keyTester])
	cand := t.candidateEncKey()
	good := t.sealBundle(t.bundleClaims(raw), tester, cand)
	tampered := append([]byte(nil), good...)
	i := bytes.LastIndexByte(tampered, '.') - 5 // in the ciphertext
	tampered[i] = flipB64(tampered[i])[0]
	stranger, err := jose.GenerateKey(jose.EdDSA)
	if err != nil {
		t.Abortf("tester: %v", err)
	}
	at := func(iat, exp time.Duration) map[string]any {
		cl := t.bundleClaims(raw)
		cl["iat"], cl["exp"] = t.now().Add(iat).Unix(), t.now().Add(exp).Unix()
		return cl
	}
	other := t.bundleClaims(raw)
	other["aud"] = MemberPull
	// The JWE's cty is not flx-bundle+jws, all else valid.
	p, _ := json.Marshal(t.bundleClaims(raw))
	wrongCty, err := jose.Encrypt(compact(header(tester.alg, tester.kid, bundle.TypSigned), p, tester), bundle.TypEncrypted, "JWT", cand)
	if err != nil {
		t.Abortf("tester: seal a bundle: %v", err)
	}
	// Signed by XD-SUSPENDED, a member the manifest suspends.
	bySuspended := t.bundleClaims(raw)
	bySuspended["iss"] = MemberSuspended
	for _, f := range []struct {
		what, code string
		file       []byte
	}{
		{"encrypted to another member's key", "wrong_audience", t.sealBundle(t.bundleClaims(raw), tester, t.id.PullEnc.Public())},
		{"addressed to another member, re-encrypted to the candidate", "wrong_audience", t.sealBundle(other, tester, cand)},
		{"a changed ciphertext", "bad_bundle", tampered},
		{"truncated", "bad_bundle", good[:len(good)/2]},
		{"signed by a key in no manifest", "unknown_key", t.sealBundle(t.bundleClaims(raw), signerOf(stranger), cand)},
		{"whose JWE header has cty JWT", "bad_bundle", wrongCty},
		{"signed by a suspended member", "suspended_member", t.sealBundle(bySuspended, signerOf(t.id.Keys[keySuspended]), cand)},
		{"expired", "expired", t.sealBundle(at(-72*time.Hour, -48*time.Hour), tester, cand)},
		{"issued in the future", "not_yet_valid", t.sealBundle(at(time.Hour, 25*time.Hour), tester, cand)},
		// The edges: SKEW + 15 s beyond the tolerance, and a lifetime of
		// 90 days and an hour.
		{"issued SKEW + 15 s in the future", "not_yet_valid", t.sealBundle(at(t.skew+15*time.Second, 25*time.Hour), tester, cand)},
		{"expired SKEW + 15 s ago", "expired", t.sealBundle(at(-72*time.Hour, -t.skew-15*time.Second), tester, cand)},
		{"living over 90 days", "bad_bundle", t.sealBundle(at(-time.Hour, 90*24*time.Hour), tester, cand)},
	} {
		if _, err := shouldRefuse(t.importBundle(f.file), f.code); err != nil {
			t.Errorf("a bundle %s: %v", f.what, err)
		}
	}
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
}

// checkBundleEachEnvelope checks that each envelope of a bundle is checked
// as if its exporter had POSTed it: of a valid envelope, one for another
// member and one signed by another member, only the first is stored.
func checkBundleEachEnvelope(t *T) {
	t.bundleCalls()
	raw, c := t.validCase()
	forOther := t.valid()
	forOther.Aud = MemberPeer
	byOther := t.claims(federation.KindMessageDeliver, messageDoc(newCaseID(MemberPeer)))
	byOther.Iss = MemberPeer
	file := t.sealBundle(t.bundleClaims(raw, t.sign(forOther, keyTester), t.sign(byOther, keyPeer)), signerOf(t.id.Keys[keyTester]), t.candidateEncKey())
	got := t.mustImport("a bundle of three envelopes, two of them faulty", file)
	if got.Stored != 1 || got.Refused != 2 {
		t.Errorf("stored %d and refused %d envelopes, want 1 and 2 (one for another member, one signed by another member)", got.Stored, got.Refused)
	}
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
}

// checkBundleReimport checks that importing a bundle again, or another
// bundle with the same envelope, processes nothing twice: every envelope is
// a duplicate, and so is the envelope POSTed afterwards.
func checkBundleReimport(t *T) {
	t.bundleCalls()
	raw, c := t.validCase()
	tester := signerOf(t.id.Keys[keyTester])
	file := t.sealBundle(t.bundleClaims(raw), tester, t.candidateEncKey())
	if got := t.mustImport("a bundle", file); got.Stored != 1 {
		t.Fatalf("first import: stored %d envelopes, want 1", got.Stored)
	}
	for _, f := range []struct {
		what string
		file []byte
	}{
		{"the same bundle again", file},
		{"another bundle with the same envelope", t.sealBundle(t.bundleClaims(raw), tester, t.candidateEncKey())},
	} {
		if got := t.mustImport(f.what, f.file); got.Stored != 0 || got.Duplicates != 1 {
			t.Errorf("%s: stored %d, duplicates %d, want 0 and 1", f.what, got.Stored, got.Duplicates)
		}
	}
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
}

// checkBundleReimportAfterExp checks that the replay records of imported
// envelopes outlive the envelopes' exp while a bundle holding them is still
// valid (FLX-BDL-005): an envelope that expires 3 s after it is issued is
// imported; once it has expired, another bundle with the same iat (at which
// the envelope is still valid) holding it must store nothing, and the same
// bundle again neither: the envelope is a duplicate each time.
func checkBundleReimportAfterExp(t *T) {
	t.bundleCalls()
	c := t.claims(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
	c.Exp = c.Iat + 3
	raw := t.sign(c, keyTester)
	tester := signerOf(t.id.Keys[keyTester])
	first := t.bundleClaims(raw)
	first["iat"] = c.Iat
	file := t.sealBundle(first, tester, t.candidateEncKey())
	if got := t.mustImport("a bundle holding an envelope that expires in 3 s", file); got.Stored != 1 {
		t.Fatalf("first import: stored %d envelopes, want 1", got.Stored)
	}
	time.Sleep(time.Until(time.Unix(c.Exp, 0).Add(-t.clockOffset)) + 2*time.Second)
	second := t.bundleClaims(raw)
	second["iat"] = c.Iat
	for _, f := range []struct {
		what string
		file []byte
	}{
		{"another bundle issued at the same time, imported after the envelope's exp", t.sealBundle(second, tester, t.candidateEncKey())},
		{"the same bundle again, after the envelope's exp", file},
	} {
		if got := t.mustImport(f.what, f.file); got.Stored != 0 || got.Duplicates != 1 {
			t.Errorf("%s: stored %d, duplicates %d, refused %d, want 0, 1 and 0", f.what, got.Stored, got.Duplicates, got.Refused)
		}
	}
}

// checkBundleSameJTI checks that a bundle with the (iss, jti) of one
// imported before and other content is refused whole with replay, and
// nothing of it stored (FLX-BDL-005): after a bundle of two envelopes, the
// same jti with an envelope added, one removed, the two reordered, one
// replaced by a new envelope, issued or expiring a second later. The same
// bundle re-encrypted is imported again (both envelopes duplicates),
// another member's bundle with the same jti is a bundle of its own, and
// the new envelope the refused bundles offered is then accepted (not a
// duplicate) when POSTed.
func checkBundleSameJTI(t *T) {
	t.bundleCalls()
	tester := signerOf(t.id.Keys[keyTester])
	key := t.candidateEncKey()
	raw1, _ := t.validCase()
	raw2, _ := t.validCase()
	first := t.bundleClaims(raw1, raw2)
	if got := t.mustImport("a bundle of two envelopes", t.sealBundle(first, tester, key)); got.Stored != 2 {
		t.Fatalf("first import: stored %d envelopes, want 2", got.Stored)
	}
	fresh, fc := t.validCase()
	same := func(envelopes ...[]byte) map[string]any {
		cl := t.bundleClaims(envelopes...)
		for _, k := range []string{"iat", "exp", "jti"} {
			cl[k] = first[k]
		}
		return cl
	}
	later := func(member string) map[string]any {
		cl := same(raw1, raw2)
		cl[member] = cl[member].(int64) + 1
		return cl
	}
	for _, f := range []struct {
		what   string
		claims map[string]any
	}{
		{"a new envelope added", same(raw1, raw2, fresh)},
		{"an envelope removed", same(raw1)},
		{"the envelopes reordered", same(raw2, raw1)},
		{"an envelope replaced by a new one", same(raw1, fresh)},
		{"issued a second later", later("iat")},
		{"expiring a second later", later("exp")},
	} {
		if _, err := shouldRefuse(t.importBundle(t.sealBundle(f.claims, tester, key)), "replay"); err != nil {
			t.Errorf("the same bundle jti with other content, %s: %v", f.what, err)
		}
	}
	if got := t.mustImport("the same bundle re-encrypted", t.sealBundle(first, tester, key)); got.Stored != 0 || got.Duplicates != 2 {
		t.Errorf("the same bundle re-encrypted: stored %d, duplicates %d, want 0 and 2", got.Stored, got.Duplicates)
	}
	pc := t.claims(federation.KindCaseCreate, caseDoc(newCaseID(MemberPeer), MemberPeer))
	pc.Iss = MemberPeer
	byPeer := t.bundleClaims(t.sign(pc, keyPeer))
	byPeer["iss"], byPeer["jti"] = MemberPeer, first["jti"]
	if got := t.mustImport(MemberPeer+"'s bundle with the jti of "+MemberTester+"'s", t.sealBundle(byPeer, signerOf(t.id.Keys[keyPeer]), key)); got.Stored != 1 {
		t.Errorf("%s's bundle with the jti of %s's: stored %d envelopes, want 1 (jti is scoped by iss)", MemberPeer, MemberTester, got.Stored)
	}
	t.mustAccept(t, t.post(t, fresh), fresh, fc, federation.ReceiptAccepted)
}
