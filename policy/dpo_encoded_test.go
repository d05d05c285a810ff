package policy

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// encodings write a sentence holding v the way a tool would pass text on:
// the whole sentence base64-encoded (so v starts at any byte offset, not
// only at a multiple of three), in either alphabet, percent-encoded as in
// a URL, JSON-escaped in nested JSON, as HTML character references, NFD,
// case-folded.
var encodings = []writing{
	{"base64 of a sentence, offset 0", func(v string) string { return base64.StdEncoding.EncodeToString([]byte("at " + v + ".")) }},
	{"base64 of a sentence, offset 1", func(v string) string { return base64.StdEncoding.EncodeToString([]byte("at: " + v + ".")) }},
	{"base64 of a sentence, offset 2", func(v string) string { return base64.StdEncoding.EncodeToString([]byte("at:: " + v + ".")) }},
	{"base64url of a sentence, offset 1", func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(">>?" + "x" + v + "?")) }},
	{"base64url of a sentence, offset 2", func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte("~~" + v)) }},
	{"percent-encoded query", func(v string) string { return "https://maps.example/?q=" + url.QueryEscape(v) }},
	{"percent-encoded path", func(v string) string { return "https://maps.example/place/" + url.PathEscape(v) }},
	{"every byte percent-encoded", func(v string) string {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[v[i]>>4])+string("0123456789abcdef"[v[i]&15])))
		}
		return b.String()
	}},
	{"JSON escapes inside nested JSON", func(v string) string {
		var b strings.Builder
		for _, r := range v {
			fmt.Fprintf(&b, "\\u%04x", r)
		}
		return `{"where":"` + b.String() + `"}`
	}},
	{"HTML character references", func(v string) string {
		var b strings.Builder
		for i, r := range v {
			if i%2 == 0 {
				fmt.Fprintf(&b, "&#%d;", r)
			} else {
				fmt.Fprintf(&b, "&#x%X;", r)
			}
		}
		return "<p>" + b.String() + "</p>"
	}},
	{"base64 of its NFD form", func(v string) string { return base64.StdEncoding.EncodeToString([]byte("at " + norm.NFD.String(v))) }},
	{"NFD", func(v string) string { return norm.NFD.String(v) }},
	{"NFC", func(v string) string { return norm.NFC.String(v) }},
	{"case-folded", func(v string) string { return strings.ToLower(v) }},
}

// writing is one way of writing a sentence that holds a value v.
type writing struct {
	name string
	f    func(v string) string
}

// refusedCase is the sample case whose sought person refused contact, with
// an address line and a locality (a name-like value with letters outside
// ASCII) that are withheld from a family news message's destination.
func refusedCase(t testing.TB) []byte {
	return caseWith(t, func(m map[string]any) {
		p := personAt(m, 1)
		p["contact_preference"] = "refused"
		p["address"].(map[string]any)["address_line"] = "7 Hidden Street"
		p["address"].(map[string]any)["locality"] = "Ḱaro Ŝampleyan Ünïcode"
	})
}

// familyNews is a family news message of the sample case to XC-RC with
// this body (required: a body repeating a withheld value is denied).
func familyNews(t testing.TB, body string) []byte {
	m := map[string]any{"schema": "flx/v1/message", "message_id": "XA-RC:M-1", "case_id": "XA-RC:T-1", "created_at": "2025-05-01T10:00:00Z",
		"kind": "family_news", "channel": "rcm", "body": body,
		"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"member": "XC-RC", "name": "Cousin"}}
	return encodeMap(t, m)
}

// newsPasses reports whether family news with this body, about case cs,
// leaves for XC-RC under the default rules (and what leaves).
func newsPasses(t testing.TB, e *Engine, cs []byte, body string) (Decision, []byte) {
	return e.Apply(context.Background(), familyNews(t, body), "message.deliver", dstXC, testNow, WithCase(cs))
}

// mustDenyCopies sends family news whose body holds each secret written
// each way, and reports each that is allowed; then the controls (bodies
// that hold none) must be allowed.
func mustDenyCopies(t *testing.T, cs []byte, secrets []string, ways []writing, controls ...string) {
	t.Helper()
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	for _, c := range controls {
		if d, _ := newsPasses(t, e, cs, c); !d.Allowed() {
			t.Fatalf("control message %q: %s", c, describe(d))
		}
	}
	for _, secret := range secrets {
		for _, w := range ways {
			v := w.f(secret)
			if d, out := newsPasses(t, e, cs, "Dear family, see "+v+" Love."); d.Allowed() {
				t.Errorf("body, %s of %q (%s): %s, sent %s", w.name, secret, v, d.Effect, trunc(out))
			}
		}
	}
}

// TestFreeTextFindsEncodedCopies: as TestFreeTextFindsDisguisedCopies, a
// refused person's withheld values copied into a family news message's
// body, encoded rather than disguised. Each copy must be caught (the body
// is required: the message is denied).
func TestFreeTextFindsEncodedCopies(t *testing.T) {
	mustDenyCopies(t, refusedCase(t), []string{"7 Hidden Street", "karo.sampleyan@example.org", "Ḱaro Ŝampleyan Ünïcode"}, encodings,
		"We are all well: "+base64.StdEncoding.EncodeToString([]byte("at: 12 Open Avenue."))+" https://maps.example/?q=12+Open+Avenue")
}

// TestFreeTextFindsAddressInMediaURI: a media reference's uri cannot hold
// a space, so an address written into it is percent-encoded or joined
// with plus signs. A message's media and another person's photo that
// point at a map of the refused person's address must not leave.
func TestFreeTextFindsAddressInMediaURI(t *testing.T) {
	rules, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	e := New(rules)
	ctx := context.Background()
	refused := func(f func(m map[string]any)) []byte {
		return caseWith(t, func(m map[string]any) {
			p := personAt(m, 1)
			p["contact_preference"] = "refused"
			p["address"].(map[string]any)["address_line"] = "7 Hidden Street"
			if f != nil {
				f(m)
			}
		})
	}
	const sha = "0000000000000000000000000000000000000000000000000000000000000001"
	for _, uri := range []string{"https://maps.example/?q=7+Hidden+Street", "https://maps.example/place/7%20Hidden%20Street", "https://maps.example/search?q=%37%20Hidden%20Street&z=1"} {
		m := map[string]any{"schema": "flx/v1/message", "message_id": "XA-RC:M-1", "case_id": "XA-RC:T-1", "created_at": "2025-05-01T10:00:00Z",
			"kind": "family_news", "channel": "rcm", "body": "We are all well.",
			"media": map[string]any{"sha256": sha, "media_type": "image/jpeg", "uri": uri},
			"from":  map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"member": "XC-RC", "name": "Cousin"}}
		if d, out := e.Apply(ctx, encodeMap(t, m), "message.deliver", dstXC, testNow, WithCase(refused(nil))); d.Allowed() && strings.Contains(string(out), "maps.example") {
			t.Errorf("message media uri %s: %s, sent %s", uri, d.Effect, trunc(out))
		}
		doc := refused(func(m map[string]any) {
			personAt(m, 0)["photo"] = map[string]any{"sha256": sha, "media_type": "image/jpeg", "uri": uri}
		})
		if d, out := e.Apply(ctx, doc, "case.update", dstXB, testNow, CurrentVersion(2)); d.Allowed() && strings.Contains(string(out), "maps.example") {
			t.Errorf("enquirer's photo uri %s: %s, sent %s", uri, d.Effect, trunc(out))
		}
	}
}
