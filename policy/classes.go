package policy

import (
	"sort"
	"strings"
)

// Class is a protected class of schema v1 fields. Every field of every
// document kind belongs to one or more classes (see taxonomy); the built-in
// rules withhold classes of fields, never lists of pointers of their own,
// so a field added to the schema is protected as soon as it is classified
// (and a test fails until it is).
type Class string

// The classes. The personal ones (PersonalClasses) say something about a
// person; the others are ids, processing records and protocol fields.
const (
	// Identifying: who the person is (names, sex, birth date, age,
	// nationality, a message party's name, date of death).
	Identifying Class = "identifying"
	// Locating: where the person is, lives, was or lies: addresses, places
	// of birth, separation, death and remains, last known location,
	// detention facility, a message party's address.
	Locating Class = "locating"
	// Contact: how to reach the person (phones, e-mails, postal address).
	Contact Class = "contact"
	// Photo: an image of the person.
	Photo Class = "photo"
	// Sensitive: special categories (ethnicity, religion, political
	// opinion, health, biometrics, sexual and gender-based violence), the
	// cause of death and the case's sensitivity markers.
	Sensitive Class = "sensitive"
	// Detention: the detention block (place, authority, since, status,
	// notification agreed).
	Detention Class = "detention"
	// Carer: who looks after a child (a person's guardian reference). The
	// carer's own fields are withheld by person, whatever role they hold.
	Carer Class = "carer"
	// FreeText: caseworker text (notes, risk notes, justifications,
	// best-interest outcome, a withdrawal note): it can say anything, so
	// it is withheld whenever anyone in the case is protected.
	FreeText Class = "free_text"
	// Content: what a person wrote or recorded for their family (a
	// message's body and media, the message a located person agreed to
	// pass). It travels, but never carrying a withheld value.
	Content Class = "content"
	// Protection: facts the receiver needs to protect the person
	// (roles, vulnerabilities, contact preference, feared countries, risk
	// assessment, best-interest assessment).
	Protection Class = "protection"
	// Relational: person ids and references between records of one
	// document (pseudonymous outside it).
	Relational Class = "relational"
	// Processing: records of the processing itself (origin, purpose,
	// legal basis, consents, retention, review).
	Processing Class = "processing"
	// NonPersonal: protocol and workflow fields that say nothing about a
	// person (schema tag, ids of the case and message, kind, status,
	// dates of the record).
	NonPersonal Class = "non_personal"
)

// AllClasses lists every class, personal ones first.
func AllClasses() []Class {
	return []Class{Identifying, Locating, Contact, Photo, Sensitive, Detention, Carer, FreeText, Content,
		Protection, Relational, Processing, NonPersonal}
}

// PersonalClasses are the classes whose fields are personal data in the
// sense of the rules: a feared or risk country receives none of them.
func PersonalClasses() []Class {
	return []Class{Identifying, Locating, Contact, Photo, Sensitive, Detention, Carer, FreeText, Content, Protection}
}

var personalClasses = PersonalClasses()

// whereabouts is what locates a person: place, contact, image and the free
// text that may describe any of them.
var whereabouts = []Class{Locating, Contact, Photo, FreeText}

// subjectKind says whose data a field is, for rules that protect one
// person.
type subjectKind int

const (
	subjNone     subjectKind = iota // not about a particular person (ids, processing)
	subjPerson                      // /persons/N/...: person N
	subjAll                         // about anyone in the case (shared blocks, free text)
	subjDeceased                    // the case's deceased (everyone if none is marked)
	subjDetainee                    // the case's detainees (everyone if none is marked)
	subjResponse                    // a response's sought person (all sought persons, else everyone)
	subjFrom                        // a message's sender
	subjTo                          // a message's addressee
)

// FieldClass is one entry of the taxonomy: the fields at Path (a JSON
// pointer with "*" for any array index) of documents of kind Doc, and every
// field under them that has no entry of its own, belong to Classes.
type FieldClass struct {
	Doc     string  `json:"doc"`
	Path    string  `json:"path"`
	Classes []Class `json:"classes"`
	// Category is the sensitive category of a Sensitive field
	// (ethnicity, ..., detention_details).
	Category string `json:"category,omitempty"`

	subject subjectKind
	ptr     pointer
}

func fc(doc, path string, subj subjectKind, classes ...Class) FieldClass {
	p, err := parsePointer(path)
	if err != nil {
		panic("policy: bad taxonomy path " + path)
	}
	return FieldClass{Doc: doc, Path: path, Classes: classes, subject: subj, ptr: p}
}

func sens(path, cat string) FieldClass {
	f := fc("case", path, subjPerson, Sensitive)
	f.Category = cat
	return f
}

// taxonomy classifies every field of schema v1. TestTaxonomyCoversSchema
// walks the embedded JSON Schema files and fails when a field has no entry
// (or an entry names no field); RULES.md shows the table.
var taxonomy = func() []FieldClass {
	t := []FieldClass{
		// case
		fc("case", "/schema", subjNone, NonPersonal),
		fc("case", "/case_id", subjNone, NonPersonal),
		fc("case", "/version", subjNone, NonPersonal),
		fc("case", "/type", subjNone, NonPersonal),
		fc("case", "/status", subjNone, NonPersonal),
		fc("case", "/updated_at", subjNone, NonPersonal),
		fc("case", "/superseded", subjNone, NonPersonal),
		fc("case", "/purpose", subjNone, Processing),
		fc("case", "/retention_until", subjNone, Processing),
		fc("case", "/origin", subjNone, Processing),
		fc("case", "/legal_basis", subjNone, Processing),
		fc("case", "/legal_basis/justification", subjAll, FreeText),
		fc("case", "/legal_basis/applies_to", subjNone, Relational),
		fc("case", "/consents", subjNone, Processing),
		fc("case", "/consents/*/given_by", subjNone, Relational),
		fc("case", "/consents/*/on_behalf_of", subjNone, Relational),
		fc("case", "/persons/*/id", subjNone, Relational),
		fc("case", "/persons/*/roles", subjPerson, Protection),
		fc("case", "/persons/*/names", subjPerson, Identifying),
		fc("case", "/persons/*/sex", subjPerson, Identifying),
		fc("case", "/persons/*/birth_date", subjPerson, Identifying),
		fc("case", "/persons/*/age", subjPerson, Identifying),
		fc("case", "/persons/*/nationalities", subjPerson, Identifying),
		fc("case", "/persons/*/place_of_birth", subjPerson, Locating, Identifying),
		fc("case", "/persons/*/address", subjPerson, Locating),
		fc("case", "/persons/*/last_known_location", subjPerson, Locating),
		fc("case", "/persons/*/contact", subjPerson, Contact),
		fc("case", "/persons/*/contact/address", subjPerson, Contact, Locating),
		fc("case", "/persons/*/photo", subjPerson, Photo),
		fc("case", "/persons/*/vulnerabilities", subjPerson, Protection),
		sens("/persons/*/sensitive/ethnicity", "ethnicity"),
		sens("/persons/*/sensitive/religion", "religion"),
		sens("/persons/*/sensitive/political_opinion", "political_opinion"),
		sens("/persons/*/sensitive/health", "health"),
		sens("/persons/*/sensitive/biometrics", "biometrics"),
		sens("/persons/*/sensitive/sgbv", "sgbv"),
		fc("case", "/persons/*/contact_preference", subjPerson, Protection),
		fc("case", "/persons/*/guardian", subjPerson, Carer),
		fc("case", "/persons/*/feared_countries", subjPerson, Protection),
		fc("case", "/relationships", subjNone, Relational),
		fc("case", "/separation", subjAll, Locating),
		fc("case", "/detention/place", subjDetainee, Detention, Locating),
		fc("case", "/detention/authority", subjDetainee, Detention),
		fc("case", "/detention/detained_since", subjDetainee, Detention),
		fc("case", "/detention/status", subjDetainee, Detention),
		fc("case", "/detention/notification_agreed", subjDetainee, Detention),
		fc("case", "/death/date", subjDeceased, Identifying),
		fc("case", "/death/place", subjDeceased, Locating),
		fc("case", "/death/remains_location", subjDeceased, Locating),
		fc("case", "/best_interest_assessment", subjNone, Protection),
		fc("case", "/best_interest_assessment/by", subjNone, Processing),
		fc("case", "/best_interest_assessment/outcome", subjAll, FreeText),
		fc("case", "/risk", subjNone, Protection),
		fc("case", "/risk/notes", subjAll, FreeText),
		fc("case", "/sensitivity", subjAll, Sensitive),
		fc("case", "/notes", subjAll, FreeText),

		// response
		fc("response", "/schema", subjNone, NonPersonal),
		fc("response", "/case_id", subjNone, NonPersonal),
		fc("response", "/responder", subjNone, NonPersonal),
		fc("response", "/outcome", subjNone, NonPersonal),
		fc("response", "/responded_at", subjNone, NonPersonal),
		fc("response", "/in_reply_to_version", subjNone, NonPersonal),
		fc("response", "/sought_person", subjNone, Relational),
		fc("response", "/location", subjResponse, Locating),
		fc("response", "/contact", subjResponse, Contact),
		fc("response", "/contact/address", subjResponse, Contact, Locating),
		fc("response", "/message", subjResponse, Content),
		fc("response", "/notes", subjAll, FreeText),

		// message
		fc("message", "/schema", subjNone, NonPersonal),
		fc("message", "/message_id", subjNone, NonPersonal),
		fc("message", "/case_id", subjNone, NonPersonal),
		fc("message", "/kind", subjNone, NonPersonal),
		fc("message", "/channel", subjNone, NonPersonal),
		fc("message", "/created_at", subjNone, NonPersonal),
		fc("message", "/lang", subjNone, NonPersonal),
		fc("message", "/reply_to", subjNone, NonPersonal),
		fc("message", "/from/person", subjNone, Relational),
		fc("message", "/from/name", subjFrom, Identifying),
		fc("message", "/from/member", subjNone, NonPersonal),
		fc("message", "/from/address", subjFrom, Locating),
		fc("message", "/to/person", subjNone, Relational),
		fc("message", "/to/name", subjTo, Identifying),
		fc("message", "/to/member", subjNone, NonPersonal),
		fc("message", "/to/address", subjTo, Locating),
		fc("message", "/body", subjFrom, Content),
		fc("message", "/media", subjFrom, Content),
		fc("message", "/review", subjNone, Processing),
		fc("message", "/delivery", subjNone, NonPersonal),
		fc("message", "/call", subjNone, NonPersonal),

		// withdrawal (and its confirmation)
		fc("withdrawal", "/schema", subjNone, NonPersonal),
		fc("withdrawal", "/case_id", subjNone, NonPersonal),
		fc("withdrawal", "/reason", subjNone, NonPersonal),
		fc("withdrawal", "/withdrawn_at", subjNone, NonPersonal),
		fc("withdrawal", "/erase", subjNone, NonPersonal),
		fc("withdrawal", "/confirms", subjNone, NonPersonal),
		fc("withdrawal", "/erased_at", subjNone, NonPersonal),
		fc("withdrawal", "/person_ids", subjNone, Relational),
		fc("withdrawal", "/consent_ids", subjNone, Relational),
		fc("withdrawal", "/note", subjAll, FreeText),

		// statistics report: counts of a month, small counts suppressed
		fc("stats_report", "/schema", subjNone, NonPersonal),
		fc("stats_report", "/member", subjNone, NonPersonal),
		fc("stats_report", "/country", subjNone, NonPersonal),
		fc("stats_report", "/period", subjNone, NonPersonal),
		fc("stats_report", "/revision", subjNone, NonPersonal),
		fc("stats_report", "/threshold", subjNone, NonPersonal),
		fc("stats_report", "/rounding", subjNone, NonPersonal),
		fc("stats_report", "/counts", subjNone, NonPersonal),

		// match query: a keyed, hardened encoding of one sought person,
		// derived from their names, birth years and sex (personal data,
		// though no value of the person reads in clear); the node sends it
		// only when the policy lets the case and the person's names go to
		// the destination (SPEC.md §20)
		fc("match_query", "/schema", subjNone, NonPersonal),
		fc("match_query", "/case_id", subjNone, NonPersonal),
		fc("match_query", "/person_id", subjNone, Relational),
		fc("match_query", "/encoding", subjAll, Identifying),

		// match answer: random handles and scores of the responder's persons
		fc("match_answer", "/schema", subjNone, NonPersonal),
		fc("match_answer", "/case_id", subjNone, NonPersonal),
		fc("match_answer", "/person_id", subjNone, Relational),
		fc("match_answer", "/in_reply_to", subjNone, NonPersonal),
		fc("match_answer", "/responder", subjNone, NonPersonal),
		fc("match_answer", "/candidates", subjNone, Relational),
	}
	f := fc("case", "/death/cause", subjDeceased, Sensitive)
	f.Category = "health"
	return append(t, f)
}()

var taxonomyByDoc = func() map[string][]FieldClass {
	m := map[string][]FieldClass{}
	for _, f := range taxonomy {
		m[f.Doc] = append(m[f.Doc], f)
	}
	return m
}()

// taxonomyByFirst holds, per document kind, the entries of taxonomyByDoc
// that can cover a pointer starting with a given token (an entry of that
// first token, of a "*" one, or of the whole document), in taxonomyByDoc's
// order; rest are those any other first token may meet.
type taxonomyIndex struct {
	byTok map[string][]FieldClass
	rest  []FieldClass
}

var taxonomyByFirst = func() map[string]taxonomyIndex {
	out := map[string]taxonomyIndex{}
	wild := func(f FieldClass) bool { return len(f.ptr) == 0 || f.ptr[0] == "*" }
	for doc, entries := range taxonomyByDoc {
		ix := taxonomyIndex{byTok: map[string][]FieldClass{}}
		for _, f := range entries {
			if wild(f) {
				ix.rest = append(ix.rest, f)
			} else {
				ix.byTok[f.ptr[0]] = nil
			}
		}
		for tok := range ix.byTok {
			for _, f := range entries {
				if wild(f) || f.ptr[0] == tok {
					ix.byTok[tok] = append(ix.byTok[tok], f)
				}
			}
		}
		out[doc] = ix
	}
	return out
}()

// taxonomyCandidates returns the entries of doc that may cover p, in
// taxonomyByDoc's order (the others cannot: their first token differs).
func taxonomyCandidates(doc string, p pointer) []FieldClass {
	ix, ok := taxonomyByFirst[doc]
	if !ok || len(p) == 0 {
		return taxonomyByDoc[doc]
	}
	if l, ok := ix.byTok[p[0]]; ok {
		return l
	}
	return ix.rest
}

// Taxonomy returns the classification of every schema v1 field, sorted by
// document kind and path.
func Taxonomy() []FieldClass {
	out := append([]FieldClass(nil), taxonomy...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Doc != out[j].Doc {
			return out[i].Doc < out[j].Doc
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// entryFor returns the most specific taxonomy entry covering the concrete
// pointer p of a document of kind doc, or false when none does.
func entryFor(doc string, p pointer) (FieldClass, bool) {
	var best FieldClass
	found := false
	for _, f := range taxonomyCandidates(doc, p) {
		if !f.ptr.matchesPrefix(p) {
			continue
		}
		if !found || len(f.ptr) > len(best.ptr) {
			best, found = f, true
		}
	}
	return best, found
}

// ClassesOf returns the classes of the field at the concrete JSON pointer
// of a document kind ("case", "response", "message", "withdrawal",
// "stats_report"). A
// field the taxonomy does not know is every personal class (fail closed).
func ClassesOf(doc, jsonPointer string) []Class {
	p, err := parsePointer(jsonPointer)
	if err != nil {
		return PersonalClasses()
	}
	f, ok := entryFor(doc, p)
	if !ok {
		return PersonalClasses()
	}
	return f.Classes
}

// matchesPrefix reports whether the pattern (with "*" matching any array
// index) is a prefix of, or equal to, the concrete pointer q.
func (p pointer) matchesPrefix(q pointer) bool {
	if len(p) > len(q) {
		return false
	}
	for i := range p {
		if p[i] == "*" {
			if _, err := atoi(q[i]); err == nil {
				continue
			}
			return false
		}
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

func hasAnyClass(have, want []Class) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// field is one taxonomy entry instantiated in a document: a concrete
// pointer that exists, its entry, and whose data it is.
type field struct {
	ptr      string
	entry    *FieldClass // the taxonomy entry (shared: read only)
	subjects []string    // person ids; nil with all == true means anyone
	all      bool
}

// fields instantiates the taxonomy in the document (of kind docKind): one
// field per concrete pointer of each entry that exists. caseDoc is the case
// the document is about (the document itself for a case), for subjects.
func fields(docKind string, doc, caseDoc map[string]any) []field {
	var out []field
	var ps []person
	if caseDoc != nil {
		ps = persons(caseDoc)
	}
	entries := taxonomyByDoc[docKind]
	// Every entry's pointers, in order, written into one builder and made
	// strings at once (substrings of the one string it holds, which
	// strings.Builder hands over without copying).
	type span struct{ entry, end int }
	var ex expander
	var arena strings.Builder
	arena.Grow(2048)
	spans := make([]span, 0, 64)
	for i := range entries {
		ex.each(doc, entries[i].ptr, func(p []byte) {
			arena.Write(p)
			spans = append(spans, span{i, arena.Len()})
		})
	}
	all := arena.String()
	out = make([]field, 0, len(spans))
	// The fields of one subject share one backing array, each its own
	// element with no room after it (an append to one copies).
	var one []string
	single := func(id string) []string {
		if len(one) == cap(one) {
			one = make([]string, 0, len(spans))
		}
		one = append(one, id)
		return one[len(one)-1 : len(one) : len(one)]
	}
	start := 0
	for _, sp := range spans {
		f := &entries[sp.entry]
		cp := all[start:sp.end]
		start = sp.end
		{
			fl := field{ptr: cp, entry: f}
			switch f.subject {
			case subjNone:
			case subjAll:
				fl.all = true
			case subjPerson:
				// The second token is the person's index (a token
				// with an escape is no number, raw or parsed).
				if tok, ok := secondToken(cp); ok {
					if i, err := atoi(tok); err == nil {
						if m := obj(list(doc["persons"])[i]); m != nil {
							fl.subjects = single(str(m["id"]))
						}
					}
				}
			case subjDeceased, subjDetainee:
				role, vuln := "deceased", ""
				if f.subject == subjDetainee {
					role, vuln = "detainee", "detainee"
				}
				for _, p := range ps {
					if p.hasRole(role) || (vuln != "" && p.hasVuln(vuln)) {
						fl.subjects = append(fl.subjects, p.id)
					}
				}
				fl.all = len(fl.subjects) == 0
			case subjResponse:
				fl.subjects, fl.all = responseSubjects(doc, ps)
			case subjFrom, subjTo:
				key := "from"
				if f.subject == subjTo {
					key = "to"
				}
				id := str(obj(doc[key])["person"])
				if id == "" || !hasPerson(ps, id) {
					fl.all = true // an unknown party: protected whenever anyone is
				} else {
					fl.subjects = single(id)
				}
			}
			out = append(out, fl)
		}
	}
	return out
}

// responseSubjects: the response's sought person when the case has them as
// a sought person, else every sought person, else everyone (all). A
// response naming someone else cannot be trusted to be about them only.
func responseSubjects(resp map[string]any, ps []person) ([]string, bool) {
	if id := str(resp["sought_person"]); id != "" {
		for _, p := range ps {
			if p.id == id && p.hasRole("sought_person") {
				return []string{id}, false
			}
		}
		return nil, true
	}
	var out []string
	for _, p := range ps {
		if p.hasRole("sought_person") {
			out = append(out, p.id)
		}
	}
	return out, len(out) == 0
}

func hasPerson(ps []person, id string) bool {
	for _, p := range ps {
		if p.id == id {
			return true
		}
	}
	return false
}

func (f field) about(id string) bool {
	if f.all {
		return true
	}
	for _, s := range f.subjects {
		if s == id {
			return true
		}
	}
	return false
}

func classNames(cs []Class) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
