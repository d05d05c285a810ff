package policy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// The data-protection officer's edge shapes: a withheld value copied into
// a field that does leave, written so that it reads the same to a person
// but not byte for byte (invisible characters, lookalike letters, other
// widths and accents, spacing, nested JSON), and documents of unusual
// shape. FLX-DP-FREE-TEXT must find every copy; the control (an unrelated
// text) must still arrive.

// disguises write v so that it reads the same.
var disguises = []struct {
	name string
	f    func(v string) string
}{
	{"as written", func(v string) string { return v }},
	{"upper case, doubled spaces", func(v string) string { return strings.ToUpper(strings.ReplaceAll(v, " ", "  ")) }},
	{"line breaks and tabs", func(v string) string { return strings.ReplaceAll(v, " ", "\n\t") }},
	{"no-break and ideographic spaces", func(v string) string {
		return strings.Replace(strings.Replace(v, " ", "\u00a0", 1), " ", "\u3000", 1)
	}},
	{"zero-width space inside", func(v string) string { return interleave(v, "\u200b") }},
	{"zero-width joiner and word joiner", func(v string) string { return interleave(v, "\u200d\u2060") }},
	{"soft hyphens", func(v string) string { return interleave(v, "\u00ad") }},
	{"byte order mark and direction marks", func(v string) string { return "\ufeff" + interleave(v, "\u200e\u202a") }},
	{"fullwidth letters", func(v string) string {
		return strings.Map(func(r rune) rune {
			if r > ' ' && r < 0x7f {
				return r + 0xfee0
			}
			return r
		}, v)
	}},
	{"Cyrillic lookalikes", func(v string) string {
		return strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р", "c", "с", "x", "х", "y", "у", "i", "і", "H", "Н", "S", "Ѕ").Replace(v)
	}},
	{"Greek lookalikes", func(v string) string {
		return strings.NewReplacer("o", "ο", "i", "ι", "v", "ν", "a", "α").Replace(v)
	}},
	{"combining accents", func(v string) string { return interleave(v, "\u0301") }},
	{"precomposed accents", func(v string) string {
		return strings.NewReplacer("e", "é", "a", "à", "i", "ï", "o", "ö").Replace(v)
	}},
	{"inside nested JSON", func(v string) string {
		b, _ := json.Marshal(map[string]any{"note": map[string]any{"where": v}})
		return "see " + string(b)
	}},
	{"digits regrouped", func(v string) string {
		if d, ok := phoneDigits(v); ok {
			return "(" + d[:3] + ") " + d[3:6] + "-" + d[6:]
		}
		return v
	}},
	{"base64", func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }},
	{"inside a very long text", func(v string) string {
		return strings.Repeat("Nothing to see here. ", 700) + v + strings.Repeat(" More filler.", 300)
	}},
}

// interleave puts sep between the runes of v.
func interleave(v, sep string) string {
	var b strings.Builder
	for i, r := range v {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestFreeTextFindsDisguisedCopies: the sought person declined contact;
// their street address, phone and a second name are withheld. A family
// news message to another society repeats one of them, disguised, in its
// body (required: the message is denied) or in the addressee's name
// (removed); a case repeats it in the enquirer's address. Each disguise
// of each value must be caught; an unrelated text must go.
func TestFreeTextFindsDisguisedCopies(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	refused := caseWith(t, func(m map[string]any) {
		p := personAt(m, 1)
		p["contact_preference"] = "refused"
		p["address"].(map[string]any)["address_line"] = "7 Hidden Street"
	})
	secrets := []string{"7 Hidden Street", "+999 555 2222", "karo.sampleyan@example.org"}
	ctx := context.Background()
	msg := func(body, toName string) []byte {
		m := map[string]any{"schema": "flx/v1/message", "message_id": "XA-RC:M-1", "case_id": "XA-RC:T-1", "created_at": "2025-05-01T10:00:00Z",
			"kind": "family_news", "channel": "rcm", "body": body,
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"member": "XC-RC", "name": toName}}
		return encodeMap(t, m)
	}
	caseCopy := func(v string) []byte {
		return caseWith(t, func(m map[string]any) {
			p := personAt(m, 1)
			p["contact_preference"] = "refused"
			p["address"].(map[string]any)["address_line"] = "7 Hidden Street"
			personAt(m, 0)["address"].(map[string]any)["address_line"] = v
		})
	}
	// Controls: the same documents with an unrelated text go.
	if d, out := e.Apply(ctx, msg("We are all well and think of you.", "Karo's cousin"), "message.deliver", dstXC, testNow, WithCase(refused)); !d.Allowed() || !strings.Contains(string(out), "think of you") {
		t.Fatalf("control message: %s", describe(d))
	}
	if d, out := e.Apply(ctx, caseCopy("12 Open Avenue"), "case.update", dstXB, testNow, CurrentVersion(2)); !d.Allowed() || !strings.Contains(string(out), "12 Open Avenue") {
		t.Fatalf("control case: %s", describe(d))
	}
	caught, tried := 0, 0
	for _, secret := range secrets {
		for _, dg := range disguises {
			v := dg.f(secret)
			if utf8.RuneCountInString(v) > 512 && dg.name != "inside a very long text" {
				continue
			}
			tried += 3
			// In the body (required): denied.
			if d, out := e.Apply(ctx, msg("Dear family, the address is "+v+". Love.", "Cousin"), "message.deliver", dstXC, testNow, WithCase(refused)); d.Allowed() {
				t.Errorf("body, %s of %q: %s, sent %s", dg.name, secret, d.Effect, trunc(out))
			} else {
				caught++
			}
			if len(v) > 500 {
				tried -= 2
				continue
			}
			// In the addressee's name: removed.
			if d, out := e.Apply(ctx, msg("We are all well.", v), "message.deliver", dstXC, testNow, WithCase(refused)); d.Effect == Deny || strings.Contains(string(out), `"name"`) {
				t.Errorf("addressee name, %s of %q: %s, sent %s", dg.name, secret, d.Effect, trunc(out))
			} else {
				caught++
			}
			// In another person's address in the case: removed.
			if d, out := e.Apply(ctx, caseCopy(v), "case.update", dstXB, testNow, CurrentVersion(2)); !d.Allowed() || exists(decodeMap(t, string(out)), "/persons/0/address/address_line") {
				t.Errorf("case, %s of %q: %s, sent %s", dg.name, secret, d.Effect, trunc(out))
			} else {
				caught++
			}
		}
	}
	t.Logf("%d of %d disguised copies caught", caught, tried)
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// TestThroughJudgesRelays: a relay on the route is judged as a destination
// of the same document: what it may not hold is withheld from the
// destination too (the union of the redactions), what it must not receive
// at all denies the transfer, and it need not accept the kind.
func TestThroughJudgesRelays(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	ctx := context.Background()
	relay := dstCTA
	relay.Accepts = nil // carries, does not process
	plain := caseWith(t, nil)
	d, _ := e.Apply(ctx, plain, "case.update", dstXB, testNow, CurrentVersion(2), Through(relay))
	if !d.Allowed() {
		t.Fatalf("a case both may hold: %s", describe(d))
	}
	feared := caseWith(t, func(m map[string]any) { personAt(m, 1)["feared_countries"] = []any{"XC"} })
	if d, _ := e.Apply(ctx, feared, "case.update", dstXB, testNow, CurrentVersion(2)); !d.Allowed() {
		t.Fatalf("without the relay: %s", describe(d))
	}
	d, out := e.Apply(ctx, feared, "case.update", dstXB, testNow, CurrentVersion(2), Through(relay))
	if d.Effect != Deny || out != nil || !strings.Contains(describe(d), "relay ICRC-CTA") {
		t.Fatalf("through a relay in a feared country: %s", describe(d))
	}
	// A Society whose coordinator allow-list leaves out addresses: they do
	// not reach the society through the coordinator either.
	narrow := rulesWith(t, `minimise:
  case:
    - roles: [society]
      fields: [schema, case_id, version, type, status, origin, purpose, legal_basis, consents, retention_until, persons, relationships]
      person_fields: [id, roles, names, birth_date, address, contact, contact_preference]
    - roles: [coordinator]
      fields: [schema, case_id, version, type, status, origin, purpose, legal_basis, consents, retention_until, persons, relationships]
      person_fields: [id, roles, names, birth_date, contact_preference]
`)
	d, out = New(narrow).Apply(ctx, plain, "case.update", dstXB, testNow, CurrentVersion(2), Through(relay))
	if !d.Allowed() || strings.Contains(string(out), "7 Hidden Street") || strings.Contains(string(out), "Soughtown") || !strings.Contains(string(out), "Karo Sampleyan") {
		t.Fatalf("through a relay with a narrower allow-list: %s\n%s", describe(d), out)
	}
	d, out = New(narrow).Apply(ctx, plain, "case.update", dstXB, testNow, CurrentVersion(2))
	if !d.Allowed() || !strings.Contains(string(out), "Soughtown") {
		t.Fatalf("control, directly: %s\n%s", describe(d), out)
	}
}

// TestStatusProtectsWhenNoOneIsSought: a case that says its sought person
// declined contact, or was located and not yet asked, protects that
// person's whereabouts; when no person carries the sought_person role
// (roles absent, empty, or another role), the status cannot be pinned on
// anyone and protects everyone (it let the located person's address go).
func TestStatusProtectsWhenNoOneIsSought(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	ctx := context.Background()
	places := []string{"7 Hidden Street", "Soughtown", "Lastseenburg", "Enquirerville"}
	shapes := map[string]func(p map[string]any){
		"roles absent":          func(p map[string]any) { delete(p, "roles") },
		"roles empty":           func(p map[string]any) { p["roles"] = []any{} },
		"family member":         func(p map[string]any) { p["roles"] = []any{"family_member"} },
		"sought person (named)": func(p map[string]any) {},
	}
	for _, status := range []string{"located_declined_contact", "located_pending_consent"} {
		for name, shape := range shapes {
			doc := caseWith(t, func(m map[string]any) {
				m["status"] = status
				personAt(m, 1)["address"].(map[string]any)["address_line"] = "7 Hidden Street"
				shape(personAt(m, 1))
			})
			d, out := e.Apply(ctx, doc, "case.update", dstXB, testNow, CurrentVersion(2))
			if !d.Allowed() {
				t.Fatalf("%s, %s: %s", status, name, describe(d))
			}
			for _, pl := range places[:3] {
				if strings.Contains(string(out), pl) {
					t.Errorf("%s, %s: %q leaves", status, name, pl)
				}
			}
			if name == "sought person (named)" && !strings.Contains(string(out), "Enquirerville") {
				t.Errorf("%s, %s: control: the enquirer's address does not go", status, name)
			}
		}
	}
	// Control: the same case, open, lets the sought person's address go.
	d, out := e.Apply(ctx, caseWith(t, nil), "case.update", dstXB, testNow, CurrentVersion(2))
	if !d.Allowed() || !strings.Contains(string(out), "Soughtown") {
		t.Fatalf("control: %s\n%s", describe(d), out)
	}
}

// TestConsentScopeEmptyListsCoverNothing: a consent scope's list that is
// given covers only what it names, so an empty one covers nothing; only a
// list that is not given leaves its dimension to the policy. Empty lists
// were read as absent and let the case go.
func TestConsentScopeEmptyListsCoverNothing(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	for _, tc := range []struct {
		name  string
		scope string
		allow bool
	}{
		{"no lists (control)", `{"uses":["tracing","transfer"]}`, true},
		{"the member named (control)", `{"uses":["tracing","transfer"],"members":["XB-RC"]}`, true},
		{"the country and role named (control)", `{"uses":["tracing","transfer"],"countries":["XB"],"roles":["society"]}`, true},
		{"empty roles", `{"uses":["tracing","transfer"],"roles":[]}`, false},
		{"empty members", `{"uses":["tracing","transfer"],"members":[]}`, false},
		{"empty countries", `{"uses":["tracing","transfer"],"countries":[]}`, false},
		{"empty members, the country named", `{"uses":["tracing","transfer"],"members":[],"countries":["XB"]}`, false},
		{"empty uses", `{"uses":[]}`, false},
		{"empty scope", `{}`, false},
	} {
		doc := caseWith(t, func(m map[string]any) { list(m["consents"])[0].(map[string]any)["scope"] = j(t, tc.scope) })
		d, _ := e.Apply(context.Background(), doc, "case.update", dstXB, testNow, CurrentVersion(2))
		if d.Allowed() != tc.allow {
			t.Errorf("%s: %s", tc.name, describe(d))
		}
	}
}

// TestRecordingOfUnverifiedVulnerablePersonDenied: a recorded message
// shows the person and where they are and cannot be redacted. Like a
// refusing person's or an unaccompanied child's, a recording of a
// vulnerable person or minor whose link is not verified does not go, to
// the origin either; a written message, and a recording once the link is
// verified, do (controls).
func TestRecordingOfUnverifiedVulnerablePersonDenied(t *testing.T) {
	rules, err := Default("XC-RC", "XC")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	dstA := Destination{Member: "XA-RC", Country: "XA", Role: "society", Active: true, Accepts: allKinds}
	media := `"media":{"sha256":"` + strings.Repeat("ab", 32) + `","media_type":"video/mp4","size_bytes":100,"duration_seconds":3}`
	for _, tc := range []struct {
		name     string
		vuln     func(p map[string]any)
		verified bool
		msg      string
		allow    bool
	}{
		{"elderly alone, video", func(p map[string]any) { p["vulnerabilities"] = []any{"elderly_alone"} }, false,
			`"kind":"video_message","channel":"video",` + media, false},
		{"woman at risk, voice", func(p map[string]any) { p["vulnerabilities"] = []any{"woman_at_risk"} }, false,
			`"kind":"voice_message","channel":"phone",` + strings.Replace(media, "video/mp4", "audio/ogg", 1), false},
		{"minor, video", func(p map[string]any) { p["birth_date"] = "2015" }, false,
			`"kind":"video_message","channel":"video",` + media, false},
		{"elderly alone, written (control)", func(p map[string]any) { p["vulnerabilities"] = []any{"elderly_alone"} }, false,
			`"kind":"red_cross_message","channel":"rcm","body":"I am well."`, true},
		{"elderly alone, verified, video (control)", func(p map[string]any) { p["vulnerabilities"] = []any{"elderly_alone"} }, true,
			`"kind":"video_message","channel":"video",` + media, true},
	} {
		cs := caseWith(t, func(m map[string]any) {
			tc.vuln(personAt(m, 1))
			list(m["relationships"])[0].(map[string]any)["verified"] = tc.verified
		})
		doc := merged(t, `{"schema":"flx/v1/message","message_id":"XC-RC:M-1","case_id":"XA-RC:T-1","created_at":"2025-05-01T10:00:00Z",`+
			`"from":{"person":"p2","member":"XC-RC"},"to":{"person":"p1","member":"XA-RC"}}`, tc.msg)
		d, _ := e.Apply(context.Background(), doc, "message.deliver", dstA, testNow, WithCase(cs))
		if d.Allowed() != tc.allow {
			t.Errorf("%s: %s", tc.name, describe(d))
		}
	}
}
