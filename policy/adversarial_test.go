package policy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/familylinks/flx/schema"
)

// The adversarial corpus: what a data-protection officer would try against
// the strict default rules. For each protected class, each outgoing kind,
// each destination role and each protective situation, a generator builds
// a valid case (and the response, message or withdrawal about it) with
// unique canary values planted in every field of the class (found through
// the taxonomy and the JSON Schema, not listed by hand) and copied into
// free text; Apply runs; no canary that the situation protects may be in
// what would leave (raw, JSON-escaped or base64), while the values that
// are allowed do arrive, in the scenario itself and in its safe twin (the
// same seed without the situation), so a policy that denies everything
// fails too. TestAdversarialRuleMutation then disables each built-in rule
// in turn: every one of them must be needed by some scenario.

var (
	corpusClasses = []Class{Identifying, Locating, Contact, Photo, Sensitive, Detention, Carer, FreeText, Content}
	corpusKinds   = []string{"case.create", "case.update", "case.response", "message.deliver", "case.withdraw"}
	corpusRoles   = []string{"society", "delegation", "coordinator", "non_movement"}
)

// situation is one protective situation. deny: nothing about the case may
// reach the destination (deny or held for review). Otherwise the
// situation withholds classes of the subject's data (see withheldFor).
type situation struct {
	name    string
	deny    bool
	docs    []string // document kinds it applies to (nil: case, response, message, withdrawal)
	roles   []string // nil: every role
	classes []Class  // nil: every class
	rules   string   // "" strict default; "configured": a Society's additions
	apply   func(g *gen)
}

var situations = []situation{
	{name: "none"},
	{name: "refusal", apply: func(g *gen) {
		switch g.rng.IntN(3) {
		case 0:
			g.s()["contact_preference"] = "refused"
		case 1:
			g.c["status"] = "located_declined_contact"
		default:
			if g.docKind == "response" {
				g.outcome = "declined_contact"
			} else {
				g.s()["contact_preference"] = "refused"
			}
		}
	}},
	{name: "pending", apply: func(g *gen) {
		if g.docKind == "response" {
			g.outcome = "located_pending_consent"
			return
		}
		g.c["status"] = "located_pending_consent"
		g.s()["contact_preference"] = "not_asked"
	}},
	{name: "pending-conflict", deny: true, docs: []string{"response"}, apply: func(g *gen) {
		g.c["status"] = "located_pending_consent"
		delete(g.s(), "contact_preference")
		g.outcome = "located"
	}},
	{name: "withdrawn", deny: true, apply: func(g *gen) {
		switch g.rng.IntN(3) {
		case 0:
			g.consent()["withdrawn_at"] = "2025-01-02T00:00:00Z"
		case 1:
			g.c["status"] = "closed_withdrawn"
		default: // the sought person's own consent, withdrawn; the enquirer's still in force
			g.c["consents"] = append(list(g.c["consents"]), map[string]any{"id": "c-s", "given_by": g.sID, "capacity": "self",
				"scope": map[string]any{"uses": []any{"tracing", "transfer"}}, "given_at": "2024-01-10T09:00:00Z", "withdrawn_at": "2025-02-01T00:00:00Z"})
		}
	}},
	{name: "scope", deny: true, apply: func(g *gen) {
		sc := obj(g.consent()["scope"])
		switch g.rng.IntN(4) {
		case 0:
			sc["members"] = []any{"XZ-RC"}
			delete(sc, "countries")
		case 1:
			var roles []any
			for _, r := range []string{"society", "delegation", "coordinator"} {
				if r != g.dst.Role {
					roles = append(roles, r)
				}
			}
			sc["roles"] = roles
			delete(sc, "members")
		case 2:
			sc["countries"] = []any{"XZ"}
			delete(sc, "members")
		default:
			sc["uses"] = []any{"tracing"}
		}
	}},
	{name: "future-consent", deny: true, apply: func(g *gen) {
		g.consent()["given_at"] = "2031-01-01T00:00:00Z"
	}},
	{name: "basis-overrides-consent", deny: true, apply: func(g *gen) {
		g.c["legal_basis"] = documented(g.eID, g.sID)
		obj(g.consent()["scope"])["members"] = []any{"XZ-RC"}
	}},
	{name: "enquirer-not-covered", deny: true, apply: func(g *gen) {
		delete(g.c, "consents")
		lb := documented(g.sID)
		if g.rng.IntN(2) == 0 {
			delete(lb, "applies_to")
		}
		g.c["legal_basis"] = lb
	}},
	{name: "feared-country", deny: true, apply: func(g *gen) {
		if g.rng.IntN(2) == 0 {
			g.s()["feared_countries"] = []any{g.dst.Country}
		} else {
			g.c["risk"] = map[string]any{"feared_countries": []any{g.dst.Country}}
		}
	}},
	{name: "party-to-conflict", deny: true, apply: func(g *gen) {
		g.c["risk"] = map[string]any{"parties_to_conflict": []any{g.dst.Country}}
	}},
	{name: "risk-country", deny: true, rules: "configured", apply: func(g *gen) { g.dst.Country = "XE" }},
	{name: "review-trigger", deny: true, rules: "configured", apply: func(g *gen) { g.dst.Country = "XF" }},
	{name: "non-movement", deny: true, rules: "configured", roles: []string{"non_movement"}},
	{name: "uam", apply: func(g *gen) {
		g.child()
		g.carer()
	}},
	{name: "vulnerable", apply: func(g *gen) {
		g.s()["vulnerabilities"] = []any{pick(g.rng, []string{"elderly_alone", "woman_at_risk", "foreigner_without_representation"})}
		g.unverify()
	}},
	{name: "minor-unverified", apply: func(g *gen) {
		g.s()["birth_date"] = "2014-03"
		g.c["best_interest_assessment"] = map[string]any{"done_at": "2024-01-11T09:00:00Z"}
		g.unverify()
	}},
	{name: "minor-no-guardian", deny: true, docs: []string{"case"}, apply: func(g *gen) {
		g.s()["birth_date"] = "2014-03"
		g.c["legal_basis"] = map[string]any{"type": "consent"}
	}},
	{name: "age-unknown", deny: true, docs: []string{"case"}, apply: func(g *gen) {
		delete(g.s(), "birth_date")
		g.c["legal_basis"] = map[string]any{"type": "consent"}
	}},
	{name: "detainee-agreed", apply: func(g *gen) { g.detainee(true, true) }},
	{name: "detainee-not-agreed", deny: true, apply: func(g *gen) { g.detainee(true, false) }},
	{name: "detention-block-missing", deny: true, apply: func(g *gen) {
		g.detainee(false, false)
		if g.rng.IntN(2) == 0 {
			g.c["type"] = "detention_notification"
		}
	}},
	{name: "sensitive", apply: func(g *gen) {
		cats := []string{"ethnicity", "religion", "political_opinion", "health", "biometrics", "sgbv"}
		sm := obj(g.s()["sensitive"])
		if sm == nil {
			sm = map[string]any{}
			g.s()["sensitive"] = sm
		}
		var markers []any
		for _, c := range cats {
			if g.rng.IntN(2) == 0 || len(markers) == 0 {
				if _, ok := sm[c]; !ok {
					sm[c] = "Recorded " + c + " detail"
				}
				markers = append(markers, c)
			}
		}
		g.c["sensitivity"] = markers
	}},
	{name: "forbidden-purpose", deny: true, apply: func(g *gen) {
		g.c["purpose"] = pick(g.rng, []string{"law_enforcement", "immigration_enforcement", "genealogy", "inheritance", "curiosity"})
	}},
	{name: "retention-ended", deny: true, apply: func(g *gen) {
		if g.rng.IntN(2) == 0 {
			g.c["retention_until"] = "2020-01-01"
		} else {
			delete(g.c, "retention_until")
			obj(g.c["origin"])["created_at"] = "1990-01-10T09:00:00Z"
		}
	}},
	{name: "superseded", deny: true, docs: []string{"case"}, apply: func(g *gen) {
		if g.rng.IntN(2) == 0 {
			g.c["superseded"] = true
		} else {
			g.current = 3
		}
	}},
	{name: "no-legal-basis", deny: true, docs: []string{"case"}, apply: func(g *gen) {
		switch g.rng.IntN(3) {
		case 0:
			delete(g.c, "legal_basis")
		case 1:
			g.c["legal_basis"] = map[string]any{"type": "vital_interest", "justification": "Cannot be asked yet"}
		default:
			g.c["legal_basis"] = map[string]any{"type": "other_documented", "justification": "j", "documented_by": "b", "documented_at": "2024-01-10T09:00:00Z"}
		}
	}},
	{name: "inactive-destination", deny: true, apply: func(g *gen) { g.dst.Active = false }},
	{name: "unknown-party", deny: true, docs: []string{"message"}, classes: []Class{Locating}, apply: func(g *gen) { g.strangerParty = true }},
}

// withheldFor returns the classes a redacting situation withholds from the
// destination for data about the owner ("subject", "carer" or "shared";
// the enquirer is never protected by these situations).
func (sc *scenario) withheldFor(owner string) []Class {
	switch owner {
	case "enquirer", "content", "stranger":
		return nil
	case "carer":
		if sc.sit.name == "uam" {
			return []Class{Identifying, Locating, Contact, Photo, FreeText, Carer}
		}
		return nil
	}
	where := []Class{Locating, Contact, Photo, FreeText}
	switch sc.sit.name {
	case "refusal", "vulnerable", "minor-unverified":
		return where
	case "pending":
		if sc.docKind == "response" {
			return append(where, Content)
		}
		return where
	case "uam":
		return append(where, Carer)
	case "detainee-agreed":
		if sc.dst.Role == "coordinator" {
			return nil
		}
		return append(where, Detention)
	case "sensitive":
		if owner == "shared" {
			return []Class{FreeText, Sensitive}
		}
		return []Class{Sensitive}
	}
	return nil
}

// denyType reports whether nothing may reach the destination.
func (sc *scenario) denyType() bool {
	if sc.docKind == "withdrawal" {
		return sc.sit.name == "inactive-destination"
	}
	if sc.dst.Role == "non_movement" {
		return true // the strict default sends nothing about a case outside the Movement
	}
	switch sc.sit.name {
	case "detainee-not-agreed", "detention-block-missing":
		return sc.dst.Role != "coordinator"
	}
	return sc.sit.deny
}

// canary is one planted value.
type canary struct {
	value   string
	class   Class
	owner   string // subject, carer, shared, enquirer, content
	inCase  bool   // planted in the case given as context (not the document)
	ptr     string // where (in the document, or in the case when inCase)
	copyOf  *canary
	carrier string
}

type scenario struct {
	sit      *situation
	kind     string
	docKind  string
	class    Class
	seed     uint64
	twin     bool
	dst      Destination
	rules    *Rules
	caseDoc  map[string]any
	doc      map[string]any
	opts     []EvalOption
	canaries []*canary
	toOrigin bool
	agreed   bool // the detention block records the detainee's agreement
	mayDeny  bool // a redacting situation may still deny (a tainted required field, a child's recording)
	label    string
}

// gen builds one scenario.
type gen struct {
	t             testing.TB
	rng           *rand.Rand
	js            *jsSchemas
	sc            *scenario
	docKind       string
	c             map[string]any // the case
	eID, sID, gID string         // enquirer, subject, carer ids
	dst           Destination
	outcome       string
	current       int64
	strangerParty bool
	n             int
	planted       map[string]bool
}

func pick(rng *rand.Rand, l []string) string { return l[rng.IntN(len(l))] }

func documented(appliesTo ...string) map[string]any {
	var at []any
	for _, a := range appliesTo {
		at = append(at, a)
	}
	return map[string]any{"type": "vital_interest", "justification": "Cannot be asked yet", "documented_by": "RFL officer",
		"documented_at": "2024-01-10T09:00:00Z", "applies_to": at}
}

func (g *gen) person(id string) map[string]any {
	for _, p := range list(g.c["persons"]) {
		if m := obj(p); str(m["id"]) == id {
			return m
		}
	}
	return nil
}

func (g *gen) personIndex(id string) int {
	for i, p := range list(g.c["persons"]) {
		if str(obj(p)["id"]) == id {
			return i
		}
	}
	return -1
}

func (g *gen) s() map[string]any       { return g.person(g.sID) }
func (g *gen) consent() map[string]any { return obj(list(g.c["consents"])[0]) }

func (g *gen) relationship(a, b string) map[string]any {
	for _, r := range list(g.c["relationships"]) {
		m := obj(r)
		if (str(m["from"]) == a && str(m["to"]) == b) || (str(m["from"]) == b && str(m["to"]) == a) {
			return m
		}
	}
	return nil
}

// unverify leaves the enquirer-subject link unverified, with a verified
// link to someone else that must not count.
func (g *gen) unverify() {
	g.relationship(g.eID, g.sID)["verified"] = false
	if g.rng.IntN(2) == 0 {
		id := "f9"
		g.c["persons"] = append(list(g.c["persons"]), map[string]any{"id": id, "roles": []any{"family_member"},
			"names": []any{map[string]any{"value": "Cousin Plainov"}}, "birth_date": "1975"})
		g.c["relationships"] = append(list(g.c["relationships"]), map[string]any{"from": id, "to": g.sID, "type": "cousin", "verified": true})
	}
}

// child makes the subject an unaccompanied child whose family link is not
// verified.
func (g *gen) child() {
	s := g.s()
	s["birth_date"] = "2015-06"
	switch g.rng.IntN(3) {
	case 0:
		s["vulnerabilities"] = []any{"unaccompanied_minor"}
	case 1:
		s["vulnerabilities"] = []any{"separated_child", "minor"}
	default:
		s["roles"] = []any{"sought_person", "unaccompanied_child"}
	}
	g.c["best_interest_assessment"] = map[string]any{"done_at": "2024-01-11T09:00:00Z"}
	g.relationship(g.eID, g.sID)["verified"] = false
}

// carer adds (or marks) the person looking after the subject, under one of
// the names carers go by.
func (g *gen) carer() {
	if g.gID == "" {
		g.addCarer()
	}
	c := g.person(g.gID)
	switch g.rng.IntN(4) {
	case 0:
		c["roles"] = []any{"caregiver"}
		g.link(g.gID, "caregiver")
	case 1:
		c["roles"] = []any{"guardian", "caregiver"}
		g.link(g.gID, "guardian")
	case 2:
		c["roles"] = []any{"family_member"}
		g.link(g.gID, pick(g.rng, []string{"foster_carer", "host_family", "custodian"}))
	default:
		c["roles"] = []any{"family_member"}
		g.s()["guardian"] = g.gID
	}
}

func (g *gen) link(from, typ string) {
	g.c["relationships"] = append(list(g.c["relationships"]), map[string]any{"from": from, "to": g.sID, "type": typ, "verified": true})
}

func (g *gen) addCarer() {
	g.gID = "g7"
	g.c["persons"] = append(list(g.c["persons"]), map[string]any{"id": g.gID, "roles": []any{"caregiver"},
		"names": []any{map[string]any{"value": "Carer Plainova"}}, "birth_date": "1968"})
}

// detainee makes the subject a detainee, with or without the detention
// block and the agreement to notify the family.
func (g *gen) detainee(block, agreed bool) {
	s := g.s()
	if g.rng.IntN(2) == 0 {
		s["roles"] = []any{"sought_person", "detainee"}
	} else {
		s["vulnerabilities"] = []any{"detainee"}
	}
	if !block {
		delete(g.c, "detention")
		return
	}
	d := obj(g.c["detention"])
	if d == nil {
		d = map[string]any{"status": "interned", "detained_since": "2024-03"}
		g.c["detention"] = d
	}
	d["notification_agreed"] = agreed
	g.sc.agreed = agreed
	if g.rng.IntN(2) == 0 {
		g.c["type"] = "detention_notification"
	}
}

// token returns a unique canary token: fixed width, so that no token is a
// part of another.
func (g *gen) token() string {
	g.n++
	return fmt.Sprintf("Cnry%06x%04d", g.sc.seed&0xffffff, g.n)
}

var canaryWords = []string{"shelter", "Ünïcode street", "près du marché", "room <12>", `"quoted" place`, "ул. Пробная"}

// value generates a valid value for a schema node, with a canary in every
// leaf that can hold a unique value (free text, phone, e-mail, URI, hash,
// coordinate). record is called for each canary with its pointer.
func (g *gen) value(n *jsNode, at string, record func(v, ptr string)) any {
	n = g.js.resolve(n)
	if n == nil {
		g.t.Fatalf("no schema node at %s", at)
	}
	if n.Const != nil {
		return n.Const
	}
	if len(n.Enum) > 0 {
		return n.Enum[g.rng.IntN(len(n.Enum))]
	}
	last := at[strings.LastIndexByte(at, '/')+1:]
	switch typ, _ := n.Type.(string); typ {
	case "object":
		m := map[string]any{}
		keys := make([]string, 0, len(n.Properties))
		for k := range n.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			m[k] = g.value(n.Properties[k], at+"/"+k, record)
		}
		return m
	case "array":
		cnt := 1 + g.rng.IntN(2)
		if n.MaxItems != nil && cnt > *n.MaxItems {
			cnt = *n.MaxItems
		}
		var l []any
		for i := 0; i < cnt; i++ {
			v := g.value(n.Items, fmt.Sprintf("%s/%d", at, i), record)
			if n.UniqueItems && slices.ContainsFunc(l, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
				continue
			}
			l = append(l, v)
		}
		return l
	case "boolean":
		return g.rng.IntN(2) == 0
	case "integer":
		lo := 1
		if n.Minimum != nil && int(*n.Minimum) > lo {
			lo = int(*n.Minimum)
		}
		if n.MultipleOf != nil {
			m := int(*n.MultipleOf)
			return json.Number(fmt.Sprint((lo + m - 1) / m * m * (1 + g.rng.IntN(2))))
		}
		return json.Number(fmt.Sprint(lo + g.rng.IntN(50)))
	case "number":
		if last == "lat" || last == "lon" {
			v := fmt.Sprintf("%d.%06d", 10+g.rng.IntN(70), 100000+g.rng.IntN(900000))
			record(v, at)
			return json.Number(v)
		}
		return json.Number(fmt.Sprint(1 + g.rng.IntN(80)))
	}
	// strings
	switch {
	case n.Format == "date-time":
		return "2024-02-03T04:05:06Z"
	case n.Format == "date":
		return "2030-01-01"
	case n.Format == "flx-partial-date":
		return "2019-05"
	case n.Format == "email":
		v := strings.ToLower(g.token()) + "@example.org"
		record(v, at)
		return v
	case n.Format == "uri":
		v := "https://media.flx.invalid/" + g.token()
		record(v, at)
		return v
	}
	switch n.Pattern {
	case "":
		v := g.token() + " " + pick(g.rng, canaryWords)
		record(v, at)
		return v
	case "^\\+?[0-9][0-9 ().-]{2,31}$":
		v := fmt.Sprintf("+999 %010d", uint64(g.sc.seed%100000)*100000+uint64(g.n)*97+uint64(g.rng.IntN(97)))
		g.n++
		record(v, at)
		return v
	case "^[0-9a-f]{64}$":
		var b strings.Builder
		for i := 0; i < 64; i++ {
			b.WriteByte("0123456789abcdef"[g.rng.IntN(16)])
		}
		record(b.String(), at)
		return b.String()
	case "^[A-Z]{2}$":
		return "XQ"
	case "^[a-z]+/[a-z0-9][a-z0-9.+-]{0,126}$":
		return "image/jpeg"
	case "^[A-Z][a-z]{3}$":
		return "Latn"
	case "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,6}$":
		return "en"
	case "^[a-z][a-z_]{1,63}$":
		return "recorded"
	case "^[A-Z0-9][A-Z0-9-]{1,31}$":
		return "XA-RC"
	}
	g.t.Fatalf("the generator does not know the pattern %q at %s: teach it", n.Pattern, at)
	return nil
}

// setAt sets v at the concrete pointer, creating objects on the way.
func setAt(root map[string]any, ptr string, v any) {
	toks := strings.Split(ptr[1:], "/")
	var cur any = root
	for i, tok := range toks {
		lastTok := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if lastTok {
				c[tok] = v
				return
			}
			if _, ok := c[tok]; !ok {
				if isIndex(toks[i+1]) {
					c[tok] = []any{}
				} else {
					c[tok] = map[string]any{}
				}
			}
			cur = c[tok]
		case []any:
			idx := 0
			fmt.Sscan(tok, &idx)
			if lastTok {
				c[idx] = v
				return
			}
			cur = c[idx]
		}
	}
}

// plant puts canaries in every field of the class that is about the owner
// (a person id; "" for the fields shared by the case) in a document of
// docKind, using the taxonomy to find the fields and the schema to make
// valid values.
func (g *gen) plant(doc map[string]any, docKind string, class Class, ownerID, owner string, inCase bool, parties map[string]string) {
	for _, f := range taxonomy {
		if f.Doc != docKind || !slices.Contains(f.Classes, class) || f.Path == "/sensitivity" {
			continue
		}
		// A parent entry of the same class is planted whole.
		parent := false
		for _, p := range taxonomy {
			if p.Doc == docKind && p.Path != f.Path && strings.HasPrefix(f.Path, p.Path+"/") && slices.Contains(p.Classes, class) {
				parent = true
			}
		}
		if parent {
			continue
		}
		path := f.Path
		switch f.subject {
		case subjPerson:
			if ownerID == "" {
				continue
			}
			path = strings.Replace(path, "*", fmt.Sprint(g.personIndex(ownerID)), 1)
		case subjAll:
			// Shared case fields are planted once, as "shared"; a
			// response's notes with its subject.
			if (docKind == "case") != (owner == "shared") || owner == "carer" {
				continue
			}
			if strings.HasPrefix(path, "/legal_basis/") && doc["legal_basis"] == nil {
				continue
			}
		case subjResponse:
			if owner != "subject" {
				continue
			}
		case subjDetainee:
			if doc["detention"] == nil || owner != "subject" {
				continue
			}
		case subjDeceased:
			if owner != "subject" || g.rng.IntN(2) == 0 {
				continue
			}
		case subjFrom, subjTo:
			key := "from"
			if f.subject == subjTo {
				key = "to"
			}
			if parties[key] != ownerID {
				continue
			}
		default:
			continue
		}
		done := false
		for p := range g.planted {
			if p == docKind+path || strings.HasPrefix(docKind+path, p+"/") || strings.HasPrefix(p, docKind+path+"/") {
				done = true
			}
		}
		if done {
			continue // planted with another class already
		}
		var got []*canary
		v := g.value(g.js.nodeAt(docKind, f.Path), path, func(val, ptr string) {
			got = append(got, &canary{value: val, class: class, owner: owner, inCase: inCase, ptr: ptr})
		})
		if len(got) == 0 {
			continue // a field that cannot hold a unique value (dates, enums)
		}
		setAt(doc, path, v)
		g.planted[docKind+path] = true
		g.sc.canaries = append(g.sc.canaries, got...)
	}
}

// baseCase is a valid case that may go to the destination: the enquirer
// consented (covering it), the subject is an adult whose link to the
// enquirer is verified.
func (g *gen) baseCase() {
	ids := []string{"p1", "p2", "p3", "a4", "b5"}
	g.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	g.eID, g.sID = ids[0], ids[1]
	e := map[string]any{"id": g.eID, "roles": []any{"enquirer"}, "names": []any{map[string]any{"value": "Enquirer Plainova"}},
		"birth_date": "1971", "address": map[string]any{"country": "XA", "locality": "Enquirerville", "address_line": "1 Plain Road"},
		"contact_preference": "agreed"}
	s := map[string]any{"id": g.sID, "roles": []any{"sought_person"}, "names": []any{map[string]any{"value": "Sought Plainov"}},
		"birth_date": "1979-02", "contact_preference": "agreed"}
	persons := []any{e, s}
	if g.rng.IntN(2) == 0 {
		persons = []any{s, e}
	}
	scope := map[string]any{"uses": []any{"tracing", "transfer"}, "non_movement": true}
	switch g.rng.IntN(4) {
	case 1:
		scope["roles"] = []any{"society", "delegation", "coordinator"}
	case 2:
		scope["members"] = []any{g.dst.Member, "XZ-RC"}
	case 3:
		scope["countries"] = []any{g.dst.Country, "XE", "XF"}
	}
	lb := map[string]any{"type": "consent"}
	if g.rng.IntN(2) == 0 {
		lb = documented(g.sID)
	}
	g.c = map[string]any{
		"schema": "flx/v1/case", "case_id": fmt.Sprintf("XA-RC:ADV-%x", g.sc.seed), "version": json.Number("2"),
		"type":   pick(g.rng, []string{"tracing_request", "reunification_request", "fate_clarification"}),
		"status": "tracing_in_progress", "origin": map[string]any{"member": "XA-RC", "created_at": "2024-01-10T09:00:00Z"},
		"purpose": pick(g.rng, []string{"tracing", "family_reunification"}), "retention_until": "2045-01-01",
		"legal_basis": lb,
		"consents": []any{map[string]any{"id": "c-1", "given_by": g.eID, "capacity": "self", "scope": scope,
			"given_at": "2024-01-10T09:10:00Z", "form": "written"}},
		"persons":       persons,
		"relationships": []any{map[string]any{"from": g.eID, "to": g.sID, "type": pick(g.rng, []string{"sister", "spouse", "brother", "mother"}), "verified": true}},
	}
	g.current = 2
}

func corpusDestination(role string, rng *rand.Rand) Destination {
	d := Destination{Role: role, Active: true, Accepts: allKinds}
	switch role {
	case "society":
		d.Member, d.Country = pick(rng, []string{"XB-RC", "XC-RC"}), ""
		d.Country = d.Member[:2]
	case "delegation":
		d.Member, d.Country = "ICRC-XB", "XB"
	case "coordinator":
		d.Member, d.Country = "ICRC-CTA", "XC"
	default:
		d.Member, d.Country = "XB-AUTH", "XB"
	}
	return d
}

// configuredRules are the strict default with what a Society adds: a risk
// country (XE), a review trigger (destinations in XF), and case types for
// recipients outside the Movement (which the rules still refuse, no longer
// holding them for review too).
func configuredRules(t testing.TB) *Rules {
	t.Helper()
	b := string(ExampleRules())
	for _, r := range [][2]string{
		{"  # Risk countries for every case. default: []\n  countries: []", "  countries: [XE]"},
		{"  destination_countries: []", "  destination_countries: [XF]"},
		{"  destination_roles: [non_movement]", "  destination_roles: []"},
		{"    non_movement: []", "    non_movement: [tracing_request, detention_notification, unaccompanied_minor_registration, death_notification, reunification_request, fate_clarification, safe_and_well]"},
	} {
		if !strings.Contains(b, r[0]) {
			t.Fatalf("example-rules.yaml no longer has %q", r[0])
		}
		b = strings.Replace(b, r[0], r[1], 1)
	}
	r, err := Parse([]byte(b), "configured.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build generates the scenario for one combination; ok is false when the
// combination plants nothing (a class with no field in that document).
func build(t testing.TB, js *jsSchemas, rules map[string]*Rules, sit *situation, kind, role string, class Class, seed uint64, twin bool) (*scenario, bool) {
	docKind, _ := docKindForEnvelope(kind)
	sc := &scenario{sit: sit, kind: kind, docKind: docKind, class: class, seed: seed, twin: twin, rules: rules[sit.rules]}
	if twin {
		sc.sit = &situations[0]
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	g := &gen{t: t, rng: rng, js: js, sc: sc, docKind: docKind, outcome: "located", planted: map[string]bool{}}
	g.dst = corpusDestination(role, rng)
	g.baseCase()
	if class == Carer {
		g.addCarer()
	}
	if class == Detention {
		g.detainee(true, true) // the block exists, and the detainee agreed
	}
	if !twin && sit.apply != nil {
		sit.apply(g)
	}
	sc.dst = g.dst

	// The document and where the class is planted.
	owner, ownerID := "subject", g.sID
	if class == Carer {
		owner, ownerID = "carer", g.gID
	}
	plantClasses := []Class{class}
	if class == Carer {
		plantClasses = []Class{Identifying, Contact, Locating, Photo}
	}
	parties := map[string]string{"from": ownerID, "to": g.eID}
	if g.rng.IntN(2) == 0 {
		parties = map[string]string{"from": g.eID, "to": ownerID}
	}
	if g.strangerParty {
		parties["from"] = "zz1"
	}
	for _, pc := range plantClasses {
		g.plant(g.c, "case", pc, ownerID, owner, docKind != "case", nil)
		if docKind == "case" && class != Carer {
			g.plant(g.c, "case", pc, "", "shared", false, nil)
		}
	}
	if class == Carer {
		// The carer class proper: the child's reference to its carer.
		if _, ok := g.s()["guardian"]; !ok && sc.sit.name == "uam" && g.rng.IntN(2) == 0 {
			g.s()["guardian"] = g.gID
		}
	}
	sc.caseDoc = g.c
	switch docKind {
	case "case":
		sc.doc = g.c
		sc.opts = []EvalOption{CurrentVersion(g.current)}
	case "response":
		sc.toOrigin = !sit.deny && !twin && g.rng.IntN(3) == 0 && role == "society"
		sc.doc = g.response(parties)
	case "message":
		sc.toOrigin = !sit.deny && !twin && g.rng.IntN(3) == 0 && role == "society"
		sc.doc = g.message(parties)
	case "withdrawal":
		sc.doc = g.withdrawal()
	}
	if sc.toOrigin {
		sc.dst.Member, sc.dst.Country = "XA-RC", "XA"
	}
	for _, pc := range plantClasses {
		if docKind == "response" || docKind == "message" {
			g.plant(sc.doc, docKind, pc, ownerID, owner, false, parties)
		}
	}
	if _, media := sc.doc["media"]; media && docKind == "message" && parties["from"] == g.sID && slices.Contains([]string{"uam", "refusal", "pending", "vulnerable", "minor-unverified"}, sc.sit.name) {
		// A recording of a child whose family is not verified, of a person
		// who declined contact or was not yet asked, of a vulnerable person
		// or minor whose link is not verified: it cannot be redacted.
		sc.mayDeny = true
	}
	if docKind != "case" && docKind != "withdrawal" || (docKind == "withdrawal" && g.rng.IntN(2) == 0) {
		sc.opts = append(sc.opts, WithCase(mustJSON(t, g.c)))
	}
	g.copies()
	if len(sc.canaries) == 0 {
		return nil, false
	}
	sc.label = fmt.Sprintf("%s/%s/%s/%s/seed=%x", sit.name, kind, role, class, seed)
	if twin {
		sc.label += "/twin"
	}
	for k, d := range map[schema.Kind]map[string]any{schema.KindCase: sc.caseDoc, schema.Kind(docKind): sc.doc} {
		if err := schema.Validate(k, mustJSON(t, d)); err != nil {
			t.Fatalf("%s: the generator made an invalid %s: %v\n%s", sc.label, k, err, mustJSON(t, d))
		}
	}
	return sc, true
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (g *gen) response(parties map[string]string) map[string]any {
	r := map[string]any{"schema": "flx/v1/response", "case_id": g.c["case_id"], "responder": "XC-RC", "outcome": g.outcome,
		"responded_at": "2025-05-01T10:00:00Z", "in_reply_to_version": json.Number("2"), "sought_person": g.sID,
		"location": map[string]any{"country": "XC", "locality": "Plainville", "address_line": "2 Plain Road"}}
	if g.sc.class != Content {
		v := g.token() + " I am fine, tell my family."
		r["message"] = v
		g.sc.canaries = append(g.sc.canaries, &canary{value: v, class: Content, owner: "content", ptr: "/message"})
	}
	return r
}

func (g *gen) message(parties map[string]string) map[string]any {
	kinds := [][2]string{{"red_cross_message", "rcm"}, {"family_news", "verbal"}, {"phone_call_record", "phone"}, {"video_message", "video"}, {"voice_message", "voice"}}
	k := kinds[g.rng.IntN(len(kinds))]
	m := map[string]any{"schema": "flx/v1/message", "message_id": "XC-RC:M-1", "case_id": g.c["case_id"], "kind": k[0], "channel": k[1],
		"created_at": "2025-05-01T10:00:00Z",
		"from":       map[string]any{"person": parties["from"], "member": "XC-RC"},
		"to":         map[string]any{"person": parties["to"], "member": "XA-RC"}}
	if g.sc.class != Content && k[0] != "video_message" && k[0] != "voice_message" {
		v := g.token() + " we are all well"
		m["body"] = v
		g.sc.canaries = append(g.sc.canaries, &canary{value: v, class: Content, owner: "content", ptr: "/body"})
	}
	if k[0] == "video_message" || k[0] == "voice_message" {
		m["media"] = map[string]any{"sha256": strings.Repeat("0", 63) + "1", "media_type": "video/mp4", "size_bytes": json.Number("1000"), "duration_seconds": json.Number("12")}
	}
	if k[0] == "red_cross_message" || k[0] == "family_news" {
		if _, ok := m["body"]; !ok {
			m["body"] = "placeholder"
		}
	}
	if g.strangerParty {
		v := g.token() + " Strangetown"
		obj(m["from"])["address"] = map[string]any{"locality": v}
		g.sc.canaries = append(g.sc.canaries, &canary{value: v, class: Locating, owner: "stranger", ptr: "/from/address/locality"})
	}
	return m
}

func (g *gen) withdrawal() map[string]any {
	w := map[string]any{"schema": "flx/v1/withdrawal", "case_id": g.c["case_id"], "reason": pick(g.rng, []string{"consent_withdrawn", "case_closed", "erasure_request"}),
		"withdrawn_at": "2025-05-01T10:00:00Z", "person_ids": []any{g.sID}, "note": "Erase and confirm."}
	ctl := "cnry-" + g.token()
	if g.rng.IntN(2) == 0 {
		w["confirms"], w["erased_at"] = ctl, "2025-05-01T10:00:05Z"
		g.sc.canaries = append(g.sc.canaries, &canary{value: ctl, class: NonPersonal, owner: "content", ptr: "/confirms"})
	} else {
		ctl = "XA-RC:" + ctl
		w["consent_ids"] = []any{ctl}
		g.sc.canaries = append(g.sc.canaries, &canary{value: ctl, class: Relational, owner: "content", ptr: "/consent_ids/0"})
	}
	return w
}

// copies writes planted values into free text and other fields of the
// document (as written, or base64-encoded): the free-text half of the
// corpus.
func (g *gen) copies() {
	sc := g.sc
	var sources []*canary
	for _, c := range sc.canaries {
		if c.owner != "content" && c.copyOf == nil {
			sources = append(sources, c)
		}
	}
	if len(sources) == 0 {
		return
	}
	var carriers []string
	switch sc.docKind {
	case "case":
		carriers = []string{"/notes/0/text", "/risk/notes", "enquirer-address"}
	case "response":
		carriers = []string{"/message", "/notes/0/text"}
	case "message":
		if _, ok := sc.doc["body"]; ok {
			carriers = []string{"/body"}
		} else {
			carriers = []string{"/media/uri"}
		}
	case "withdrawal":
		carriers = []string{"/note"}
	}
	for i := 0; i < 1+g.rng.IntN(2); i++ {
		src := sources[g.rng.IntN(len(sources))]
		carrier := carriers[g.rng.IntN(len(carriers))]
		text := "Seen near " + src.value + " (" + fmt.Sprint(g.rng.Uint32()) + ")."
		if g.rng.IntN(3) == 0 {
			text = "ref " + base64.StdEncoding.EncodeToString([]byte(src.value)) + " " + fmt.Sprint(g.rng.Uint32())
		}
		appendTo := func(m map[string]any, key string) {
			if old, ok := m[key].(string); ok {
				m[key] = old + " " + text
			} else {
				m[key] = text
			}
		}
		switch carrier {
		case "/notes/0/text":
			sc.doc["notes"] = append(list(sc.doc["notes"]), map[string]any{"text": text, "author_member": "XA-RC"})
			carrier = fmt.Sprintf("/notes/%d/text", len(list(sc.doc["notes"]))-1)
		case "/risk/notes":
			r := obj(sc.doc["risk"])
			if r == nil {
				r = map[string]any{}
				sc.doc["risk"] = r
			}
			if _, planted := r["notes"]; planted {
				// never change a planted value: its copies would no
				// longer be copies
				sc.doc["notes"] = append(list(sc.doc["notes"]), map[string]any{"text": text})
				carrier = fmt.Sprintf("/notes/%d/text", len(list(sc.doc["notes"]))-1)
				break
			}
			r["notes"] = text
		case "enquirer-address":
			carrier = fmt.Sprintf("/persons/%d/address/description", g.personIndex(g.eID))
			appendTo(obj(g.person(g.eID)["address"]), "description")
		case "/media/uri":
			if src.class == Photo && len(src.value) == 64 {
				obj(sc.doc["media"])["sha256"] = src.value
				carrier = "/media/sha256"
			} else {
				obj(sc.doc["media"])["uri"] = "https://media.flx.invalid/" + base64.RawURLEncoding.EncodeToString([]byte(src.value))
			}
		default:
			p, _ := parsePointer(carrier)
			parent, _ := lookup(sc.doc, p[:len(p)-1])
			appendTo(parent.(map[string]any), p[len(p)-1])
		}
		cp := &canary{value: src.value, class: src.class, owner: src.owner, copyOf: src, carrier: carrier}
		sc.canaries = append(sc.canaries, cp)
		if sc.protected(cp) {
			// What the carrier held may now go with it (or, for a field
			// schema v1 requires, the document be refused).
			sc.canaries = slices.DeleteFunc(sc.canaries, func(c *canary) bool { return c.copyOf == nil && c.ptr == carrier })
			if carrier == "/body" || strings.HasPrefix(carrier, "/media") {
				sc.mayDeny = true
			}
		}
	}
}

// allowListed reports whether the strict default's allow-list for the
// destination lets the field at the concrete pointer of a document travel.
func (sc *scenario) allowListed(docKind, p string) bool {
	var entries []MinimiseEntry
	var req []string
	switch docKind {
	case "case":
		entries, req = sc.rules.Config.Minimise.Case, requiredCase
	case "response":
		entries, req = sc.rules.Config.Minimise.Response, requiredResponse
	case "message":
		entries, req = sc.rules.Config.Minimise.Message, requiredMessage
	default:
		entries, req = sc.rules.Config.Minimise.Withdrawal, requiredWithdraw
	}
	toks := strings.Split(p[1:], "/")
	for _, e := range entries {
		if !e.matches(str(sc.caseDoc["type"]), sc.dst) {
			continue
		}
		if !slices.Contains(e.Fields, toks[0]) && !slices.Contains(req, toks[0]) {
			return false
		}
		if docKind == "case" && toks[0] == "persons" && len(toks) > 2 {
			return slices.Contains(e.PersonFields, toks[2]) || toks[2] == "id"
		}
		return true
	}
	return slices.Contains(req, toks[0])
}

// protected is the oracle: whether the canary may not reach the
// destination in this scenario. A copy is protected when its source is.
func (sc *scenario) protected(c *canary) bool {
	if sc.denyType() {
		return true
	}
	if c.copyOf != nil {
		src := c.copyOf
		if src.inCase && sc.toOrigin {
			return false // the origin holds its own case
		}
		return sc.protected(src)
	}
	docKind := sc.docKind
	if c.inCase {
		docKind = "case"
	}
	if c.owner == "content" {
		return sc.withheldFor("subject") != nil && slices.Contains(sc.withheldFor("subject"), Content)
	}
	if !sc.allowListed(docKind, c.ptr) {
		return true
	}
	classes := ClassesOf(docKind, c.ptr)
	if slices.Contains(classes, Sensitive) {
		return true // the strict default sends no sensitive category to anyone
	}
	if slices.Contains(classes, Detention) && sc.dst.Role != "coordinator" {
		notice := sc.agreed && strings.HasPrefix(c.ptr, "/detention/place")
		if !notice {
			return true
		}
		if sc.sit.name == "detainee-agreed" {
			return false // the notice the detainee agreed to
		}
	}
	owner := c.owner
	if docKind == "case" && !strings.HasPrefix(c.ptr, "/persons/") {
		owner = "shared"
	}
	if sc.docKind == "response" && strings.HasPrefix(c.ptr, "/notes") {
		owner = "shared"
	}
	return hasAnyClass(classes, sc.withheldFor(owner))
}

// forms are the ways a value could show in the bytes that leave.
func forms(v string) []string {
	esc, _ := json.Marshal(v)
	out := []string{v, strings.Trim(string(esc), `"`)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		out = append(out, enc.EncodeToString([]byte(v)))
	}
	return out
}

func leaked(out []byte, v string) bool {
	for _, f := range forms(v) {
		if bytes.Contains(out, []byte(f)) {
			return true
		}
	}
	return false
}

// corpusStats counts what the corpus did.
type corpusStats struct {
	scenarios, twins, canaries, protectedChecks, controlChecks int
	pairs                                                      map[string]bool
	bySituation                                                map[string]int
}

// check runs one scenario and returns its failures.
func (sc *scenario) check(e *Engine, st *corpusStats) []string {
	doc, err := json.Marshal(sc.doc)
	if err != nil {
		return []string{sc.label + ": " + err.Error()}
	}
	d, out := e.Apply(context.Background(), doc, sc.kind, sc.dst, testNow, sc.opts...)
	var fails []string
	fail := func(f string, a ...any) { fails = append(fails, sc.label+": "+fmt.Sprintf(f, a...)) }
	for _, f := range d.Fired {
		if f.RuleID == ruleInput || f.RuleID == ruleOutput || f.RuleID == ruleError || f.RuleID == ruleContext {
			fail("evaluation did not complete: %s", describe(d))
			return fails
		}
	}
	leaves := d.Allowed()
	if !sc.denyType() && !sc.mayDeny && !leaves {
		fail("nothing may go, but only redactions were expected: %s", describe(d))
	}
	for _, c := range sc.canaries {
		if st != nil {
			st.canaries++
		}
		if c.inCase && c.copyOf == nil {
			continue // in the case given as context: only its copies can leave
		}
		if sc.protected(c) {
			if st != nil {
				st.protectedChecks++
			}
			if leaves && leaked(out, c.value) {
				where := c.ptr
				if c.copyOf != nil {
					where = "copy in " + c.carrier
				}
				fail("protected %s value %q (%s, %s) reached %s: %s", c.class, c.value, c.owner, where, sc.dst.Member, describe(d))
			}
			continue
		}
		if c.copyOf != nil {
			continue // only structured values of the document are controls
		}
		if st != nil {
			st.controlChecks++
		}
		if leaves && !leaked(out, c.value) {
			fail("allowed %s value %q (%s, %s) did not arrive at %s: %s", c.class, c.value, c.owner, c.ptr, sc.dst.Member, describe(d))
		}
	}
	if st != nil {
		if sc.twin {
			st.twins++
		} else {
			st.scenarios++
			st.bySituation[sc.sit.name]++
		}
		st.pairs[str(sc.caseDoc["case_id"])+" -> "+sc.dst.Member] = true
	}
	return fails
}

// corpus calls each with every scenario of the generated corpus, in order,
// each followed by its safe twin when twins is set, until each returns
// false. The corpus is generated once per test binary (corpusScenarios)
// and shared: TestAdversarialCorpus, TestAdversarialDifferential and each
// of TestAdversarialRuleMutation's subtests (one per built-in rule) see the
// same scenarios, in the same order, as if each generated its own. A
// scenario is read, never changed, by those who are given it.
func corpus(t testing.TB, twins bool, each func(sc *scenario) bool) {
	for _, sc := range corpusScenarios(t) {
		if sc.twin && !twins {
			continue
		}
		if !each(sc) {
			return
		}
	}
}

// generated holds the corpus once it has been generated in full (a
// generation stopped by a failure leaves it empty, so the next test
// generates it again and fails the same way).
var generated struct {
	sync.Mutex
	scenarios []*scenario
}

// corpusScenarios returns every scenario, each followed by its twin when it
// has one, generated on the first call (seeded and reproducible).
func corpusScenarios(t testing.TB) []*scenario {
	generated.Lock()
	defer generated.Unlock()
	if generated.scenarios == nil {
		generated.scenarios = generateCorpus(t)
	}
	return generated.scenarios
}

// generateCorpus generates every scenario and its twin, seeded and
// reproducible.
func generateCorpus(t testing.TB) []*scenario {
	js := loadSchemas(t)
	def, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*Rules{"": def, "configured": configuredRules(t)}
	var out []*scenario
	for si := range situations {
		sit := &situations[si]
		for ki, kind := range corpusKinds {
			docKind, _ := docKindForEnvelope(kind)
			if sit.docs != nil && !slices.Contains(sit.docs, docKind) {
				continue
			}
			for ri, role := range corpusRoles {
				if sit.roles != nil && !slices.Contains(sit.roles, role) {
					continue
				}
				for ci, class := range corpusClasses {
					if sit.classes != nil && !slices.Contains(sit.classes, class) {
						continue
					}
					if testing.Short() && (si+ki+ri+ci)%3 != 0 {
						continue // -short: a third of the corpus
					}
					seed := uint64(si)<<24 | uint64(ki)<<16 | uint64(ri)<<8 | uint64(ci)
					sc, ok := build(t, js, rules, sit, kind, role, class, seed, false)
					if !ok {
						continue
					}
					out = append(out, sc)
					if tw, ok := build(t, js, rules, sit, kind, role, class, seed, true); ok {
						out = append(out, tw)
					}
				}
			}
		}
	}
	return out
}

// TestAdversarialCorpus runs the generated corpus against the strict
// default (and, for the situations that need one, a Society's additions).
func TestAdversarialCorpus(t *testing.T) {
	skipUnderRace(t)
	st := &corpusStats{pairs: map[string]bool{}, bySituation: map[string]int{}}
	var fails []string
	engines := map[*Rules]*Engine{}
	corpus(t, true, func(sc *scenario) bool {
		e := engines[sc.rules]
		if e == nil {
			e = New(sc.rules)
			engines[sc.rules] = e
		}
		fails = append(fails, sc.check(e, st)...)
		return len(fails) < 40
	})
	for _, f := range fails {
		t.Error(f)
	}
	for _, s := range situations {
		if st.bySituation[s.name] == 0 {
			t.Errorf("situation %s generated no scenario", s.name)
		}
	}
	if st.protectedChecks == 0 || st.controlChecks == 0 {
		t.Errorf("the corpus checks nothing: %d protected, %d controls", st.protectedChecks, st.controlChecks)
	}
	t.Logf("adversarial corpus: %d scenarios + %d safe twins, %d case/destination pairs, %d canaries planted (%d checked absent, %d checked present), %d situations x %d kinds x %d roles x %d classes",
		st.scenarios, st.twins, len(st.pairs), st.canaries, st.protectedChecks, st.controlChecks, len(situations), len(corpusKinds), len(corpusRoles), len(corpusClasses))
}

// TestAdversarialOne runs the scenarios whose label contains
// FLX_ADVERSARIAL (for debugging a failure), printing the documents.
func TestAdversarialOne(t *testing.T) {
	want := os.Getenv("FLX_ADVERSARIAL")
	if want == "" {
		t.Skip("set FLX_ADVERSARIAL to a scenario label")
	}
	corpus(t, true, func(sc *scenario) bool {
		if !strings.Contains(sc.label, want) {
			return true
		}
		doc, _ := json.Marshal(sc.doc)
		d, out := New(sc.rules).Apply(context.Background(), doc, sc.kind, sc.dst, testNow, sc.opts...)
		t.Logf("%s\ndestination %+v\ncase %s\ndoc %s\n%s\nout %s", sc.label, sc.dst, mustJSON(t, sc.caseDoc), doc, describe(d), out)
		for _, f := range sc.check(New(sc.rules), nil) {
			t.Error(f)
		}
		return true
	})
}

// TestAdversarialRuleMutation disables each built-in rule in turn: the
// corpus must then leak, or the rule is dead (or the corpus misses it).
func TestAdversarialRuleMutation(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("the mutation test runs the whole corpus once per rule; not in -short")
	}
	for _, b := range builtins {
		t.Run(b.id, func(t *testing.T) {
			var without []builtin
			for _, o := range builtins {
				if o.id != b.id {
					without = append(without, o)
				}
			}
			engines := map[*Rules]*Engine{}
			var caught string
			corpus(t, false, func(sc *scenario) bool {
				e := engines[sc.rules]
				if e == nil {
					e = New(sc.rules)
					e.builtins = without
					engines[sc.rules] = e
				}
				if f := sc.check(e, nil); len(f) > 0 {
					caught = f[0]
					return false
				}
				return true
			})
			if caught == "" {
				t.Fatalf("with %s disabled the adversarial corpus still passes: the rule is dead or the corpus misses it", b.id)
			}
			t.Logf("without %s: %s", b.id, caught)
		})
	}
}
