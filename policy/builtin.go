package policy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/schema"
)

// builtin is one built-in rule. kinds are the document kinds it applies to
// ("case", "response", "message", "withdrawal"). late rules run after the
// redacting rules and custom rules, so they see what will actually leave.
// protect, when set, lists what the rule withholds from the destination;
// FLX-DP-FREE-TEXT also uses it to find the values of a case that a
// response or message must not carry.
type builtin struct {
	id      string
	effect  string // the strongest effect it can have
	summary string
	kinds   []string
	late    bool
	eval    func(*state) error
	protect func(*state) []protection
}

var (
	kCase    = []string{"case"}
	kAbout   = []string{"case", "response", "message"} // documents about a case
	kAll     = []string{"case", "response", "message", "withdrawal"}
	kAllOut  = []string{"case", "response", "message", "withdrawal", "stats_report"}
	kMessage = []string{"message"}
)

// builtins in evaluation order. RULES.md documents them; a test keeps the
// two in step.
var builtins = []builtin{
	{id: "FLX-DP-DESTINATION", effect: RuleDeny, kinds: kAllOut, eval: ruleDestination,
		summary: "destination is an active member with a country that accepts the kind, and the rules allow its role/member the case type"},
	{id: "FLX-DP-PURPOSE", effect: RuleDeny, kinds: kAbout, eval: rulePurpose,
		summary: "the case's purpose is an allowed RFL purpose (never law enforcement, immigration enforcement, genealogy, inheritance)"},
	{id: "FLX-DP-CURRENT-VERSION", effect: RuleDeny, kinds: kCase, eval: ruleCurrentVersion,
		summary: "only the current version of a case is sent (not superseded; equal to the stored current version, which must be given)"},
	{id: "FLX-DP-RETENTION", effect: RuleDeny, kinds: kAbout, eval: ruleRetention,
		summary: "the case's retention period (retention_until or the per-type default) has not ended"},
	{id: "FLX-DP-LEGAL-BASIS", effect: RuleDeny, kinds: kCase, eval: ruleLegalBasis,
		summary: "a legal basis is recorded, accepted, and documented (or backed by a consent in force)"},
	{id: "FLX-DP-CONSENT-WITHDRAWN", effect: RuleDeny, kinds: kAbout, eval: ruleConsentWithdrawn,
		summary: "no one whose consent the case relies on has withdrawn it"},
	{id: "FLX-DP-CONSENT-SCOPE", effect: RuleDeny, kinds: kAbout, eval: ruleConsentScope,
		summary: "everyone who consented, and every enquirer, has a consent in force covering this use, member, country and role; another basis never widens a consent"},
	{id: "FLX-DP-MINOR-GUARDIAN", effect: RuleDeny, kinds: kCase, eval: ruleMinorGuardian,
		summary: "people who are or may be under the configured age have guardian consent, a best-interest assessment, or a documented basis naming them"},
	{id: "FLX-DP-NON-MOVEMENT", effect: RuleDeny, kinds: kAbout, eval: ruleNonMovement,
		summary: "recipients outside the Movement only when allowed, consented or vital interest, and risk-assessed"},
	{id: "FLX-DP-REFUSAL", effect: RuleDeny, kinds: kAbout, eval: ruleRefusal, protect: protectRefusal,
		summary: "a person who declined contact: whatever locates them (places, contact, photo, free text) is withheld, and a recorded message of theirs is denied"},
	{id: "FLX-DP-LOCATED-PENDING", effect: RuleNeedsReview, kinds: kAbout, eval: ruleLocatedPending, protect: protectPending,
		summary: "located but not yet asked: whatever locates the sought person is withheld (held for review when a response contradicts the case)"},
	{id: "FLX-DP-UAM", effect: RuleDeny, kinds: kAbout, eval: ruleUAM, protect: protectUAM,
		summary: "unaccompanied/separated child without a verified link to the family: child's whereabouts and photo, and every carer's identity and whereabouts, withheld"},
	{id: "FLX-DP-VULNERABLE", effect: RuleDeny, kinds: kAbout, eval: ruleVulnerable, protect: protectVulnerable,
		summary: "vulnerable people and minors without a verified link to the enquirer: whatever locates them is withheld, and a recorded message of theirs is denied"},
	{id: "FLX-DP-DETENTION", effect: RuleDeny, kinds: kAbout, eval: ruleDetention, protect: protectDetention,
		summary: "detention details only to the ICRC or members under an access arrangement; others get only the notice the detainee agreed to"},
	{id: "FLX-DP-SENSITIVE", effect: RuleRedact, kinds: kCase, eval: protective("FLX-DP-SENSITIVE", protectSensitive), protect: protectSensitive,
		summary: "sensitive categories (and free text beside them) removed unless allowed for the destination and marked necessary"},
	{id: "FLX-DP-MESSAGE-PARTY", effect: RuleNeedsReview, kinds: kMessage, eval: ruleMessageParty,
		summary: "a message party who is not a person of the case: their address is held for review"},
	{id: "FLX-DP-MINIMISE", effect: RuleRedact, kinds: kAll, eval: ruleMinimise, protect: protectMinimise,
		summary: "only fields on the allow-list for the document kind, case type and destination travel"},
	{id: "FLX-DP-FREE-TEXT", effect: RuleDeny, kinds: kAll, late: true, eval: ruleFreeText,
		summary: "no field may carry a value that is withheld elsewhere (a withheld address in a note, a body or a name)"},
	{id: "FLX-DP-RISK-COUNTRY", effect: RuleDeny, kinds: kAbout, late: true, eval: ruleRiskCountry,
		summary: "destination in a country a person fears (deny) or a risk country (review) while personal data remains"},
	{id: "FLX-DP-REVIEW", effect: RuleNeedsReview, kinds: kAbout, late: true, eval: ruleReview,
		summary: "the Society's manual-review triggers (case types, destinations, conditions)"},
}

// RuleInfo describes a built-in rule.
type RuleInfo struct {
	ID      string `json:"id"`
	Effect  string `json:"effect"`
	Summary string `json:"summary"`
}

// BuiltinRules lists the built-in rules in evaluation order.
func BuiltinRules() []RuleInfo {
	out := make([]RuleInfo, len(builtins))
	for i, b := range builtins {
		out[i] = RuleInfo{ID: b.id, Effect: b.effect, Summary: b.summary}
	}
	return out
}

func dstName(d Destination) string {
	if d.Member == "" {
		return "the destination"
	}
	return d.Member
}

func labels(ps []person) string {
	l := make([]string, len(ps))
	for i, p := range ps {
		l[i] = p.label()
	}
	return strings.Join(l, ", ")
}

func plural(ps []person, one, many string) string {
	if len(ps) == 1 {
		return fmt.Sprintf(one, labels(ps))
	}
	return fmt.Sprintf(many, labels(ps))
}

// origin is the member that created the case.
func (s *state) origin() string { return str(obj(s.cs["origin"])["member"]) }

// toOrigin reports whether a response or message goes back to the case's
// origin, which holds the whole case and collected its consents.
func (s *state) toOrigin() bool {
	return s.docKind != "case" && s.dst.Member != "" && s.dst.Member == s.origin()
}

func (s *state) persons() []person {
	if s.ps == nil {
		s.ps = persons(s.cs)
	}
	return s.ps
}

func (s *state) consents() []consent {
	if s.cons == nil {
		s.cons = consents(s.cs, s.now)
	}
	return s.cons
}

func (s *state) person(id string) (person, bool) {
	for _, p := range s.persons() {
		if p.id == id {
			return p, true
		}
	}
	return person{}, false
}

func (s *state) what() string {
	switch s.docKind {
	case "response":
		return "response about this case"
	case "message":
		return "message about this case"
	case "withdrawal":
		return "withdrawal"
	}
	return "case"
}

func ruleDestination(s *state) error {
	const id = "FLX-DP-DESTINATION"
	d := s.dst
	switch {
	case d.Member == "" || !contains(destinationRoles, d.Role):
		s.fire(id, RuleDeny, fmt.Sprintf("%s is not a known member of the federation (no role in the manifest).", dstName(d)), nil)
	case !d.Active:
		s.fire(id, RuleDeny, fmt.Sprintf("%s is suspended or not active in the federation manifest.", d.Member), nil)
	case !reCountry.MatchString(d.Country):
		s.fire(id, RuleDeny, fmt.Sprintf("%s has no valid country in the federation manifest, so the risk-country rules cannot be checked.", d.Member), nil)
	case !contains(d.Accepts, s.kind):
		s.fire(id, RuleDeny, fmt.Sprintf("%s does not accept %s (per the federation manifest).", d.Member, s.kind), nil)
	case s.docKind != "withdrawal" && s.docKind != "stats_report" && !s.toOrigin():
		t := str(s.cs["type"])
		allowed, byMember := s.cfg.Destinations.Members[d.Member]
		if !byMember {
			allowed = s.cfg.Destinations.Roles[d.Role]
		}
		if !contains(allowed, t) {
			s.fire(id, RuleDeny, fmt.Sprintf("This Society's rules do not allow anything about %s cases to be sent to %s (%s).", t, d.Member, d.Role), nil)
		}
	}
	return nil
}

func rulePurpose(s *state) error {
	const id = "FLX-DP-PURPOSE"
	p := str(s.cs["purpose"])
	switch {
	case contains(s.cfg.Purposes.Forbidden, p):
		s.fire(id, RuleDeny, fmt.Sprintf("The purpose %q is not a Restoring Family Links purpose: RFL data is never shared for it.", p), nil)
	case !contains(s.cfg.Purposes.Allowed, p):
		s.fire(id, RuleDeny, fmt.Sprintf("The purpose %q is not on this Society's list of allowed RFL purposes.", p), nil)
	}
	return nil
}

func ruleCurrentVersion(s *state) error {
	const id = "FLX-DP-CURRENT-VERSION"
	if isTrue(s.doc["superseded"]) {
		s.fire(id, RuleDeny, "This version of the case has been superseded: only the current version may be sent.", nil)
		return nil
	}
	cur := s.opts.currentVersion
	if cur <= 0 {
		s.fire(id, RuleDeny, "The caller did not say which version of the case is current, so it cannot be established that this one is: nothing is sent.", nil)
		return nil
	}
	v, ok := intVal(s.doc["version"])
	if !ok {
		return fmt.Errorf("case has no readable version")
	}
	if v != cur {
		s.fire(id, RuleDeny, fmt.Sprintf("Version %d is not the current version (%d) of this case: only the current version may be sent.", v, cur), nil)
	}
	return nil
}

// retentionEnd returns the last day the case may be kept, and how it was found.
func retentionEnd(s *state) (time.Time, string, error) {
	if r, ok := s.cs["retention_until"]; ok {
		t, err := time.Parse("2006-01-02", str(r))
		if err != nil {
			return time.Time{}, "", fmt.Errorf("retention_until %q is not a date", str(r))
		}
		return t, "retention_until", nil
	}
	per, ok := s.cfg.Retention.ByCaseType[str(s.cs["type"])]
	if !ok {
		per = s.cfg.Retention.Default
	}
	if per.IsZero() {
		return time.Time{}, "", fmt.Errorf("no retention period applies to this case")
	}
	created := str(obj(s.cs["origin"])["created_at"])
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("origin.created_at %q is not a date-time", created)
	}
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return day.AddDate(per.Years, per.Months, per.Days), "default " + per.String(), nil
}

func ruleRetention(s *state) error {
	end, how, err := retentionEnd(s)
	if err != nil {
		return err
	}
	n := s.now.UTC()
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
	if today.After(end) {
		s.fire("FLX-DP-RETENTION", RuleDeny, fmt.Sprintf(
			"The retention period of this case ended on %s (%s): nothing about it may be shared; only a placeholder remains and earlier recipients must be told to expire their copies.",
			end.Format("2006-01-02"), how), nil)
	}
	return nil
}

func ruleLegalBasis(s *state) error {
	const id = "FLX-DP-LEGAL-BASIS"
	lb := obj(s.cs["legal_basis"])
	t := str(lb["type"])
	switch {
	case lb == nil || t == "":
		s.fire(id, RuleDeny, "No legal basis is recorded: record consent or a documented vital-interest basis before sending.", nil)
	case !contains(s.cfg.LegalBasis.Accepted, t):
		s.fire(id, RuleDeny, fmt.Sprintf("The legal basis %q is not accepted by this Society's rules.", t), nil)
	case t != "consent" && s.cfg.LegalBasis.RequireDocumentation:
		var missing []string
		for _, f := range []string{"justification", "documented_by", "documented_at"} {
			if strings.TrimSpace(str(lb[f])) == "" {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			s.fire(id, RuleDeny, fmt.Sprintf("The %s legal basis is not documented (missing %s).", t, strings.Join(missing, ", ")), nil)
			return nil
		}
		at, err := time.Parse(time.RFC3339, str(lb["documented_at"]))
		if err != nil || at.After(s.now) {
			s.fire(id, RuleDeny, fmt.Sprintf("The %s legal basis is dated in the future or not readably dated: it is not yet documented.", t), nil)
		}
	case t == "consent":
		for _, c := range s.consents() {
			if c.inForce {
				return nil
			}
		}
		s.fire(id, RuleDeny, "The legal basis is consent, but no consent in force is recorded (withdrawn, undated or dated in the future).", nil)
	}
	return nil
}

// subjectOf is the person a consent speaks for.
func (c consent) subject() string {
	if c.onBehalfOf != "" {
		return c.onBehalfOf
	}
	return c.givenBy
}

func ruleConsentWithdrawn(s *state) error {
	const id = "FLX-DP-CONSENT-WITHDRAWN"
	if str(s.cs["status"]) == "closed_withdrawn" {
		s.fire(id, RuleDeny, fmt.Sprintf("The case was closed because consent was withdrawn: no %s may be sent (recipients are told with case.withdraw).", s.what()), nil)
		return nil
	}
	// Someone all of whose consents are withdrawn (none in force) stops
	// everything about the case.
	inForce := map[string]bool{}
	withdrawn := map[string]bool{}
	var subjects []string
	for _, c := range s.consents() {
		sub := c.subject()
		if _, seen := inForce[sub]; !seen {
			subjects = append(subjects, sub)
			inForce[sub] = false
		}
		if c.inForce {
			inForce[sub] = true
		}
		if c.withdrawn {
			withdrawn[sub] = true
		}
	}
	var gone []string
	for _, g := range subjects {
		if withdrawn[g] && !inForce[g] {
			gone = append(gone, g)
		}
	}
	if len(gone) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("Consent was withdrawn for %s: nothing more about the case is sent and earlier recipients must be told (case.withdraw).", strings.Join(gone, ", ")), nil)
	}
	return nil
}

// consentGap explains why a consent does not cover sending to the
// destination, or returns "". Every required use must be in scope.uses. A
// member named in scope.members is covered whatever scope.countries says
// (naming it is the most specific consent); otherwise a members list
// excludes the destination, and a countries list must contain its country.
// A roles list must contain its role, and recipients outside the Movement
// need scope.non_movement. A list that is given covers only what it names:
// an empty one covers nothing (fail closed); only a list that is not given
// says nothing about its dimension.
func (s *state) consentGap(c consent) string {
	d := s.dst
	uses := append([]string(nil), s.cfg.Consent.RequiredUses...)
	if s.cfg.Consent.PurposeInUses {
		uses = append(uses, str(s.cs["purpose"]))
	}
	for _, u := range uses {
		if !contains(c.uses, u) {
			return fmt.Sprintf("its scope does not include the use %q", u)
		}
	}
	named := contains(c.members, d.Member)
	if c.listed["members"] && !named {
		return fmt.Sprintf("its scope names other members than %s", dstName(d))
	}
	if !named && c.listed["countries"] && !contains(c.countries, d.Country) {
		return fmt.Sprintf("its scope does not include the country %s", d.Country)
	}
	if d.Role == "non_movement" {
		if !c.nonMovement {
			return "it does not allow recipients outside the Movement"
		}
	} else if c.listed["roles"] && !contains(c.roles, d.Role) {
		return fmt.Sprintf("its scope does not include the role %s", d.Role)
	}
	return ""
}

// speaksFor reports whether a consent was given by or for the person: given
// on their behalf, given by them for themselves, or given by their recorded
// guardian in a guardian or representative capacity.
func speaksFor(c consent, p person) bool {
	if p.id == "" {
		return false
	}
	if c.onBehalfOf != "" {
		return c.onBehalfOf == p.id
	}
	if c.givenBy == p.id {
		return true
	}
	g := str(p.m["guardian"])
	return g != "" && c.givenBy == g && c.capacity != "self"
}

// consentsOf returns the consents that speak for a person: all of them
// (whatever their state) and those in force.
func consentsOf(cs []consent, p person) (all, inForce []consent) {
	for _, c := range cs {
		if speaksFor(c, p) {
			all = append(all, c)
			if c.inForce {
				inForce = append(inForce, c)
			}
		}
	}
	return all, inForce
}

// basisNames reports whether a documented non-consent legal basis names
// the person in applies_to (an enquirer is covered only when named).
func (s *state) basisNames(p person) bool {
	lb := obj(s.cs["legal_basis"])
	t := str(lb["type"])
	if t == "" || t == "consent" || !contains(s.cfg.LegalBasis.Accepted, t) {
		return false
	}
	if _, has := lb["applies_to"]; !has {
		// Absent applies_to covers the people who gave no consent, but
		// never an enquirer: they can be asked, so they must be.
		return !p.hasRole("enquirer")
	}
	return contains(strs(lb["applies_to"]), p.id)
}

// ruleConsentScope: everyone for whom a consent is on record is governed
// by it, whatever other basis the case records (a vital-interest basis
// never widens what someone agreed to); they need a consent in force that
// covers this transfer. An enquirer with no consent on record is covered
// only by a documented basis that names them. A response or message going
// back to the case's origin is covered (the origin collected the consents).
func ruleConsentScope(s *state) error {
	const id = "FLX-DP-CONSENT-SCOPE"
	if s.toOrigin() {
		return nil
	}
	lbType := str(obj(s.cs["legal_basis"])["type"])
	cs := s.consents()
	var problems []string
	subjects := 0
	for _, p := range s.persons() {
		all, mine := consentsOf(cs, p)
		if !p.hasRole("enquirer") && len(all) == 0 {
			continue
		}
		subjects++
		switch {
		case len(all) == 0 && s.basisNames(p):
			continue
		case len(all) == 0:
			problems = append(problems, fmt.Sprintf("enquirer %s has given no consent, and no documented basis names them", p.label()))
			continue
		case len(mine) == 0:
			problems = append(problems, fmt.Sprintf("%s has no consent in force (withdrawn, undated or dated in the future)", p.label()))
			continue
		}
		gap := ""
		for _, c := range mine {
			if gap = s.consentGap(c); gap == "" {
				break
			}
		}
		if gap != "" {
			problems = append(problems, fmt.Sprintf("the consent for %s: %s", p.label(), gap))
		}
	}
	if subjects == 0 && lbType == "consent" {
		gap := "no consent in force is recorded"
		for _, c := range cs {
			if !c.inForce {
				continue
			}
			if gap = s.consentGap(c); gap == "" {
				break
			}
		}
		if gap != "" {
			problems = append(problems, "the consent on record: "+gap)
		}
	}
	if len(problems) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("Consent does not cover sending this %s to %s (%s).", s.what(), dstName(s.dst), strings.Join(problems, "; ")), nil)
	}
	return nil
}

// age returns whether a person is, or may be, under the configured age
// (flagged as a child, or a youngest possible age below the limit) and
// whether their age is known at all.
func (s *state) age(p person) (minor, known bool) {
	if p.hasVuln("minor") || p.hasVuln("unaccompanied_minor") || p.hasVuln("separated_child") || p.hasRole("unaccompanied_child") {
		return true, true
	}
	var sp schema.Person
	sp.BirthDate = schema.PartialDate(str(p.m["birth_date"]))
	if a := obj(p.m["age"]); a != nil {
		sp.Age = &schema.Age{AsOf: schema.PartialDate(str(a["as_of"]))}
		if v, ok := intVal(a["min"]); ok {
			n := int(v)
			sp.Age.Min = &n
		}
		if v, ok := intVal(a["max"]); ok {
			n := int(v)
			sp.Age.Max = &n
		}
	}
	lo, _, ok := sp.AgeAt(s.now.UTC())
	return ok && lo < s.cfg.Minors.Age, ok
}

func (s *state) isMinor(p person) bool { m, _ := s.age(p); return m }

func ruleMinorGuardian(s *state) error {
	const id = "FLX-DP-MINOR-GUARDIAN"
	var minors, unknown []person
	for _, p := range s.persons() {
		switch m, known := s.age(p); {
		case m:
			minors = append(minors, p)
		case !known:
			unknown = append(unknown, p)
		}
	}
	if len(minors)+len(unknown) == 0 {
		return nil
	}
	if s.cfg.Minors.BestInterestSufficient {
		if at, err := time.Parse(time.RFC3339, str(obj(s.cs["best_interest_assessment"])["done_at"])); err == nil && !at.After(s.now) {
			return nil
		}
	}
	cs := s.consents()
	covered := func(m person) bool {
		all, _ := consentsOf(cs, m)
		if s.cfg.Minors.DocumentedBasisSufficient && s.basisNames(m) && (len(all) == 0 || contains(strs(obj(s.cs["legal_basis"])["applies_to"]), m.id)) {
			return true
		}
		g := str(m.m["guardian"])
		for _, c := range cs {
			if !c.inForce || c.givenBy == m.id {
				continue
			}
			if c.onBehalfOf == m.id || (c.onBehalfOf == "" && g != "" && c.givenBy == g && c.capacity != "self") {
				return true
			}
		}
		return false
	}
	var missing, unsure []person
	for _, m := range minors {
		if !covered(m) {
			missing = append(missing, m)
		}
	}
	for _, m := range unknown {
		if !covered(m) {
			unsure = append(unsure, m)
		}
	}
	if len(missing) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("%s under %d: guardian consent or a best-interest assessment must be recorded before the case is sent.",
			plural(missing, "Person %s is", "Persons %s are"), s.cfg.Minors.Age), nil)
	}
	if len(unsure) > 0 {
		s.fire(id, RuleNeedsReview, fmt.Sprintf("The age of %s is not recorded, so it cannot be established that they are %d or over: an operator must confirm it, or record guardian consent or a best-interest assessment.",
			labels(unsure), s.cfg.Minors.Age), nil)
	}
	return nil
}

func ruleNonMovement(s *state) error {
	const id = "FLX-DP-NON-MOVEMENT"
	if s.dst.Role != "non_movement" {
		return nil
	}
	name := dstName(s.dst)
	if !s.cfg.NonMovement.Allow {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Red Cross Red Crescent Movement, and this Society's rules do not allow sending outside the Movement.", name), nil)
		return nil
	}
	if s.docKind != "case" {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Movement: only a case carrying its own consent or vital-interest record can go there.", name), nil)
		return nil
	}
	lb := obj(s.cs["legal_basis"])
	basis := str(lb["type"]) == "vital_interest" && strings.TrimSpace(str(lb["justification"])) != ""
	if !basis {
		for _, c := range s.consents() {
			if c.inForce && c.nonMovement && s.consentGap(c) == "" {
				basis = true
				break
			}
		}
	}
	if !basis {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Movement: a consent naming recipients outside the Movement, or a documented vital interest, is required.", name), nil)
		return nil
	}
	if s.cfg.NonMovement.RequireRiskAssessment && strings.TrimSpace(str(obj(s.cs["risk"])["notes"])) == "" {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Movement: a risk assessment must be recorded (risk.notes) before sending.", name), nil)
	}
	return nil
}

// protection withholds classes of one person's data (or of everyone's,
// with all) from the destination, keeping the except pointers.
type protection struct {
	person  string
	all     bool
	classes []Class
	except  []string
	ptrs    []string // exact pointers withheld besides the classes
	why     string   // who and why, for the reason
	// fromDoc: the document itself (a response's outcome) establishes
	// the situation, which then protects the person's data in the case too.
	fromDoc bool
}

// withheld returns the pointers of the document that the protections
// withhold, in document order.
func (s *state) withheld(prots []protection) []string {
	if len(prots) == 0 {
		return nil
	}
	out := make([]string, 0, 16)
	for _, p := range prots {
		for _, q := range p.ptrs {
			if exists(s.doc, q) && !contains(out, q) {
				out = append(out, q)
			}
		}
	}
	for _, f := range s.fields() {
		if contains(out, f.ptr) {
			continue
		}
		for _, p := range prots {
			if !hasAnyClass(f.entry.Classes, p.classes) {
				continue
			}
			if contains(p.except, f.ptr) {
				// Kept on purpose (the notice a detainee agreed to): the
				// free-text rule must not take it down either.
				if s.keep == nil {
					s.keep = map[string]bool{}
				}
				s.keep[f.ptr] = true
				continue
			}
			if p.all || f.about(p.person) {
				out = append(out, f.ptr)
				break
			}
		}
	}
	return out
}

func (s *state) fields() []field {
	if s.flds == nil {
		s.flds = fields(s.docKind, s.doc, s.cs)
	}
	return s.flds
}

func whys(prots []protection) string {
	var w []string
	for _, p := range prots {
		if p.why != "" && !contains(w, p.why) {
			w = append(w, p.why)
		}
	}
	return strings.Join(w, "; ")
}

// protective returns the eval of a rule whose only effect is to withhold
// what its protect function lists.
func protective(id string, protect func(*state) []protection) func(*state) error {
	return func(s *state) error {
		prots := protect(s)
		if ptrs := s.withheld(prots); len(ptrs) > 0 {
			s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
		}
		return nil
	}
}

func reasonFor(id string, s *state, prots []protection) string {
	w := whys(prots)
	switch id {
	case "FLX-DP-REFUSAL":
		return fmt.Sprintf("%s: whatever locates them (addresses and places, contact details, photo, free text) is withheld from %s; only a message they agreed to pass may go.", w, dstName(s.dst))
	case "FLX-DP-LOCATED-PENDING":
		return fmt.Sprintf("%s: whatever locates them (addresses and places, contact details, photo, free text) is withheld until they agree.", w)
	case "FLX-DP-UAM":
		return fmt.Sprintf("%s: the child's whereabouts and photo, and the identity and whereabouts of everyone looking after the child, are withheld until the family link is verified.", w)
	case "FLX-DP-VULNERABLE":
		return fmt.Sprintf("%s: whatever locates them (addresses and places, contact details, photo, free text) is held back until that relationship is verified.", w)
	case "FLX-DP-DETENTION":
		return fmt.Sprintf("%s: %s receives only the notice (%s); other detention details and whatever locates the detainee are withheld.", w, dstName(s.dst), strings.Join(s.cfg.Detention.NoticeFields, ", "))
	case "FLX-DP-SENSITIVE":
		why := "not allowed for " + dstName(s.dst)
		if s.cfg.Sensitive.RequireMarker {
			why += " or not marked necessary for this case"
		}
		return fmt.Sprintf("Sensitive data (%s) is %s: it is removed, with the free text that may repeat it.", w, why)
	}
	return w
}

// refusers are the people who declined contact: contact_preference
// refused, the sought persons of a located_declined_contact case, and the
// subject of a declined_contact response.
func (s *state) refusers() []protection {
	var out []protection
	declined := str(s.cs["status"]) == "located_declined_contact"
	if declined && s.noSought() {
		out = append(out, protection{all: true, classes: whereabouts,
			why: "The case records that the sought person declined contact, and no person is marked as sought (so everyone's whereabouts are withheld)"})
	}
	for _, p := range s.persons() {
		if str(p.m["contact_preference"]) == "refused" || (declined && p.hasRole("sought_person")) {
			out = append(out, protection{person: p.id, classes: whereabouts, why: "Person " + p.label() + " declined contact"})
		}
	}
	if s.docKind == "response" && str(s.doc["outcome"]) == "declined_contact" {
		ids, all := responseSubjects(s.doc, s.persons())
		if all {
			out = append(out, protection{all: true, classes: whereabouts, why: "The sought person declined contact", fromDoc: true})
		}
		for _, id := range ids {
			out = append(out, protection{person: id, classes: whereabouts, why: "Person " + id + " declined contact", fromDoc: true})
		}
	}
	return out
}

func protectRefusal(s *state) []protection { return s.refusers() }

func ruleRefusal(s *state) error {
	const id = "FLX-DP-REFUSAL"
	prots := protectRefusal(s)
	if ptrs := s.withheld(prots); len(ptrs) > 0 {
		s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
	}
	denyRecording(s, id, prots)
	return nil
}

// denyRecording refuses a recorded (video, voice) message from a person
// whose photo prots withhold from the destination: a recording shows the
// person and where they are, and it cannot be redacted (the free-text rule
// checks a written body; nothing checks the pixels), so the message does
// not go, and neither do its media bytes.
func denyRecording(s *state, id string, prots []protection) {
	if s.docKind != "message" || !s.present("/media") {
		return
	}
	from := str(obj(s.doc["from"])["person"])
	for _, p := range prots {
		if !slices.Contains(p.classes, Photo) || !(p.all || (from != "" && p.person == from)) {
			continue
		}
		why := strings.TrimSuffix(p.why, ".")
		s.fire(id, RuleDeny, fmt.Sprintf("%s: a recorded message of theirs shows them and where they are and cannot be redacted, so it may not go to %s.", why, dstName(s.dst)), nil)
		return
	}
}

// noSought reports whether no person of the case has the sought_person
// role: a status about "the sought person" then cannot be pinned on
// anyone, and it protects everyone (fail closed).
func (s *state) noSought() bool {
	for _, p := range s.persons() {
		if p.hasRole("sought_person") {
			return false
		}
	}
	return true
}

// pending are the sought persons of a located_pending_consent case who have
// not agreed, and the subject of a located_pending_consent response (whose
// message too is withheld: they have agreed to nothing yet).
func protectPending(s *state) []protection {
	var out []protection
	// A response reporting an outcome other than pending while the case
	// still says "not yet asked" is held for review instead (below).
	if str(s.cs["status"]) == "located_pending_consent" && s.docKind != "response" {
		if s.noSought() {
			out = append(out, protection{all: true, classes: whereabouts,
				why: "The case records that the sought person was located but not yet asked, and no person is marked as sought (so everyone's whereabouts are withheld)"})
		}
		for _, p := range s.persons() {
			if p.hasRole("sought_person") && str(p.m["contact_preference"]) != "agreed" {
				out = append(out, protection{person: p.id, classes: whereabouts, why: "Person " + p.label() + " was located but not yet asked whether their whereabouts may be shared"})
			}
		}
	}
	if s.docKind == "response" && str(s.doc["outcome"]) == "located_pending_consent" {
		cls := append(whereabouts[:len(whereabouts):len(whereabouts)], Content)
		ids, all := responseSubjects(s.doc, s.persons())
		if all {
			out = append(out, protection{all: true, classes: cls, why: "The sought person was located but not yet asked", fromDoc: true})
		}
		for _, id := range ids {
			out = append(out, protection{person: id, classes: cls, why: "Person " + id + " was located but not yet asked", fromDoc: true})
		}
	}
	return out
}

// ruleLocatedPending withholds the whereabouts of people not yet asked. A
// response that reports someone located while the case records that they
// have not been asked yet is held for review: an operator confirms they
// agreed before their whereabouts go.
func ruleLocatedPending(s *state) error {
	const id = "FLX-DP-LOCATED-PENDING"
	prots := protectPending(s)
	if ptrs := s.withheld(prots); len(ptrs) > 0 {
		s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
	}
	denyRecording(s, id, prots)
	if s.docKind == "response" && str(s.doc["outcome"]) != "located_pending_consent" && str(s.cs["status"]) == "located_pending_consent" &&
		(s.present("/location") || s.present("/contact")) && !s.subjectsAgreed() {
		s.fire(id, RuleNeedsReview, "The case records that the sought person was located but not yet asked, yet this response carries their whereabouts: an operator must confirm that they agreed.", nil)
	}
	return nil
}

// subjectsAgreed reports whether every person a response is about agreed
// to contact, as the case records it.
func (s *state) subjectsAgreed() bool {
	ids, all := responseSubjects(s.doc, s.persons())
	if all {
		return false
	}
	for _, id := range ids {
		if p, ok := s.person(id); !ok || str(p.m["contact_preference"]) != "agreed" {
			return false
		}
	}
	return true
}

func isUAM(p person) bool {
	return p.hasVuln("unaccompanied_minor") || p.hasVuln("separated_child") || p.hasRole("unaccompanied_child")
}

// unverifiedChildren are the unaccompanied or separated children without a
// verified link to their family.
func (s *state) unverifiedChildren() []person {
	if s.cfg.UnaccompaniedMinors.exempt(s.dst) {
		return nil
	}
	var out []person
	for _, p := range s.persons() {
		if isUAM(p) && !verifiedLink(s.cs, p) {
			out = append(out, p)
		}
	}
	return out
}

func protectUAM(s *state) []protection {
	var out []protection
	for _, c := range s.unverifiedChildren() {
		out = append(out, protection{person: c.id, classes: append(whereabouts[:len(whereabouts):len(whereabouts)], Carer),
			why: "Person " + c.label() + " is an unaccompanied or separated child and the family link is not verified"})
		for _, g := range carersOf(s.cs, c, true) {
			out = append(out, protection{person: g, classes: []Class{Identifying, Locating, Contact, Photo, FreeText, Carer},
				why: "person " + g + " looks after the child"})
		}
	}
	return out
}

func ruleUAM(s *state) error {
	const id = "FLX-DP-UAM"
	prots := protectUAM(s)
	if ptrs := s.withheld(prots); len(ptrs) > 0 {
		s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
	}
	if s.docKind == "message" && s.present("/media") {
		from := str(obj(s.doc["from"])["person"])
		for _, c := range s.unverifiedChildren() {
			if c.id == from {
				s.fire(id, RuleDeny, fmt.Sprintf("Person %s is an unaccompanied or separated child and the family link is not verified: a recorded message of the child may not go to %s.", c.label(), dstName(s.dst)), nil)
			}
		}
	}
	return nil
}

// ruleVulnerable withholds the whereabouts of vulnerable people whose
// link is not verified, and refuses a recorded message of theirs: like the
// refusal's, it shows them and where they are and cannot be redacted.
func ruleVulnerable(s *state) error {
	const id = "FLX-DP-VULNERABLE"
	prots := protectVulnerable(s)
	if ptrs := s.withheld(prots); len(ptrs) > 0 {
		s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
	}
	denyRecording(s, id, prots)
	return nil
}

// protectVulnerable: people with a configured vulnerability flag, and
// minors, whose link to the person looking for them is not verified.
func protectVulnerable(s *state) []protection {
	if s.cfg.Vulnerable.exempt(s.dst) {
		return nil
	}
	var out []protection
	for _, p := range s.persons() {
		var flags []string
		for _, f := range s.cfg.Vulnerable.Flags {
			if p.hasVuln(f) {
				flags = append(flags, f)
			}
		}
		if s.cfg.Vulnerable.Minors && s.isMinor(p) && !isUAM(p) {
			flags = append(flags, "minor")
		}
		if len(flags) == 0 || verifiedLink(s.cs, p) {
			continue
		}
		out = append(out, protection{person: p.id, classes: whereabouts,
			why: fmt.Sprintf("Person %s is vulnerable (%s) and their relationship to the enquirer is not verified", p.label(), strings.Join(flags, ", "))})
	}
	return out
}

func (s *state) detentionAllowed() bool {
	c := s.cfg.Detention
	return contains(c.Roles, s.dst.Role) || contains(c.Members, s.dst.Member)
}

// detainees are the persons with the detainee role or vulnerability.
func (s *state) detainees() []person {
	var out []person
	for _, p := range s.persons() {
		if p.hasRole("detainee") || p.hasVuln("detainee") {
			out = append(out, p)
		}
	}
	return out
}

func (s *state) detentionInvolved() bool {
	_, block := s.cs["detention"]
	return block || str(s.cs["type"]) == "detention_notification" || len(s.detainees()) > 0
}

// protectDetention: with the detainee's agreement, a destination without
// access gets only the notice fields; whatever else locates the detainee,
// and every other detention detail, is withheld.
func protectDetention(s *state) []protection {
	if !s.detentionInvolved() || s.detentionAllowed() || !isTrue(obj(s.cs["detention"])["notification_agreed"]) {
		return nil
	}
	var except []string
	if s.docKind == "case" {
		for _, f := range s.cfg.Detention.NoticeFields {
			except = append(except, ptr("detention", f))
		}
	}
	cls := []Class{Detention, Locating, Contact, Photo, FreeText}
	ds := s.detainees()
	if len(ds) == 0 {
		return []protection{{all: true, classes: cls, except: except, why: "The detainee agreed that their family be notified"}}
	}
	var out []protection
	for _, d := range ds {
		out = append(out, protection{person: d.id, classes: cls, except: except, why: "Detainee " + d.label() + " agreed that their family be notified"})
	}
	return out
}

// ruleDetention: detention details go only to the ICRC and members under
// an access arrangement. Anything about a case that records a detention
// (the block, a detainee, or the case type) goes to others only when the
// detainee agreed that the family be notified; the agreement must be
// recorded (fail closed), and then only the notice travels.
func ruleDetention(s *state) error {
	const id = "FLX-DP-DETENTION"
	if !s.detentionInvolved() || s.detentionAllowed() {
		return nil
	}
	det := obj(s.cs["detention"])
	if det == nil || !isTrue(det["notification_agreed"]) {
		why := "the detainee has not agreed that their family be notified"
		if det == nil {
			why = "the case records a detention but no detention block, so the detainee's agreement to notify the family cannot be established"
		}
		s.fire(id, RuleDeny, fmt.Sprintf("Detention details go only to the ICRC or members under an access arrangement, and %s: no %s may go to %s.", why, s.what(), dstName(s.dst)), nil)
		return nil
	}
	prots := protectDetention(s)
	if ptrs := s.withheld(prots); len(ptrs) > 0 {
		s.fire(id, RuleRedact, reasonFor(id, s, prots), ptrs)
	}
	return nil
}

func (s *state) allowedSensitive() []string {
	if l, ok := s.cfg.Sensitive.Members[s.dst.Member]; ok {
		return l
	}
	return s.cfg.Sensitive.Roles[s.dst.Role]
}

// sendable reports whether a sensitive category may go to the destination.
func (s *state) sendable(cat string) bool {
	if cat == "detention_details" {
		return s.detentionAllowed() || isTrue(obj(s.cs["detention"])["notification_agreed"])
	}
	if !contains(s.allowedSensitive(), cat) {
		return false
	}
	return !s.cfg.Sensitive.RequireMarker || contains(strs(s.cs["sensitivity"]), cat)
}

// healthFlags are vulnerabilities that reveal health.
var healthFlags = []string{"medical_condition", "disability"}

// protectSensitive lists, as concrete pointers, the sensitive fields that
// may not go, the health-revealing vulnerability flags and the markers of
// categories withheld; when anything is withheld, free text goes too.
func protectSensitive(s *state) []protection {
	if s.docKind != "case" {
		return nil
	}
	var ptrs, cats []string
	add := func(p, cat string) {
		ptrs = append(ptrs, p)
		if !contains(cats, cat) {
			cats = append(cats, cat)
		}
	}
	for _, f := range s.fields() {
		if f.entry.Category == "" || s.sendable(f.entry.Category) {
			continue
		}
		add(f.ptr, f.entry.Category)
	}
	for _, p := range persons(s.doc) {
		if s.sendable("health") {
			break
		}
		for i, v := range strs(p.m["vulnerabilities"]) {
			if contains(healthFlags, v) {
				add(ptr("persons", p.idx, "vulnerabilities", i), "health")
			}
		}
	}
	for i, m := range strs(s.doc["sensitivity"]) {
		if !s.sendable(m) {
			add(ptr("sensitivity", i), m)
		}
	}
	if len(ptrs) == 0 {
		return nil
	}
	sort.Strings(cats)
	// An emptied sensitive object is itself a sign: drop it whole.
	for _, p := range persons(s.doc) {
		sm := obj(p.m["sensitive"])
		if sm == nil {
			continue
		}
		whole := p.ptr("sensitive")
		left := 0
		for k := range sm {
			if !containsChild(ptrs, whole, k) {
				left++
			}
		}
		if left == 0 {
			kept := ptrs[:0]
			for _, q := range ptrs {
				if !strings.HasPrefix(q, whole+"/") {
					kept = append(kept, q)
				}
			}
			ptrs = append(kept, whole)
		}
	}
	return []protection{{all: true, classes: []Class{FreeText}, ptrs: ptrs, why: strings.Join(cats, ", ")}}
}

// containsChild is contains(ptrs, parent+"/"+escapeToken(tok)) without
// writing the pointer (parent is a pointer as ptr writes it).
func containsChild(ptrs []string, parent, tok string) bool {
	if needsEscape(tok) {
		return contains(ptrs, parent+"/"+escapeToken(tok))
	}
	for _, q := range ptrs {
		if len(q) == len(parent)+1+len(tok) && q[len(parent)] == '/' && q[:len(parent)] == parent && q[len(parent)+1:] == tok {
			return true
		}
	}
	return false
}

// ruleMessageParty: a message party must be a person of the case, or the
// rules cannot tell whether their address may go.
func ruleMessageParty(s *state) error {
	const id = "FLX-DP-MESSAGE-PARTY"
	var who []string
	for _, k := range []string{"from", "to"} {
		pm := obj(s.doc[k])
		if pm == nil || !s.present("/"+k+"/address") {
			continue
		}
		if _, ok := s.person(str(pm["person"])); !ok {
			who = append(who, k)
		}
	}
	if len(who) > 0 {
		s.fire(id, RuleNeedsReview, fmt.Sprintf("The message's %s party is not a person of the case, so it cannot be established that their address may go: an operator must review it.", strings.Join(who, " and ")), nil)
	}
	return nil
}

func (s *state) minimiseEntry() (*MinimiseEntry, []string) {
	var entries []MinimiseEntry
	var required []string
	switch s.docKind {
	case "case":
		entries, required = s.cfg.Minimise.Case, requiredCase
	case "response":
		entries, required = s.cfg.Minimise.Response, requiredResponse
	case "message":
		entries, required = s.cfg.Minimise.Message, requiredMessage
	case "withdrawal":
		entries, required = s.cfg.Minimise.Withdrawal, requiredWithdraw
	}
	t := str(s.cs["type"])
	for i := range entries {
		if entries[i].matches(t, s.dst) {
			return &entries[i], required
		}
	}
	return nil, required
}

// minimisePointers lists the fields not on the matching allow-list.
func (s *state) minimisePointers() ([]string, *MinimiseEntry) {
	e, required := s.minimiseEntry()
	var fields, pfields []string
	if e != nil {
		fields, pfields = e.Fields, e.PersonFields
	}
	var ptrs []string
	keys := make([]string, 0, len(s.doc))
	for k := range s.doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(fields, k) && !contains(required, k) {
			ptrs = append(ptrs, ptr(k))
		}
	}
	if s.docKind == "case" {
		for _, p := range persons(s.doc) {
			keys := make([]string, 0, len(p.m))
			for k := range p.m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !contains(pfields, k) && !contains(requiredPerson, k) {
					ptrs = append(ptrs, p.ptr(k))
				}
			}
		}
	}
	return ptrs, e
}

func protectMinimise(s *state) []protection {
	ptrs, _ := s.minimisePointers()
	return []protection{{ptrs: ptrs}}
}

func ruleMinimise(s *state) error {
	const id = "FLX-DP-MINIMISE"
	ptrs, e := s.minimisePointers()
	if len(ptrs) == 0 {
		return nil
	}
	what := s.docKind
	if s.docKind == "case" {
		what = str(s.doc["type"]) + " case"
	}
	// Said for a caseworker: which list of the rules decided, by what it
	// is for, never by its place in the rules file.
	how := "no list in the rules covers this recipient, so only required fields (those every " + s.docKind + " must carry) are sent"
	if e != nil {
		how = "only the fields on the rules' list " + listFor(e) + " are sent"
	}
	s.fire(id, RuleRedact, fmt.Sprintf("Data minimisation: %s (%s) does not need every field of this %s; %s, the others are withheld.",
		dstName(s.dst), roleWords(s.dst.Role), strings.ReplaceAll(what, "_", " "), how), ptrs)
	return nil
}

// listFor names a minimisation list by whom and what it is for.
func listFor(e *MinimiseEntry) string {
	who := "for every recipient"
	switch {
	case len(e.Members) > 0:
		who = "for " + strings.Join(e.Members, ", ")
	case !contains(e.Roles, "*"):
		var ws []string
		for _, r := range e.Roles {
			ws = append(ws, roleWords(r))
		}
		who = "for " + strings.Join(ws, " or ")
	}
	if len(e.CaseTypes) > 0 && !contains(e.CaseTypes, "*") {
		who += ", " + strings.ReplaceAll(strings.Join(e.CaseTypes, ", "), "_", " ") + " cases"
	}
	return who
}

// roleWords says what a recipient's role is.
func roleWords(role string) string {
	switch role {
	case "society":
		return "a National Society"
	case "delegation":
		return "an ICRC delegation"
	case "coordinator":
		return "a tracing coordinator"
	case "non_movement":
		return "an organisation outside the Red Cross and Red Crescent Movement"
	}
	return "role " + role
}

// remainingPersonal lists the classes of personal data still in the
// document after the redactions decided so far.
func (s *state) remainingPersonal() []Class {
	if s.left != nil && s.leftAt == len(s.redact) {
		return s.left
	}
	defer func() { s.leftAt = len(s.redact) }()
	out := []Class{}
	defer func() { s.left = out }()
	for _, f := range s.fields() {
		if !s.hasLeft(f.ptr) {
			continue
		}
		for _, c := range f.entry.Classes {
			if contains(classStrings(PersonalClasses()), string(c)) && !containsClass(out, c) {
				out = append(out, c)
			}
		}
	}
	order := classStrings(AllClasses())
	sort.Slice(out, func(i, j int) bool {
		return slicesIndex(order, string(out[i])) < slicesIndex(order, string(out[j]))
	})
	return out
}

func slicesIndex(l []string, s string) int {
	for i, e := range l {
		if e == s {
			return i
		}
	}
	return len(l)
}

// hasLeft reports whether some value at or under the pointer will still
// leave (an array whose items were all removed has nothing left).
func (s *state) hasLeft(p string) bool {
	pp, err := parsePointer(p)
	if err != nil || s.redacted(p) {
		return false
	}
	v, ok := lookup(s.doc, pp)
	if !ok {
		return false
	}
	var left func(v any, at string) bool
	left = func(v any, at string) bool {
		if s.redact[at] {
			return false
		}
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if left(e, at+"/"+pointer{k}.String()[1:]) {
					return true
				}
			}
			return false
		case []any:
			for i, e := range x {
				if left(e, at+"/"+strconv.Itoa(i)) {
					return true
				}
			}
			return false
		}
		return true
	}
	return left(v, p)
}

func containsClass(l []Class, c Class) bool {
	for _, e := range l {
		if e == c {
			return true
		}
	}
	return false
}

func classStrings(cs []Class) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// feared are the countries a person in the case fears (theirs and the
// case's risk assessment); risky are the Society's risk countries, those
// for the case type and the parties to the conflict.
func (s *state) riskCountries() (feared, risky []string) {
	feared = append(feared, strs(obj(s.cs["risk"])["feared_countries"])...)
	for _, p := range s.persons() {
		feared = append(feared, strs(p.m["feared_countries"])...)
	}
	risky = append(risky, s.cfg.Risk.Countries...)
	risky = append(risky, s.cfg.Risk.ByCaseType[str(s.cs["type"])]...)
	risky = append(risky, strs(obj(s.cs["risk"])["parties_to_conflict"])...)
	return feared, risky
}

func ruleRiskCountry(s *state) error {
	const id = "FLX-DP-RISK-COUNTRY"
	c := s.dst.Country
	feared, risky := s.riskCountries()
	action, why := "", ""
	switch {
	case !reCountry.MatchString(c):
		action, why = RuleDeny, "the destination's country is unknown"
	case contains(feared, c):
		action, why = s.cfg.Risk.FearedAction, c+" is a country a person in this case fears"
	case contains(risky, c):
		action, why = s.cfg.Risk.Action, c+" is a risk country for this case (configured, or a party to the conflict)"
	default:
		return nil
	}
	left := s.remainingPersonal()
	if len(left) == 0 {
		return nil
	}
	what := classNames(left)
	if action == RuleDeny {
		s.fire(id, RuleDeny, fmt.Sprintf("%s, and the %s still carries personal data (%s): it may not be sent there.", upper(why), s.what(), what), nil)
		return nil
	}
	s.fire(id, RuleNeedsReview, fmt.Sprintf("%s, and the %s still carries personal data (%s): an operator must review the transfer.", upper(why), s.what(), what), nil)
	return nil
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func ruleReview(s *state) error {
	const id = "FLX-DP-REVIEW"
	r := s.cfg.Review
	var why []string
	if contains(r.CaseTypes, str(s.cs["type"])) {
		why = append(why, "case type "+str(s.cs["type"]))
	}
	if contains(r.DestinationRoles, s.dst.Role) {
		why = append(why, "destination role "+s.dst.Role)
	}
	if contains(r.DestinationMembers, s.dst.Member) {
		why = append(why, "destination "+s.dst.Member)
	}
	if s.dst.Country != "" && contains(r.DestinationCountries, s.dst.Country) {
		why = append(why, "destination country "+s.dst.Country)
	}
	if len(r.Conditions) > 0 {
		left := s.remainingPersonal()
		for _, cond := range r.Conditions {
			hit := false
			switch cond {
			case "sensitive_data":
				hit = containsClass(left, Sensitive) || containsClass(left, Detention)
			case "location_data":
				hit = containsClass(left, Locating) || containsClass(left, Contact)
			case "detention":
				hit = containsClass(left, Detention) || (s.detentionInvolved() && len(left) > 0)
			case "minor", "unaccompanied_minor", "vulnerable":
				for _, p := range s.persons() {
					switch {
					case cond == "minor" && s.isMinor(p),
						cond == "unaccompanied_minor" && isUAM(p):
						hit = true
					case cond == "vulnerable":
						for _, f := range s.cfg.Vulnerable.Flags {
							if p.hasVuln(f) {
								hit = true
							}
						}
					}
				}
			}
			if hit {
				why = append(why, cond)
			}
		}
	}
	if len(why) > 0 {
		s.fire(id, RuleNeedsReview, fmt.Sprintf("This Society's rules require an operator to review this transfer (%s).", strings.Join(why, ", ")), nil)
	}
	return nil
}
