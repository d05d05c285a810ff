package schema

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// requiredPaths lists, per kind, every member (with array indexes written
// "*") whose removal makes an example invalid. Everything else present in
// the examples can be removed and the document still validates: that is
// what lets policy redact by deleting members. If this list must grow,
// the policy engine's redactions need checking too.
var requiredPaths = map[Kind][]string{
	KindCase: {
		"/case_id", "/consents/*/given_by", "/consents/*/id", "/legal_basis/type", "/notes/*/text",
		"/origin", "/origin/created_at", "/origin/member", "/persons", "/persons/*/id",
		"/persons/*/last_known_location/place/geo/lat", "/persons/*/last_known_location/place/geo/lon",
		"/persons/*/names/*/value", "/persons/*/photo/media_type", "/persons/*/photo/sha256",
		"/purpose", "/relationships/*/from", "/relationships/*/to", "/relationships/*/type",
		"/schema", "/status", "/type", "/version",
	},
	KindResponse: {
		"/case_id", "/contact/address/geo/lat", "/contact/address/geo/lon",
		"/location/geo/lat", "/location/geo/lon", "/notes/*/text",
		"/outcome", "/responded_at", "/responder", "/schema",
	},
	KindMessage: {
		"/body", "/case_id", "/channel", "/created_at", "/kind", "/media", "/media/duration_seconds",
		"/media/media_type", "/media/sha256", "/media/size_bytes", "/message_id", "/schema",
	},
	KindWithdrawal: {"/case_id", "/reason", "/schema", "/withdrawn_at"},
}

// redactable lists members that data-protection policy removes; each must
// appear in at least one example (so policy tests have something to
// redact) and must be removable.
var redactable = map[Kind][]string{
	KindCase: {
		"/persons/*/address", "/persons/*/contact", "/persons/*/contact/address", "/persons/*/contact/phones",
		"/persons/*/contact/emails", "/persons/*/photo", "/persons/*/last_known_location",
		"/persons/*/sensitive", "/persons/*/sensitive/ethnicity", "/persons/*/sensitive/religion",
		"/persons/*/sensitive/health", "/persons/*/sensitive/biometrics", "/persons/*/sensitive/sgbv",
		"/persons/*/place_of_birth", "/persons/*/names", "/persons/*/birth_date", "/persons/*/age",
		"/persons/*/nationalities", "/persons/*/guardian", "/persons/*/feared_countries",
		"/persons/*/vulnerabilities", "/persons/*/roles",
		"/detention", "/detention/place", "/death", "/death/remains_location", "/notes", "/relationships",
		"/consents", "/consents/*/scope", "/consents/*/given_at", "/consents/*/form", "/consents/*/capacity",
		"/legal_basis", "/legal_basis/justification", "/legal_basis/documented_by",
		"/separation", "/separation/place", "/best_interest_assessment", "/risk", "/sensitivity",
		"/retention_until", "/updated_at",
	},
	KindResponse:   {"/location", "/contact", "/message", "/notes", "/sought_person"},
	KindMessage:    {"/from", "/to", "/from/address", "/to/address", "/from/name", "/review", "/delivery", "/call"},
	KindWithdrawal: {"/person_ids", "/note", "/erase"},
}

var indexToken = regexp.MustCompile(`/[0-9]+(/|$)`)

func generalize(ptr string) string {
	for {
		g := indexToken.ReplaceAllString(ptr, "/*$1")
		if g == ptr {
			return g
		}
		ptr = g
	}
}

// memberPointers lists the pointers of every object member in v.
func memberPointers(v any, at string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := at + "/" + escapeToken(k)
			*out = append(*out, p)
			memberPointers(c, p, out)
		}
	case []any:
		for i, c := range x {
			memberPointers(c, at+"/"+itoa(i), out)
		}
	}
}

// deleteMember returns a copy of doc without the member at ptr.
func deleteMember(t *testing.T, doc []byte, ptr string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	toks := splitPointer(ptr)
	node := v
	for _, tok := range toks[:len(toks)-1] {
		switch x := node.(type) {
		case map[string]any:
			node = x[unescapeToken(tok)]
		case []any:
			i, _ := parseIndex(tok)
			node = x[i]
		}
	}
	delete(node.(map[string]any), unescapeToken(toks[len(toks)-1]))
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func unescapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

func parseIndex(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, s != ""
}

// TestOnlyRequiredMembersAreRequired removes each member of each example in
// turn and checks that the document stays valid unless the member is in
// requiredPaths, and that the violation then names the member's parent.
func TestOnlyRequiredMembersAreRequired(t *testing.T) {
	breaking := map[Kind]map[string]bool{}
	present := map[Kind]map[string]bool{}
	for _, k := range Kinds() {
		breaking[k], present[k] = map[string]bool{}, map[string]bool{}
	}
	for _, e := range Examples() {
		var v any
		if err := json.Unmarshal(e.Doc, &v); err != nil {
			t.Fatal(err)
		}
		var ptrs []string
		memberPointers(v, "", &ptrs)
		for _, ptr := range ptrs {
			g := generalize(ptr)
			present[e.Kind][g] = true
			err := Validate(e.Kind, deleteMember(t, e.Doc, ptr))
			if err == nil {
				continue
			}
			breaking[e.Kind][g] = true
			// The only violation is a missing member at the parent.
			verr := err.(*ValidationError)
			parent := ptr[:strings.LastIndexByte(ptr, '/')]
			if len(verr.Violations) != 1 || verr.Violations[0].Keyword != "required" || verr.Violations[0].Pointer != parent {
				t.Errorf("%s without %s: %v, want one required violation at %q", e.Name, ptr, err, parent)
			}
		}
	}
	for _, k := range Kinds() {
		var got []string
		for p := range breaking[k] {
			got = append(got, p)
		}
		sort.Strings(got)
		want := slices.Clone(requiredPaths[k])
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: members whose removal invalidates an example:\n got  %q\n want %q", k, got, want)
		}
		for _, r := range redactable[k] {
			if !present[k][r] {
				t.Errorf("%s: no example holds redactable member %s", k, r)
			}
			if breaking[k][r] {
				t.Errorf("%s: redactable member %s is required", k, r)
			}
		}
	}
}
