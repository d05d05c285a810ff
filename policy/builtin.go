package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/familylinks/flx/schema"
)

// builtin is one built-in rule. kinds are the document kinds it applies to
// ("case", "response", "message", "withdrawal"). late rules run after the
// redacting rules and custom rules, so they see what will actually leave.
type builtin struct {
	id      string
	effect  string // the strongest effect it can have
	summary string
	kinds   []string
	late    bool
	eval    func(*state) error
}

var (
	kCase    = []string{"case"}
	kCaseRsp = []string{"case", "response"}
	kAll     = []string{"case", "response", "message", "withdrawal"}
	kNotWd   = []string{"case", "response", "message"}
)

// builtins in evaluation order. RULES.md documents them; a test keeps the
// two in step.
var builtins = []builtin{
	{id: "FLX-DP-DESTINATION", effect: RuleDeny, kinds: kAll, eval: ruleDestination,
		summary: "destination is an active member that accepts the kind, and the rules allow its role/member this case type"},
	{id: "FLX-DP-PURPOSE", effect: RuleDeny, kinds: kCase, eval: rulePurpose,
		summary: "case purpose is an allowed RFL purpose (never law enforcement, immigration enforcement, genealogy, inheritance)"},
	{id: "FLX-DP-CURRENT-VERSION", effect: RuleDeny, kinds: kCase, eval: ruleCurrentVersion,
		summary: "only the current version of a case is sent (not superseded; equal to the stored current version)"},
	{id: "FLX-DP-RETENTION", effect: RuleDeny, kinds: kCase, eval: ruleRetention,
		summary: "the case's retention period (retention_until or the per-type default) has not ended"},
	{id: "FLX-DP-LEGAL-BASIS", effect: RuleDeny, kinds: kCase, eval: ruleLegalBasis,
		summary: "a legal basis is recorded, accepted, and documented (or backed by a valid consent)"},
	{id: "FLX-DP-CONSENT-WITHDRAWN", effect: RuleDeny, kinds: kCase, eval: ruleConsentWithdrawn,
		summary: "no one whose consent the case relies on has withdrawn it"},
	{id: "FLX-DP-CONSENT-SCOPE", effect: RuleDeny, kinds: kCase, eval: ruleConsentScope,
		summary: "each enquirer, and everyone who consented, has a valid consent covering this use, member, country and role (unless a documented basis names them)"},
	{id: "FLX-DP-MINOR-GUARDIAN", effect: RuleDeny, kinds: kCase, eval: ruleMinorGuardian,
		summary: "people under the configured age have guardian consent, a best-interest assessment, or a documented non-consent basis naming them"},
	{id: "FLX-DP-NON-MOVEMENT", effect: RuleDeny, kinds: kNotWd, eval: ruleNonMovement,
		summary: "recipients outside the Movement only when allowed, consented or vital interest, and risk-assessed"},
	{id: "FLX-DP-REFUSAL", effect: RuleRedact, kinds: kCaseRsp, eval: ruleRefusal,
		summary: "a person who declined contact: address, contact, location, photo (and notes) removed"},
	{id: "FLX-DP-LOCATED-PENDING", effect: RuleRedact, kinds: kCaseRsp, eval: ruleLocatedPending,
		summary: "located but not yet asked: the sought person's whereabouts are removed"},
	{id: "FLX-DP-UAM", effect: RuleRedact, kinds: kCase, eval: ruleUAM,
		summary: "unaccompanied/separated child without verified family: child's whereabouts and photo, caregiver's identity and whereabouts removed"},
	{id: "FLX-DP-VULNERABLE", effect: RuleRedact, kinds: kCase, eval: ruleVulnerable,
		summary: "other vulnerable people without a verified relationship: their location removed"},
	{id: "FLX-DP-DETENTION", effect: RuleDeny, kinds: kCase, eval: ruleDetention,
		summary: "detention details only to the ICRC or members under an access arrangement; families get only the agreed notice"},
	{id: "FLX-DP-SENSITIVE", effect: RuleRedact, kinds: kCase, eval: ruleSensitive,
		summary: "sensitive categories removed unless allowed for the destination and marked necessary"},
	{id: "FLX-DP-MINIMISE", effect: RuleRedact, kinds: kNotWd, eval: ruleMinimise,
		summary: "only fields on the allow-list for the case type and destination role travel"},
	{id: "FLX-DP-RISK-COUNTRY", effect: RuleNeedsReview, kinds: kNotWd, late: true, eval: ruleRiskCountry,
		summary: "destination in a feared or risk country while location or sensitive data remains: review (or deny)"},
	{id: "FLX-DP-REVIEW", effect: RuleNeedsReview, kinds: kNotWd, late: true, eval: ruleReview,
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

func ruleDestination(s *state) error {
	const id = "FLX-DP-DESTINATION"
	d := s.dst
	switch {
	case d.Member == "" || !contains(destinationRoles, d.Role):
		s.fire(id, RuleDeny, fmt.Sprintf("%s is not a known member of the federation (no role in the manifest).", dstName(d)), nil)
	case !d.Active:
		s.fire(id, RuleDeny, fmt.Sprintf("%s is suspended or not active in the federation manifest.", d.Member), nil)
	case !contains(d.Accepts, s.kind):
		s.fire(id, RuleDeny, fmt.Sprintf("%s does not accept %s (per the federation manifest).", d.Member, s.kind), nil)
	case s.docKind == "case":
		t := str(s.doc["type"])
		allowed, byMember := s.cfg.Destinations.Members[d.Member]
		if !byMember {
			allowed = s.cfg.Destinations.Roles[d.Role]
		}
		if !contains(allowed, t) {
			s.fire(id, RuleDeny, fmt.Sprintf("This Society's rules do not allow %s cases to be sent to %s (%s).", t, d.Member, d.Role), nil)
		}
	}
	return nil
}

func rulePurpose(s *state) error {
	const id = "FLX-DP-PURPOSE"
	p := str(s.doc["purpose"])
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
	if cur := s.opts.currentVersion; cur > 0 {
		v, ok := intVal(s.doc["version"])
		if !ok {
			return fmt.Errorf("case has no readable version")
		}
		if v != cur {
			s.fire(id, RuleDeny, fmt.Sprintf("Version %d is not the current version (%d) of this case: only the current version may be sent.", v, cur), nil)
		}
	}
	return nil
}

// retentionEnd returns the last day the case may be kept, and how it was found.
func retentionEnd(s *state) (time.Time, string, error) {
	if r, ok := s.doc["retention_until"]; ok {
		t, err := time.Parse("2006-01-02", str(r))
		if err != nil {
			return time.Time{}, "", fmt.Errorf("retention_until %q is not a date", str(r))
		}
		return t, "retention_until", nil
	}
	per, ok := s.cfg.Retention.ByCaseType[str(s.doc["type"])]
	if !ok {
		per = s.cfg.Retention.Default
	}
	if per.IsZero() {
		return time.Time{}, "", nil
	}
	created := str(obj(s.doc["origin"])["created_at"])
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
	if err != nil || end.IsZero() {
		return err
	}
	n := s.now.UTC()
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
	if today.After(end) {
		s.fire("FLX-DP-RETENTION", RuleDeny, fmt.Sprintf(
			"The retention period of this case ended on %s (%s): it may no longer be shared; only a placeholder remains and earlier recipients must be told to expire their copies.",
			end.Format("2006-01-02"), how), nil)
	}
	return nil
}

func ruleLegalBasis(s *state) error {
	const id = "FLX-DP-LEGAL-BASIS"
	lb := obj(s.doc["legal_basis"])
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
		}
	case t == "consent":
		for _, c := range consents(s.doc, s.now) {
			if !c.withdrawn {
				return nil
			}
		}
		s.fire(id, RuleDeny, "The legal basis is consent, but no valid consent is recorded.", nil)
	}
	return nil
}

func ruleConsentWithdrawn(s *state) error {
	const id = "FLX-DP-CONSENT-WITHDRAWN"
	if str(s.doc["status"]) == "closed_withdrawn" {
		s.fire(id, RuleDeny, "The case was closed because consent was withdrawn: it must not be forwarded (send case.withdraw instead).", nil)
		return nil
	}
	// Group consents by the person they speak for (on_behalf_of, else the
	// giver): someone all of whose consents are withdrawn stops the case.
	valid := map[string]bool{}
	var givers []string
	for _, c := range consents(s.doc, s.now) {
		subject := c.givenBy
		if c.onBehalfOf != "" {
			subject = c.onBehalfOf
		}
		if _, seen := valid[subject]; !seen {
			givers = append(givers, subject)
			valid[subject] = false
		}
		if !c.withdrawn {
			valid[subject] = true
		}
	}
	var gone []string
	for _, g := range givers {
		if !valid[g] {
			gone = append(gone, g)
		}
	}
	if len(gone) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("Consent was withdrawn for %s: forwarding stops and earlier recipients must be told (case.withdraw).", strings.Join(gone, ", ")), nil)
	}
	return nil
}

// consentGap explains why a consent does not cover sending to the
// destination, or returns "". Every required use must be in scope.uses. A
// member named in scope.members is covered whatever scope.countries says
// (naming it is the most specific consent); otherwise a non-empty members
// list excludes the destination, and a non-empty countries list must
// contain its country. A non-empty roles list must contain its role, and
// recipients outside the Movement need scope.non_movement.
func (s *state) consentGap(c consent) string {
	d := s.dst
	uses := append([]string(nil), s.cfg.Consent.RequiredUses...)
	if s.cfg.Consent.PurposeInUses {
		uses = append(uses, str(s.doc["purpose"]))
	}
	for _, u := range uses {
		if !contains(c.uses, u) {
			return fmt.Sprintf("its scope does not include the use %q", u)
		}
	}
	named := contains(c.members, d.Member)
	if len(c.members) > 0 && !named {
		return fmt.Sprintf("its scope names other members than %s", dstName(d))
	}
	if !named && len(c.countries) > 0 && !contains(c.countries, d.Country) {
		return fmt.Sprintf("its scope does not include the country %s", d.Country)
	}
	if d.Role == "non_movement" {
		if !c.nonMovement {
			return "it does not allow recipients outside the Movement"
		}
	} else if len(c.roles) > 0 && !contains(c.roles, d.Role) {
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

// consentsOf returns the valid consents that speak for a person.
func consentsOf(cs []consent, p person) []consent {
	var out []consent
	for _, c := range cs {
		if !c.withdrawn && speaksFor(c, p) {
			out = append(out, c)
		}
	}
	return out
}

// ruleConsentScope: every enquirer, and everyone else who gave a consent (or
// for whom one was given), must have a valid consent that covers this
// transfer, unless a documented non-consent legal basis covers them (named
// in legal_basis.applies_to, or applies_to absent and no consent of theirs
// on record). A consent someone did give sets the limits of what is shared
// about them even when another basis exists.
func ruleConsentScope(s *state) error {
	const id = "FLX-DP-CONSENT-SCOPE"
	lb := obj(s.doc["legal_basis"])
	lbType := str(lb["type"])
	_, hasAppliesTo := lb["applies_to"]
	appliesTo := strs(lb["applies_to"])
	cs := consents(s.doc, s.now)
	var problems []string
	subjects := 0
	for _, p := range persons(s.doc) {
		mine := consentsOf(cs, p)
		if !p.hasRole("enquirer") && len(mine) == 0 {
			continue
		}
		subjects++
		if lbType != "consent" && lbType != "" &&
			(contains(appliesTo, p.id) || (!hasAppliesTo && len(mine) == 0)) {
			continue
		}
		if len(mine) == 0 {
			problems = append(problems, fmt.Sprintf("enquirer %s has given no valid consent", p.label()))
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
		// Consent is the basis but names no one in the case: some valid
		// consent must still cover the transfer.
		gap := "no valid consent is recorded"
		for _, c := range cs {
			if c.withdrawn {
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
		s.fire(id, RuleDeny, fmt.Sprintf("Consent does not cover sending this case to %s (%s).", dstName(s.dst), strings.Join(problems, "; ")), nil)
	}
	return nil
}

// isMinor reports whether a person is, or may be, under the configured age:
// flagged as a child, or with a youngest possible age (schema.Person.AgeAt:
// from the birth date, else the age range moved on from its as_of date)
// below the limit.
func (s *state) isMinor(p person) bool {
	if p.hasVuln("minor") || p.hasVuln("unaccompanied_minor") || p.hasVuln("separated_child") || p.hasRole("unaccompanied_child") {
		return true
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
	return ok && lo < s.cfg.Minors.Age
}

func ruleMinorGuardian(s *state) error {
	const id = "FLX-DP-MINOR-GUARDIAN"
	var minors []person
	for _, p := range persons(s.doc) {
		if s.isMinor(p) {
			minors = append(minors, p)
		}
	}
	if len(minors) == 0 {
		return nil
	}
	if s.cfg.Minors.BestInterestSufficient && str(obj(s.doc["best_interest_assessment"])["done_at"]) != "" {
		return nil
	}
	cs := consents(s.doc, s.now)
	lb := obj(s.doc["legal_basis"])
	lbType := str(lb["type"])
	documented := lbType != "" && lbType != "consent" && contains(s.cfg.LegalBasis.Accepted, lbType)
	_, hasAppliesTo := lb["applies_to"]
	var missing []person
	for _, m := range minors {
		if documented && s.cfg.Minors.DocumentedBasisSufficient {
			// A documented non-consent basis that covers the child (by name,
			// or as someone who gave no consent) does not rest on the
			// child's consent.
			ownConsent := false
			for _, c := range cs {
				if c.givenBy == m.id || c.onBehalfOf == m.id {
					ownConsent = true
				}
			}
			if contains(strs(lb["applies_to"]), m.id) || (!hasAppliesTo && !ownConsent) {
				continue
			}
		}
		g := str(m.m["guardian"])
		ok := false
		for _, c := range cs {
			if c.withdrawn || c.givenBy == m.id {
				continue
			}
			if c.onBehalfOf == m.id || (g != "" && c.givenBy == g) ||
				(c.onBehalfOf == "" && (c.capacity == "guardian" || c.capacity == "representative")) {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		s.fire(id, RuleDeny, fmt.Sprintf("%s under %d: guardian consent or a best-interest assessment must be recorded before the case is sent.",
			plural(missing, "Person %s is", "Persons %s are"), s.cfg.Minors.Age), nil)
	}
	return nil
}

func plural(ps []person, one, many string) string {
	if len(ps) == 1 {
		return fmt.Sprintf(one, labels(ps))
	}
	return fmt.Sprintf(many, labels(ps))
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
	lb := obj(s.doc["legal_basis"])
	basis := str(lb["type"]) == "vital_interest" && strings.TrimSpace(str(lb["justification"])) != ""
	if !basis {
		for _, c := range consents(s.doc, s.now) {
			if !c.withdrawn && c.nonMovement && s.consentGap(c) == "" {
				basis = true
				break
			}
		}
	}
	if !basis {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Movement: a consent naming recipients outside the Movement, or a documented vital interest, is required.", name), nil)
		return nil
	}
	if s.cfg.NonMovement.RequireRiskAssessment && strings.TrimSpace(str(obj(s.doc["risk"])["notes"])) == "" {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is outside the Movement: a risk assessment must be recorded (risk.notes) before sending.", name), nil)
	}
	return nil
}

// whereabouts lists a person's location, contact and (optionally) photo
// pointers that exist.
func (s *state) whereabouts(p person, photo bool) []string {
	fields := whereaboutsFields
	if photo {
		fields = append(fields[:len(fields):len(fields)], "photo")
	}
	var out []string
	for _, f := range fields {
		if _, ok := p.m[f]; ok {
			out = append(out, p.ptr(f))
		}
	}
	return out
}

func ruleRefusal(s *state) error {
	const id = "FLX-DP-REFUSAL"
	if s.docKind == "response" {
		if str(s.doc["outcome"]) == "declined_contact" {
			if ptrs := s.existing("/location", "/contact", "/notes"); len(ptrs) > 0 {
				s.fire(id, RuleRedact, "The sought person declined contact: their location, contact details and notes are withheld (only a message they agreed to pass may go).", ptrs)
			}
		}
		return nil
	}
	declined := str(s.doc["status"]) == "located_declined_contact"
	var who []person
	var ptrs []string
	for _, p := range persons(s.doc) {
		if str(p.m["contact_preference"]) == "refused" || (declined && p.hasRole("sought_person")) {
			if w := s.whereabouts(p, true); len(w) > 0 {
				who = append(who, p)
				ptrs = append(ptrs, w...)
			}
		}
	}
	if declined {
		ptrs = append(ptrs, s.existing("/notes")...)
	}
	if len(ptrs) > 0 {
		subj := "The sought person"
		if len(who) > 0 {
			subj = plural(who, "Person %s", "Persons %s")
		}
		s.fire(id, RuleRedact, subj+" declined contact: address, contact details, location and photo are withheld (only a message they agreed to pass may go).", ptrs)
	}
	return nil
}

func ruleLocatedPending(s *state) error {
	const id = "FLX-DP-LOCATED-PENDING"
	if s.docKind == "response" {
		if str(s.doc["outcome"]) == "located_pending_consent" {
			if ptrs := s.existing("/location", "/contact", "/notes"); len(ptrs) > 0 {
				s.fire(id, RuleRedact, "The sought person was located but not yet asked whether their whereabouts may be shared: location, contact details and notes are withheld.", ptrs)
			}
		}
		return nil
	}
	if str(s.doc["status"]) != "located_pending_consent" {
		return nil
	}
	var who []person
	var ptrs []string
	for _, p := range persons(s.doc) {
		if p.hasRole("sought_person") && str(p.m["contact_preference"]) != "agreed" {
			if w := s.whereabouts(p, false); len(w) > 0 {
				who = append(who, p)
				ptrs = append(ptrs, w...)
			}
		}
	}
	if len(ptrs) > 0 {
		s.fire(id, RuleRedact, plural(who, "Person %s was", "Persons %s were")+
			" located but not yet asked whether their whereabouts may be shared: address, contact details and location are withheld.", ptrs)
	}
	return nil
}

func isUAM(p person) bool {
	return p.hasVuln("unaccompanied_minor") || p.hasVuln("separated_child") || p.hasRole("unaccompanied_child")
}

func ruleUAM(s *state) error {
	const id = "FLX-DP-UAM"
	if s.cfg.UnaccompaniedMinors.exempt(s.dst) {
		return nil
	}
	ps := persons(s.doc)
	var children []person
	var ptrs []string
	for _, p := range ps {
		if isUAM(p) && !verifiedFamily(s.doc, p.id) {
			children = append(children, p)
			ptrs = append(ptrs, s.whereabouts(p, true)...)
		}
	}
	if len(children) == 0 {
		return nil
	}
	for _, p := range ps {
		if p.hasRole("caregiver") && !isUAM(p) {
			for _, f := range []string{"names", "address", "contact", "last_known_location", "photo"} {
				if _, ok := p.m[f]; ok {
					ptrs = append(ptrs, p.ptr(f))
				}
			}
		}
	}
	if len(ptrs) > 0 {
		s.fire(id, RuleRedact, plural(children, "Person %s is an", "Persons %s are")+
			" unaccompanied or separated child and family links are not verified: current address, contact, photo and the caregiver's identity and whereabouts are withheld.", ptrs)
	}
	return nil
}

func ruleVulnerable(s *state) error {
	const id = "FLX-DP-VULNERABLE"
	if s.cfg.Vulnerable.exempt(s.dst) {
		return nil
	}
	var who []person
	var flags []string
	var ptrs []string
	for _, p := range persons(s.doc) {
		var mine []string
		for _, f := range s.cfg.Vulnerable.Flags {
			if p.hasVuln(f) {
				mine = append(mine, f)
			}
		}
		if len(mine) == 0 || verifiedFamily(s.doc, p.id) {
			continue
		}
		if w := s.whereabouts(p, false); len(w) > 0 {
			who = append(who, p)
			ptrs = append(ptrs, w...)
			for _, f := range mine {
				if !contains(flags, f) {
					flags = append(flags, f)
				}
			}
		}
	}
	if len(ptrs) > 0 {
		s.fire(id, RuleRedact, fmt.Sprintf("%s vulnerable (%s) and no relationship is verified yet: location and contact details are held back.",
			plural(who, "Person %s is", "Persons %s are"), strings.Join(flags, ", ")), ptrs)
	}
	return nil
}

func ruleDetention(s *state) error {
	const id = "FLX-DP-DETENTION"
	det, ok := s.doc["detention"]
	if !ok {
		return nil
	}
	c := s.cfg.Detention
	if contains(c.Roles, s.dst.Role) || contains(c.Members, s.dst.Member) {
		return nil
	}
	name := dstName(s.dst)
	dm := obj(det)
	if isTrue(dm["notification_agreed"]) {
		var ptrs []string
		keys := make([]string, 0, len(dm))
		for k := range dm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !contains(c.NoticeFields, k) {
				ptrs = append(ptrs, ptr("detention", k))
			}
		}
		if len(ptrs) > 0 {
			s.fire(id, RuleRedact, fmt.Sprintf("The detainee agreed that their family be notified: %s receives only the notice (%s); other detention details are withheld.",
				name, strings.Join(c.NoticeFields, ", ")), ptrs)
		}
		return nil
	}
	if str(s.doc["type"]) == "detention_notification" {
		s.fire(id, RuleDeny, fmt.Sprintf("The detainee has not agreed that their family be notified: this detention notification may go only to the ICRC or members under an access arrangement, not to %s.", name), nil)
		return nil
	}
	s.fire(id, RuleRedact, fmt.Sprintf("Detention details go only to the ICRC or members under an access arrangement: withheld from %s.", name), []string{"/detention"})
	return nil
}

func (s *state) allowedSensitive() []string {
	if l, ok := s.cfg.Sensitive.Members[s.dst.Member]; ok {
		return l
	}
	return s.cfg.Sensitive.Roles[s.dst.Role]
}

func ruleSensitive(s *state) error {
	const id = "FLX-DP-SENSITIVE"
	allowed := s.allowedSensitive()
	markers := strs(s.doc["sensitivity"])
	var ptrs, cats []string
	for _, p := range persons(s.doc) {
		sens, ok := p.m["sensitive"]
		if !ok {
			continue
		}
		sm := obj(sens)
		keys := make([]string, 0, len(sm))
		for k := range sm {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var drop []string
		for _, k := range keys {
			if !contains(allowed, k) || (s.cfg.Sensitive.RequireMarker && !contains(markers, k)) {
				drop = append(drop, k)
				if !contains(cats, k) {
					cats = append(cats, k)
				}
			}
		}
		if len(drop) == len(keys) {
			ptrs = append(ptrs, p.ptr("sensitive")) // nothing left: drop the object
			continue
		}
		for _, k := range drop {
			ptrs = append(ptrs, p.ptr("sensitive", k))
		}
	}
	if len(ptrs) > 0 {
		sort.Strings(cats)
		why := "not allowed for " + dstName(s.dst)
		if s.cfg.Sensitive.RequireMarker {
			why += " or not marked necessary for this case"
		}
		if len(cats) == 0 {
			cats = []string{"an empty sensitive record"}
		}
		s.fire(id, RuleRedact, fmt.Sprintf("Sensitive data (%s) is %s: it is removed.", strings.Join(cats, ", "), why), ptrs)
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
	}
	t := str(s.doc["type"])
	for i := range entries {
		if entries[i].matches(t, s.dst) {
			return &entries[i], required
		}
	}
	return nil, required
}

func ruleMinimise(s *state) error {
	const id = "FLX-DP-MINIMISE"
	e, required := s.minimiseEntry()
	var fields, pfields []string
	if e != nil {
		fields, pfields = e.Fields, e.PersonFields
	}
	var ptrs []string
	if !contains(fields, "*") {
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
	}
	if s.docKind == "case" && !contains(pfields, "*") {
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
	if len(ptrs) == 0 {
		return nil
	}
	what := s.docKind
	if s.docKind == "case" {
		what = str(s.doc["type"]) + " case"
	}
	how := "no allow-list matches, so only required fields travel"
	if e != nil {
		how = fmt.Sprintf("allow-list on line %d", e.Line)
		if e.Line == 0 {
			how = "default allow-list"
		}
	}
	s.fire(id, RuleRedact, fmt.Sprintf("Data minimisation: fields a %s (%s) does not need for a %s are removed (%s).",
		s.dst.Role, dstName(s.dst), what, how), ptrs)
	return nil
}

// riskCountries returns the countries that make the destination risky for
// this document.
func (s *state) riskCountries() []string {
	out := append([]string(nil), s.cfg.Risk.Countries...)
	if s.docKind == "case" {
		out = append(out, s.cfg.Risk.ByCaseType[str(s.doc["type"])]...)
		r := obj(s.doc["risk"])
		out = append(out, strs(r["feared_countries"])...)
		out = append(out, strs(r["parties_to_conflict"])...)
		for _, p := range persons(s.doc) {
			out = append(out, strs(p.m["feared_countries"])...)
		}
	}
	return out
}

// remainingData reports whether location or sensitive data will still be in
// the document after the redactions decided so far.
func (s *state) remainingData() (location, sensitive bool) {
	switch s.docKind {
	case "response":
		return s.present("/location") || s.present("/contact"), false
	case "message":
		return s.present("/from/address") || s.present("/to/address"), false
	}
	for _, p := range persons(s.doc) {
		for _, f := range whereaboutsFields {
			if s.present(p.ptr(f)) {
				location = true
			}
		}
		if sm := obj(p.m["sensitive"]); sm != nil {
			for k := range sm {
				if s.present(p.ptr("sensitive", k)) {
					sensitive = true
				}
			}
		}
	}
	if s.present("/detention") {
		sensitive = true
		if s.present("/detention/place") {
			location = true
		}
	}
	return location, sensitive
}

func ruleRiskCountry(s *state) error {
	const id = "FLX-DP-RISK-COUNTRY"
	c := s.dst.Country
	if c == "" || !contains(s.riskCountries(), c) {
		return nil
	}
	loc, sens := s.remainingData()
	if !loc && !sens {
		return nil
	}
	var data []string
	if loc {
		data = append(data, "location")
	}
	if sens {
		data = append(data, "sensitive")
	}
	what := strings.Join(data, " and ")
	if s.cfg.Risk.Action == RuleDeny {
		s.fire(id, RuleDeny, fmt.Sprintf("%s is a country a person in this case fears or a risk country, and the case carries %s data: it may not be sent there.", c, what), nil)
		return nil
	}
	s.fire(id, RuleNeedsReview, fmt.Sprintf("%s is a country a person in this case fears or a risk country, and the case carries %s data: an operator must review the transfer.", c, what), nil)
	return nil
}

func ruleReview(s *state) error {
	const id = "FLX-DP-REVIEW"
	r := s.cfg.Review
	var why []string
	if s.docKind == "case" && contains(r.CaseTypes, str(s.doc["type"])) {
		why = append(why, "case type "+str(s.doc["type"]))
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
	if len(r.Conditions) > 0 && s.docKind == "case" {
		loc, sens := s.remainingData()
		for _, cond := range r.Conditions {
			hit := false
			switch cond {
			case "sensitive_data":
				hit = sens
			case "location_data":
				hit = loc
			case "detention":
				hit = s.present("/detention")
			case "minor", "unaccompanied_minor", "vulnerable":
				for _, p := range persons(s.doc) {
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
