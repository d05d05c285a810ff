package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

var fuzzPeers = []string{"", "XA-RC", "XB-RC", "XC-RC", "ICRC-CTA"}

// envelopeSeeds returns valid and attacked envelopes addressed to XB-RC.
func envelopeSeeds(t testing.TB, f *fixture) [][]byte {
	t.Helper()
	xa, xb := f.keys["XA-RC"], f.keys["XB-RC"]
	attacker := newKey(t, jose.EdDSA)
	valid := f.sign(t, f.claims("XA-RC", "XB-RC"), xa)
	c := f.claims("ICRC-CTA", "XB-RC")
	c.Body = body4K()
	validCTA := f.sign(t, c, f.keys["ICRC-CTA"])
	fromXB := f.sign(t, f.claims("XB-RC", "XA-RC"), xb) // wrong audience, ES256
	p := strings.Split(string(valid), ".")
	payload := must(b64url.DecodeString(p[1]))
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypEnvelope + `"` + extra + `}`
	}
	// Claims written by hand: duplicated, misspelt and missing members,
	// validly signed by XA-RC.
	members := func(f *fixture, edit func(m []string) []string) []byte {
		m := []string{
			`"iss":"XA-RC"`, `"aud":"XB-RC"`, `"iat":` + itoa(t0.Add(-time.Minute).Unix()), `"exp":` + itoa(t0.Add(time.Hour).Unix()),
			`"jti":"seed-jti"`, `"kind":"case.create"`, `"case_id":"XA-RC:case-1"`, `"body":{"schema":"flx/v1/case","case_id":"XA-RC:case-1"}`,
		}
		if edit != nil {
			m = edit(m)
		}
		return must(jose.Sign([]byte("{"+strings.Join(m, ",")+"}"), TypEnvelope, xa))
	}
	set := func(i int, v ...string) func([]string) []string {
		return func(m []string) []string { return append(append(append([]string{}, m[:i]...), v...), m[i+1:]...) }
	}
	return [][]byte{
		valid,
		validCTA,
		members(f, nil),
		members(f, set(0, `"ISS":"XA-RC"`)),
		members(f, set(0, `"iss":"ICRC-CTA"`, `"iss":"XA-RC"`)),
		members(f, set(1, `"aud":"ICRC-CTA"`, `"aud":"XB-RC"`)),
		members(f, set(1, `"aud":"ICRC-CTA"`, `"AUD":"XB-RC"`)),
		members(f, set(5, `"\u212Aind":"case.create"`)),
		members(f, set(6)),                        // no case_id
		members(f, set(6, `"case_id":"xa-rc:1"`)), // malformed case_id
		members(f, set(6, `"case_id":"XA-RC:a","case_id":"XA-RC:case-1"`)),
		members(f, set(7, `"body":{"case_id":"XA-RC:case-1","case_id":"XA-RC:x"}`)), // duplicate inside body: left to the schema
		fromXB,
		forge(hdr("none", xa.KID(), ""), payload, nil),
		forge(hdr("HS256", xa.KID(), ""), payload, hmacSigner([]byte(wireJSON(t, xa.Public())))),
		forge(hdr("EdDSA", attacker.KID(), `,"jwk":`+string(wireJSON(t, attacker.Public()))), payload, edSigner(t, attacker)),
		f.sign(t, f.claims("XA-RC", "XB-RC"), xb),                         // kid of another member
		f.sign(t, f.claims("XA-RC", "XB-RC"), attacker.WithKID(xa.KID())), // bad signature
		[]byte(p[0] + "." + b64url.EncodeToString([]byte(`{"iss":"XA-RC"}`)) + "." + p[2]),
		wireJSON(t, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}),
		[]byte(""),
		[]byte(".."),
	}
}

// FuzzVerifyEnvelope: Verify never panics, and whatever it accepts carries a
// signature (checked with the standard library alone) by a key the manifest
// gives to the envelope's issuer, addressed to us, from the authenticated
// peer when there is one.
func FuzzVerifyEnvelope(f *testing.F) {
	fx := newFixture(f)
	for _, s := range envelopeSeeds(f, fx) {
		for i := range fuzzPeers {
			f.Add(s, uint8(i))
		}
	}
	v := fx.verifier("XB-RC")
	f.Fuzz(func(t *testing.T, raw []byte, peerIdx uint8) {
		peer := fuzzPeers[int(peerIdx)%len(fuzzPeers)]
		env, err := v.Verify(context.Background(), raw, peer)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		owner, key, ok := fx.manifest.KeyByKID(env.KID)
		switch {
		case !ok:
			t.Fatalf("accepted kid %q not in the manifest", env.KID)
		case owner.ID != env.Issuer || owner.Status != StatusActive:
			t.Fatalf("accepted kid of %s (%s) for iss %s", owner.ID, owner.Status, env.Issuer)
		case !independentlySigned(raw, key):
			t.Fatal("accepted an envelope whose signature does not verify")
		case env.Audience != "XB-RC":
			t.Fatalf("accepted aud %q", env.Audience)
		case peer != "" && env.Issuer != peer:
			t.Fatalf("accepted iss %q from peer %q", env.Issuer, peer)
		case !key.ValidAt(t0, DefaultSkew):
			t.Fatal("accepted a key outside its validity")
		case !ValidCaseID(env.CaseID):
			t.Fatalf("accepted case_id %q", env.CaseID)
		}
		payload := must(b64url.DecodeString(strings.Split(string(raw), ".")[1]))
		if !exactClaimNames(payload) || !uniqueNames(payload, "body") {
			t.Fatalf("accepted claims with a misspelt, missing or repeated member: %s", payload)
		}
	})
}

// The oracles below are written independently of checkMembers: a plain
// recursive walk, used only on inputs the code under test accepted.

// uniqueNames reports whether no object in data repeats a member name; the
// value of the top-level member skip is not inspected.
func uniqueNames(data []byte, skip string) bool {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) > 0 && data[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(data))
		if _, err := dec.Token(); err != nil {
			return false
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			name, ok := tok.(string)
			if err != nil || !ok || seen[name] {
				return false
			}
			seen[name] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return false
			}
			if name != skip && !uniqueNames(v, "") {
				return false
			}
		}
		return true
	case len(data) > 0 && data[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return false
		}
		for _, it := range items {
			if !uniqueNames(it, "") {
				return false
			}
		}
	}
	return true
}

// exactClaimNames reports whether the top-level member names of payload are
// exactly the eight claims, spelt exactly.
func exactClaimNames(payload []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil || len(m) != 8 {
		return false
	}
	for _, n := range []string{"iss", "aud", "iat", "exp", "jti", "kind", "case_id", "body"} {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

// FuzzDecodeStrict differentially tests the strict pre-pass on claims and
// receipts, without signatures (so it explores JSON much faster): it accepts
// exactly the documents that are valid JSON, repeat no member name (outside
// the envelope body), spell every member exactly, and decode with
// DisallowUnknownFields.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"iss":"XA-RC","aud":"XB-RC","iat":1,"exp":2,"jti":"j","kind":"case.create","case_id":"XA-RC:1","body":{}}`,
		`{"ISS":"XA-RC"}`, `{"iss":"XA-RC","iss":"XB-RC"}`, `{"aud":"XA-RC","\u0061ud":"XB-RC"}`,
		`{"body":{"a":1,"a":2}}`, `{"body":[{"a":1,"a":2}]}`, `{"\u212Aind":"x"}`, `{"iss":null}`,
		`{"iss":"XB-RC","aud":"XA-RC","iat":1,"receipt_for":"j","sha256":"x","status":"accepted"}`,
		`{"receipt_for":"a","RECEIPT_FOR":"b"}`, `[]`, `{} {}`, ` { "iss" : "a\"}" , "body" : [ "}", {"x":"\\"} , 1 ] } `,
		`{"body":"x","\u0062ody":1}`, `{"iss":"a\u00e9\xff","iat":-0,"exp":9223372036854775807,"kind":null,"body":null}`, "{\"iss\":\"a\xff\",\"body\":{}}", `{"iat":1.0}`, `{"jti":1}`, `{"case_id":"\ud800"}`, `{"iss":"a"}x`, `{"body":{"a":[1,{"b":2,"b":3}]},"aud":"\u00e9"}`, `{"iat":1e400}`, `{"body":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, receipt bool) {
		var (
			sh        = claimsShape
			v     any = new(wireClaims)
			names     = []string{"iss", "aud", "iat", "exp", "jti", "kind", "case_id", "body"}
			skip      = "body"
		)
		if receipt {
			sh, v, skip = receiptShape, new(wireReceipt), ""
			names = []string{"iss", "aud", "iat", "receipt_for", "sha256", "status"}
		}
		err := decodeStrict(data, sh, v)
		// The fast paths decode exactly what encoding/json does.
		slow := reflect.New(reflect.TypeOf(v).Elem())
		serr := decodeStrictJSON(data, sh, slow.Interface())
		if (err == nil) != (serr == nil) || (err == nil && !reflect.DeepEqual(reflect.ValueOf(v).Elem().Interface(), slow.Elem().Interface())) {
			t.Fatalf("decodeStrict(%q) = %+v, %v; through encoding/json %+v, %v", data, v, err, slow, serr)
		}
		if receipt {
			// With the claims expected (those encoding/json decodes, so
			// that they are taken from like; or others), the same claims.
			sw := slow.Elem().Interface().(wireReceipt)
			for _, like := range []ExpectedReceipt{
				{Issuer: sw.Iss, Audience: sw.Aud, ReceiptFor: sw.ReceiptFor, SHA256: sw.SHA256},
				{Issuer: "XA-RC", Audience: "XB-RC", ReceiptFor: "j", SHA256: "x"},
			} {
				lw, lerr := decodeReceiptLike(data, &like)
				if (lerr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(&lw, v)) {
					t.Fatalf("decodeReceiptLike(%q, %+v) = %+v, %v; decodeStrict %+v, %v", data, like, lw, lerr, v, err)
				}
			}
		}
		if !receipt {
			// The owned-payload path (body left a slice of the payload)
			// decodes the same claims.
			var w wireClaims
			oerr := decodeOwnedClaims(bytes.Clone(data), &w)
			if (oerr == nil) != (err == nil) || (err == nil && !reflect.DeepEqual(&w, v)) {
				t.Fatalf("decodeOwnedClaims(%q) = %+v, %v; decodeStrict %+v, %v", data, w, oerr, v, err)
			}
		}

		// The oracle.
		want := json.Valid(data) && uniqueNames(data, skip)
		if want {
			var m map[string]json.RawMessage
			if json.Unmarshal(data, &m) != nil {
				want = false // not an object (null decodes into a nil map)
			} else if m == nil {
				want = false
			}
			for n := range m {
				if !slices.Contains(names, n) {
					want = false
				}
			}
		}
		if want {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			want = dec.Decode(reflect.New(reflect.TypeOf(v).Elem()).Interface()) == nil
		}
		if (err == nil) != want {
			t.Fatalf("decodeStrict(%q) = %v, oracle says acceptable=%v", data, err, want)
		}
	})
}

// FuzzVerifyManifest: VerifyManifest never panics, and whatever it accepts is
// signed by the anchor (checked with the standard library alone) and valid.
func FuzzVerifyManifest(f *testing.F) {
	fx := newFixture(f)
	anchor := fx.anchor.Public()
	other := newKey(f, jose.EdDSA)
	p := strings.Split(string(fx.raw), ".")
	payload := must(b64url.DecodeString(p[1]))
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + TypManifest + `"` + extra + `}`
	}
	seeds := [][]byte{
		fx.raw,
		must(SignManifest(fx.spec, other)),
		must(SignManifest(fx.spec, other.WithKID(fx.anchor.KID()))),
		forge(hdr("none", fx.anchor.KID(), ""), payload, nil),
		forge(hdr("HS256", fx.anchor.KID(), ""), payload, hmacSigner([]byte(wireJSON(f, anchor)))),
		forge(hdr("EdDSA", other.KID(), `,"jwk":`+string(wireJSON(f, other.Public()))), payload, edSigner(f, other)),
		[]byte(p[0] + "." + p[1][:len(p[1])/2] + "." + p[2]),
		wireJSON(f, map[string]string{"protected": p[0], "payload": p[1], "signature": p[2]}),
		[]byte(""),
	}
	// Validly signed payloads with duplicated, misspelt or missing members.
	ctaKID := fx.keys["ICRC-CTA"].KID()
	for _, e := range [][2]string{
		{`"version":5`, `"version":5,"version":6`},
		{`"version":5`, `"VERSION":5`},
		{`"status":"suspended"`, `"status":"suspended","status":"active"`},
		{`"status":"suspended"`, `"status":"suspended","Status":"active"`},
		{`"id":"XA-RC"`, `"ID":"XA-RC"`},
		{`,"kid":"` + ctaKID + `"`, ``},
		{`"kid":"` + ctaKID + `"`, `"KID":"` + ctaKID + `"`},
		{`"kid":"` + ctaKID + `"`, `"kid":"x","kid":"` + ctaKID + `"`},
		{`"jwks":{"keys":[`, `"jwks":{"Keys":[`},
		{`"jwks":{"keys":[`, `"jwks":{"keys":[],"keys":[`},
	} {
		edited := strings.Replace(string(payload), e[0], e[1], 1)
		seeds = append(seeds, must(jose.Sign([]byte(edited), TypManifest, fx.anchor)))
	}
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, withHeld bool) {
		var held *Manifest
		if withHeld {
			held = fx.manifest
		}
		m, err := VerifyManifest(raw, anchor, t0, held)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if !independentlySigned(raw, anchor) {
			t.Fatal("accepted a manifest not signed by the anchor")
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if m.ExpiresAt.Add(DefaultSkew).Before(t0) || (held != nil && m.Version < held.Version) {
			t.Fatal("accepted an expired or rolled-back manifest")
		}
		payload := must(b64url.DecodeString(strings.Split(string(raw), ".")[1]))
		if !uniqueNames(payload, "") {
			t.Fatalf("accepted a manifest with a member name twice in one object: %s", payload)
		}
		var doc struct {
			Members []struct {
				JWKS map[string][]map[string]json.RawMessage `json:"jwks"`
			} `json:"members"`
		}
		if err := json.Unmarshal(payload, &doc); err != nil {
			t.Fatal(err)
		}
		for _, mb := range doc.Members {
			if _, ok := mb.JWKS["keys"]; len(mb.JWKS) != 1 || !ok {
				t.Fatalf("accepted a JWKS that is not exactly {\"keys\":[...]}: %s", payload)
			}
			for _, k := range mb.JWKS["keys"] {
				if _, ok := k["kid"]; !ok {
					t.Fatalf("accepted a published key without kid: %s", payload)
				}
			}
		}
	})
}

// FuzzParseAuditHead: any body is answered without panic, and a head it
// accepts keeps the rules it checks (member id, count, head shape, time).
func FuzzParseAuditHead(f *testing.F) {
	for _, s := range []string{
		`{"member":"XA-RC","count":3,"head":"` + strings.Repeat("ab", 32) + `","signed_at":"2026-12-04T10:00:00Z"}`,
		`{"member":"XA-RC","count":0,"head":"","signed_at":"2026-12-04T10:00:00Z"}`,
		`{"member":"XA-RC","count":-1,"head":"","signed_at":"2026-12-04T10:00:00Z"}`,
		`{"member":"XA-RC","member":"XB-RC","count":0,"head":"","signed_at":"2026-12-04T10:00:00Z"}`,
		`{"member":"XA-RC"}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := ParseAuditHead(body)
		if err != nil {
			return
		}
		if !ValidMemberID(h.Member) || h.Count < 0 || h.SignedAt.IsZero() || (h.Count == 0) != (h.Head == "") || (h.Count > 0 && len(h.Head) != 64) {
			t.Fatalf("accepted %+v from %q", h, body)
		}
	})
}

// FuzzParseBatchFast: the fast path of ParseBatchRequest reads exactly the
// envelopes the strict decoder reads, whenever it reads a batch at all.
func FuzzParseBatchFast(f *testing.F) {
	for _, s := range []string{`{"envelopes":["a.b.c"]}`, ` { "envelopes" : [ "a" , "b" ] } `, `{"envelopes":[]}`, `{"envelopes":["a"],"envelopes":["b"]}`,
		`{"envelopes":["a\"b"]}`, `{"envelopes":[null]}`, `{"envelopes":null}`, `{"envelopes":["a"],"x":1}`, `{"Envelopes":["a"]}`, "{\"envelopes\":[\"\xff\"]}",
		`{"\u0065nvelopes":["a"]}`, "{\"envelopes\":[\"abcdefghijklmnopq\x01rs\"]}", "{\"envelopes\":[\"abcdefghijklmnopqrs\x1f\"]}",
		`{"envelopes":["abcdefghijklmnopqrstuvwx","abcdefgh.ijklmnop.qrstuvwx"]}`, `{"envelopes":["a",]}`, `{"envelopes":[,"a"]}`,
		`{"envelopes":["a"] `, `{"envelopes":["a"]}}`, "{\"envelopes\":[\"abcdefghМира\"]}\n", `{"envelopes":["a""b"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := parseBatchFast(body)
		if !ok {
			return
		}
		var req BatchRequest
		if err := decodeStrict(body, batchRequestShape, &req); err != nil {
			t.Fatalf("fast path read %q, the strict decoder refuses it: %v", got, err)
		}
		if len(got) != len(req.Envelopes) || req.Envelopes == nil {
			t.Fatalf("fast path read %d envelopes, the strict decoder %d (%v)", len(got), len(req.Envelopes), req.Envelopes == nil)
		}
		for i := range got {
			if string(got[i]) != req.Envelopes[i] {
				t.Fatalf("envelope %d: %q, strict %q", i, got[i], req.Envelopes[i])
			}
		}
	})
}
