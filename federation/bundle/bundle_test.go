package bundle_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/jose"
)

var t0 = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// fed is XA-RC (X25519 encryption key), XB-RC (P-256 encryption key), XC-RC
// (X25519) and the suspended XS-RC; now is the clock of every opener.
type fed struct {
	anchor   *jose.PrivateKey
	sig      map[string]*jose.PrivateKey
	enc      map[string]*jose.EncPrivateKey
	manifest *federation.Manifest
	now      time.Time
}

func newFed(t testing.TB) *fed {
	t.Helper()
	f := &fed{anchor: must(jose.GenerateKey("")), sig: map[string]*jose.PrivateKey{}, enc: map[string]*jose.EncPrivateKey{}, now: t0}
	spec := &federation.Manifest{Federation: "flx-bundle-test", Version: 1, IssuedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(365 * 24 * time.Hour),
		TLSCAPEM: []string{string(must(devca.New("FLX bundle test CA", time.Hour)).CertPEM())}}
	for i, d := range []struct {
		id     string
		crv    jose.Curve
		status federation.Status
	}{{"XA-RC", jose.X25519, federation.StatusActive}, {"XB-RC", jose.P256, federation.StatusActive}, {"XC-RC", jose.X25519, federation.StatusActive}, {"XS-RC", jose.X25519, federation.StatusSuspended}} {
		f.sig[d.id] = must(jose.GenerateKey(""))
		f.enc[d.id] = must(jose.GenerateEncKey(d.crv))
		spec.Members = append(spec.Members, federation.Member{ID: d.id, Name: "Test " + d.id, Country: d.id[:2], Role: federation.RoleSociety,
			PullOnly: true, JWKS: jose.KeySet{f.sig[d.id].Public()}, EncJWKS: jose.EncKeySet{f.enc[d.id].Public()},
			TLSSPKISHA256: []string{strings.Repeat(string(rune('a'+i)), 64)}, Accepts: federation.Kinds, Status: d.status})
	}
	f.manifest = must(federation.VerifyManifest(must(federation.SignManifest(spec, f.anchor)), f.anchor.Public(), t0, nil))
	return f
}

func (f *fed) envelope(t testing.TB, iss, aud string, iat time.Time, ttl time.Duration) []byte {
	t.Helper()
	return must(federation.Sign(federation.Claims{Issuer: iss, Audience: aud, IssuedAt: iat, ExpiresAt: iat.Add(ttl),
		JTI: federation.NewJTI(), Kind: federation.KindCaseCreate, CaseID: iss + ":b-1", Body: json.RawMessage(`{"case_id":"` + iss + `:b-1"}`)}, f.sig[iss]))
}

func (f *fed) seal(t testing.TB, c bundle.Contents, from, to string, edit func(*bundle.SealOptions)) []byte {
	t.Helper()
	o := bundle.SealOptions{From: from, To: to, Signer: f.sig[from], EncryptTo: must(f.manifest.EncKeyFor(to, f.now)), Now: f.now}
	if edit != nil {
		edit(&o)
	}
	return must(bundle.Seal(c, o))
}

func (f *fed) opener(self string) *bundle.Opener {
	return &bundle.Opener{Self: self, Manifest: federation.StaticManifest(f.manifest), Keys: []*jose.EncPrivateKey{f.enc[self]}, Now: func() time.Time { return f.now }}
}

// TestRoundTrip: XA-RC carries envelopes to XB-RC (P-256) and XB-RC's
// receipts come back to XA-RC (X25519) in a bundle; XA-RC checks each receipt
// against what it sent.
func TestRoundTrip(t *testing.T) {
	f := newFed(t)
	ctx := context.Background()
	var sent [][]byte
	for range 3 {
		sent = append(sent, f.envelope(t, "XA-RC", "XB-RC", f.now.Add(-time.Hour), 6*time.Hour))
	}
	file := f.seal(t, bundle.Contents{Envelopes: sent}, "XA-RC", "XB-RC", nil)
	op, err := f.opener("XB-RC").Open(ctx, append(file, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if op.From != "XA-RC" || op.To != "XB-RC" || len(op.Envelopes) != 3 || !op.ExpiresAt.Equal(f.now.Add(bundle.DefaultTTL)) {
		t.Fatalf("opened %+v", op)
	}
	guard := federation.NewMemoryReplayGuard(func() time.Time { return f.now }, 0)
	if dup, err := op.CheckReplay(ctx, guard); dup || err != nil {
		t.Fatalf("first import: %v %v", dup, err)
	}
	var receipts [][]byte
	for i, it := range op.Envelopes {
		if it.Err != nil || !bytes.Equal(it.Envelope.Raw(), sent[i]) {
			t.Fatalf("envelope %d: %v", i, it.Err)
		}
		if dup, err := it.CheckReplay(ctx, guard); dup || err != nil {
			t.Fatal(dup, err)
		}
		receipts = append(receipts, must(federation.SignReceipt(federation.ReceiptFor(it.Envelope, federation.ReceiptAccepted, f.now), f.sig["XB-RC"])))
	}

	f.now = f.now.Add(72 * time.Hour) // the courier takes three days back
	back := f.seal(t, bundle.Contents{Receipts: receipts}, "XB-RC", "XA-RC", nil)
	rop, err := f.opener("XA-RC").Open(ctx, back)
	if err != nil {
		t.Fatal(err)
	}
	for i, ri := range rop.Receipts {
		p := strings.Split(string(sent[i]), ".")
		var c struct {
			JTI string `json:"jti"`
		}
		_ = json.Unmarshal(must(base64.RawURLEncoding.DecodeString(p[1])), &c)
		if ri.Err != nil || ri.ReceiptFor != c.JTI {
			t.Fatalf("receipt %d: %+v", i, ri)
		}
		if _, err := rop.VerifyReceipt(ri.Raw, federation.ExpectedReceipt{Issuer: "XB-RC", Audience: "XA-RC", ReceiptFor: c.JTI,
			SHA256: federation.ExpectReceipt(sent[i], federation.Claims{JTI: c.JTI}).SHA256}); err != nil {
			t.Fatalf("receipt %d does not verify: %v", i, err)
		}
	}
}

// TestReplayedBundle: importing the same bundle again (the same file, or the
// same signed bundle encrypted anew) processes nothing twice, even after the
// envelopes' own exp; the same bundle id with other content is a replay.
func TestReplayedBundle(t *testing.T) {
	f := newFed(t)
	ctx := context.Background()
	env := f.envelope(t, "XA-RC", "XB-RC", f.now, 2*time.Hour)
	file := f.seal(t, bundle.Contents{Envelopes: [][]byte{env}}, "XA-RC", "XB-RC", func(o *bundle.SealOptions) { o.JTI = "stick-7" })
	guard := federation.NewMemoryReplayGuard(func() time.Time { return f.now }, 0)
	processed := 0
	importFile := func(file []byte) (bundleDup bool, err error) {
		op, err := f.opener("XB-RC").Open(ctx, file)
		if err != nil {
			return false, err
		}
		if bundleDup, err = op.CheckReplay(ctx, guard); err != nil {
			return false, err
		}
		for _, it := range op.Envelopes {
			if it.Err != nil {
				t.Fatalf("item refused: %v", it.Err)
			}
			dup, err := it.CheckReplay(ctx, guard)
			if err != nil {
				return false, err
			}
			if !dup {
				processed++
			}
		}
		return bundleDup, nil
	}
	if dup, err := importFile(file); dup || err != nil {
		t.Fatal(dup, err)
	}
	if dup, err := importFile(file); !dup || err != nil {
		t.Fatalf("second import: dup %v err %v", dup, err)
	}
	// Ten days later, long after the envelope's exp, a copy of the stick.
	f.now = f.now.Add(10 * 24 * time.Hour)
	_, _ = guard.Seen(ctx, "prune-trigger", strings.Repeat("0", 64), f.now) // the guard prunes what has expired
	if dup, err := importFile(file); !dup || err != nil {
		t.Fatalf("import after the envelope's exp: dup %v err %v", dup, err)
	}
	if processed != 1 {
		t.Fatalf("processed %d times", processed)
	}
	// The same id for other content.
	other := f.seal(t, bundle.Contents{Envelopes: [][]byte{f.envelope(t, "XA-RC", "XB-RC", f.now, time.Hour)}}, "XA-RC", "XB-RC", func(o *bundle.SealOptions) { o.JTI = "stick-7" })
	if _, err := importFile(other); federation.CodeOf(err) != federation.CodeReplay {
		t.Fatalf("same bundle id, other content: %v", err)
	}
	// After the bundle's exp it is refused outright.
	f.now = t0.Add(bundle.DefaultTTL + 2*time.Minute)
	if _, err := importFile(file); federation.CodeOf(err) != federation.CodeExpired {
		t.Fatalf("after the bundle's exp: %v", err)
	}
}

// TestBundleAttacks: whole bundles that must be refused.
func TestBundleAttacks(t *testing.T) {
	f := newFed(t)
	ctx := context.Background()
	env := f.envelope(t, "XA-RC", "XB-RC", f.now, time.Hour)
	good := f.seal(t, bundle.Contents{Envelopes: [][]byte{env}}, "XA-RC", "XB-RC", nil)
	parts := strings.Split(string(good), ".")
	flip := func(i int) []byte {
		b := must(base64.RawURLEncoding.DecodeString(parts[i]))
		b[len(b)/2] ^= 0x10
		p := append([]string(nil), parts...)
		p[i] = base64.RawURLEncoding.EncodeToString(b)
		return []byte(strings.Join(p, "."))
	}
	// XB-RC opens XA-RC's bundle and re-encrypts the signed content to
	// XC-RC (surreptitious forwarding).
	reencrypted := func() []byte {
		e := must(jose.ParseJWE(good, bundle.TypEncrypted))
		signed := must(e.Decrypt(f.enc["XB-RC"]))
		return must(jose.Encrypt(signed, bundle.TypEncrypted, bundle.TypSigned, f.enc["XC-RC"].Public()))
	}()
	stranger := must(jose.GenerateKey(""))
	nonMember := f.seal(t, bundle.Contents{}, "XA-RC", "XB-RC", func(o *bundle.SealOptions) { o.Signer = stranger })
	forged := f.seal(t, bundle.Contents{}, "XA-RC", "XB-RC", func(o *bundle.SealOptions) { o.Signer = stranger.WithKID(f.sig["XA-RC"].KID()) })
	suspended := f.seal(t, bundle.Contents{}, "XS-RC", "XB-RC", nil)
	future := f.seal(t, bundle.Contents{}, "XA-RC", "XB-RC", func(o *bundle.SealOptions) { o.Now = f.now.Add(time.Hour) })
	signedAs := func(payload string) []byte {
		signed := must(jose.Sign([]byte(payload), bundle.TypSigned, f.sig["XA-RC"]))
		return must(jose.Encrypt(signed, bundle.TypEncrypted, bundle.TypSigned, f.enc["XB-RC"].Public()))
	}
	iat, exp := f.now.Unix(), f.now.Add(time.Hour).Unix()
	claims := func(extra string, ttl int64) string {
		return `{"iss":"XA-RC","aud":"XB-RC","iat":` + itoa(iat) + `,"exp":` + itoa(iat+ttl) + `,"jti":"b1","envelopes":[],"receipts":[],"refusals":[]` + extra + `}`
	}
	notSigned := must(jose.Encrypt([]byte(claims("", 60)), bundle.TypEncrypted, bundle.TypSigned, f.enc["XB-RC"].Public()))
	otherCty := must(jose.Encrypt(must(jose.Sign([]byte(claims("", 60)), bundle.TypSigned, f.sig["XA-RC"])), bundle.TypEncrypted, "flx-other+jws", f.enc["XB-RC"].Public()))
	_ = exp

	tests := []struct {
		name string
		file []byte
		self string
		want federation.Code
	}{
		{"good", good, "XB-RC", ""},
		{"opened by another member (wrong recipient)", good, "XC-RC", federation.CodeWrongAudience},
		{"re-encrypted to another member after opening", reencrypted, "XC-RC", federation.CodeWrongAudience},
		{"tampered ciphertext", flip(3), "XB-RC", federation.CodeBadBundle},
		{"tampered tag", flip(4), "XB-RC", federation.CodeBadBundle},
		{"tampered wrapped key", flip(1), "XB-RC", federation.CodeBadBundle},
		{"tampered IV", flip(2), "XB-RC", federation.CodeBadBundle},
		{"truncated by one byte", good[:len(good)-1], "XB-RC", federation.CodeBadBundle},
		{"truncated to half", good[:len(good)/2], "XB-RC", federation.CodeBadBundle},
		{"truncated to the header", []byte(parts[0]), "XB-RC", federation.CodeBadBundle},
		{"empty file", nil, "XB-RC", federation.CodeBadBundle},
		{"two newlines", append(append([]byte(nil), good...), '\n', '\n'), "XB-RC", federation.CodeBadBundle},
		{"signed by a non-member", nonMember, "XB-RC", federation.CodeUnknownKey},
		{"signed with a member's kid by another key", forged, "XB-RC", federation.CodeBadSignature},
		{"signed by a suspended member", suspended, "XB-RC", federation.CodeSuspendedMember},
		{"issued in the future", future, "XB-RC", federation.CodeNotYetValid},
		{"a lifetime over the maximum", signedAs(claims("", int64(bundle.MaxTTL/time.Second)+1)), "XB-RC", federation.CodeBadBundle},
		{"an unknown claim", signedAs(claims(`,"note":"x"`, 60)), "XB-RC", federation.CodeBadBundle},
		{"a claim twice", signedAs(strings.Replace(claims("", 60), `"aud":"XB-RC"`, `"aud":"XC-RC","aud":"XB-RC"`, 1)), "XB-RC", federation.CodeBadBundle},
		{"no receipts member", signedAs(strings.Replace(claims("", 60), `"receipts":[],`, ``, 1)), "XB-RC", federation.CodeBadBundle},
		{"a retried code in a refusal", signedAs(strings.Replace(claims("", 60), `"refusals":[]`, `"refusals":[{"jti":"j","sha256":"`+strings.Repeat("0", 64)+`","code":"unavailable"}]`, 1)), "XB-RC", federation.CodeBadBundle},
		{"plaintext not signed", notSigned, "XB-RC", federation.CodeBadBundle},
		{"another content type", otherCty, "XB-RC", federation.CodeBadBundle},
		{"a signed bundle that is not encrypted", must(jose.Sign([]byte(claims("", 60)), bundle.TypSigned, f.sig["XA-RC"])), "XB-RC", federation.CodeBadBundle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.opener(tc.self).Open(ctx, tc.file)
			if got := federation.CodeOf(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Fatalf("code %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	o := f.opener("XB-RC")
	o.MaxBytes = int64(len(good) - 1)
	if _, err := o.Open(ctx, good); federation.CodeOf(err) != federation.CodeTooLarge {
		t.Fatalf("over MaxBytes: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestItems: each envelope and receipt of a bundle gets its own verdict.
func TestItems(t *testing.T) {
	f := newFed(t)
	ctx := context.Background()
	good := f.envelope(t, "XA-RC", "XB-RC", f.now, time.Hour)
	fromC := f.envelope(t, "XC-RC", "XB-RC", f.now, time.Hour)
	toC := f.envelope(t, "XA-RC", "XC-RC", f.now, time.Hour)
	deadAtExport := f.envelope(t, "XA-RC", "XB-RC", f.now.Add(-3*time.Hour), time.Hour)
	short := f.envelope(t, "XA-RC", "XB-RC", f.now.Add(-time.Minute), 10*time.Minute) // expires while carried
	rc := must(federation.SignReceipt(federation.ReceiptClaims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: f.now, ReceiptFor: "j-1",
		SHA256: strings.Repeat("a", 64), Status: federation.ReceiptAccepted}, f.sig["XA-RC"]))
	rcC := must(federation.SignReceipt(federation.ReceiptClaims{Issuer: "XC-RC", Audience: "XB-RC", IssuedAt: f.now, ReceiptFor: "j-2",
		SHA256: strings.Repeat("a", 64), Status: federation.ReceiptAccepted}, f.sig["XC-RC"]))

	// Seal refuses to pack what is not the exporter's for the recipient...
	for name, c := range map[string]bundle.Contents{
		"another member's envelope": {Envelopes: [][]byte{fromC}},
		"an envelope for another":   {Envelopes: [][]byte{toC}},
		"another member's receipt":  {Receipts: [][]byte{rcC}},
	} {
		if _, err := bundle.Seal(c, bundle.SealOptions{From: "XA-RC", To: "XB-RC", Signer: f.sig["XA-RC"], EncryptTo: f.enc["XB-RC"].Public(), Now: f.now}); err == nil {
			t.Errorf("Seal packed %s", name)
		}
	}
	// ...so build such a bundle by hand: the importer refuses those items.
	w := map[string]any{"iss": "XA-RC", "aud": "XB-RC", "iat": f.now.Unix(), "exp": f.now.Add(time.Hour).Unix(), "jti": "b",
		"envelopes": []string{string(good), string(fromC), string(toC), string(deadAtExport), string(short)},
		"receipts":  []string{string(rc), string(rcC)}, "refusals": []any{}}
	signed := must(jose.Sign(must(json.Marshal(w)), bundle.TypSigned, f.sig["XA-RC"]))
	file := must(jose.Encrypt(signed, bundle.TypEncrypted, bundle.TypSigned, f.enc["XB-RC"].Public()))

	f.now = f.now.Add(48 * time.Minute) // imported after short's exp, before the bundle's
	op, err := f.opener("XB-RC").Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	want := []federation.Code{"", federation.CodeSenderMismatch, federation.CodeWrongAudience, federation.CodeExpired, ""}
	for i, it := range op.Envelopes {
		if got := federation.CodeOf(it.Err); got != want[i] || (want[i] == "" && it.Err != nil) {
			t.Errorf("envelope %d: %v, want %q", i, it.Err, want[i])
		}
	}
	if it := op.Envelopes[4]; it.Envelope == nil || !it.RememberUntil.After(it.Envelope.ExpiresAt) {
		t.Errorf("an envelope that expired in transit must be kept in the replay record until the bundle's exp")
	}
	if op.Receipts[0].Err != nil || op.Receipts[0].ReceiptFor != "j-1" || federation.CodeOf(op.Receipts[1].Err) != federation.CodeSenderMismatch {
		t.Errorf("receipts %+v", op.Receipts)
	}
}
