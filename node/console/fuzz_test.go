package console

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzFormDecode feeds arbitrary form bodies (what any browser or script
// may post) to the case form's decoder, its add/remove actions and the
// form renderer: no panic, bounded output, and the result stays JSON.
func FuzzFormDecode(f *testing.F) {
	f.Add("n:/persons=2&/persons/0/names/0/value=x&n:/persons/0/names=1&/type=tracing_request")
	f.Add("/persons/0/birth_date%23y=1990&/persons/0/birth_date%23m=2&/persons/0/birth_date%23d=30&n:/persons=1")
	f.Add("action=remove:/persons/0&n:/persons=3")
	f.Add("action=add:/consents&n:/consents=-5&/consents/0/given_at=2024-01-01T10:00")
	f.Add("n:/persons=999999999999999999999&/persons/0/age/min=1e309")
	fsch, err := loadFormSchema()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		vals, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		for _, keep := range []bool{false, true} {
			var errs []formError
			v, _ := fsch.decode(vals, fsch.root, "", keep, &errs)
			doc, _ := v.(map[string]any)
			if doc == nil {
				doc = map[string]any{}
			}
			editAction(doc, vals.Get("action"))
			fillDefaults(doc, "XA-RC:fuzz")
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if len(b) > 8*len(body)+64<<10 {
				t.Fatalf("%d bytes of document from %d bytes of form", len(b), len(body))
			}
			fsch.caseForm(locales["ar"], doc, map[string][]string{"/persons/0": {"x"}})
		}
	})
}

// FuzzSafeNext: whatever "next" a sign-in form carries, the redirect stays
// a path of the console.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/console/cases", "//evil.example", "https://evil.example/console/", "/console/../api", "/\\evil", "javascript:alert(1)", "/console/cases?x=1#f"} {
		f.Add(s)
	}
	c := &Console{o: Options{Prefix: "/console"}}
	f.Fuzz(func(t *testing.T, next string) {
		got := c.safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/console/") || strings.HasPrefix(got, "//") || strings.Contains(got, "\\") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
	})
}

// FuzzUnmaskToken: a masked synchronizer token round-trips, and garbage
// never unmasks to the session's token.
func FuzzUnmaskToken(f *testing.F) {
	f.Add("")
	f.Add("AAAA")
	f.Add(maskToken(randomToken()))
	secret := randomToken()
	f.Fuzz(func(t *testing.T, s string) {
		if unmaskToken(maskToken(secret)) != secret {
			t.Fatal("mask does not round-trip")
		}
		if s != "" && unmaskToken(s) == secret {
			t.Fatalf("%q unmasks to the secret", s)
		}
	})
}
