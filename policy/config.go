package policy

import "fmt"

// RulesSchema is the value of the schema field of a rules file.
const RulesSchema = "flx/policy/v1"

// Config is a Society's data-protection settings, as read from its rules
// file. Every field has a strict default (see defaultConfig and
// example-rules.yaml, which must agree); a section or field that is absent
// from the file keeps its default, and a list or map that is present
// replaces the default entirely.
type Config struct {
	Schema  string `json:"schema"`
	Version string `json:"version"`
	Member  string `json:"member"`
	Country string `json:"country"`

	Purposes            PurposesConfig    `json:"purposes"`
	LegalBasis          LegalBasisConfig  `json:"legal_basis"`
	Consent             ConsentConfig     `json:"consent"`
	Minors              MinorsConfig      `json:"minors"`
	Risk                RiskConfig        `json:"risk"`
	Destinations        DestinationConfig `json:"destinations"`
	Sensitive           SensitiveConfig   `json:"sensitive"`
	Detention           DetentionConfig   `json:"detention"`
	NonMovement         NonMovementConfig `json:"non_movement"`
	UnaccompaniedMinors ExemptConfig      `json:"unaccompanied_minors"`
	Vulnerable          VulnerableConfig  `json:"vulnerable"`
	Minimise            MinimiseConfig    `json:"minimise"`
	Retention           RetentionConfig   `json:"retention"`
	Review              ReviewConfig      `json:"review"`
	Custom              []CustomRule      `json:"custom"`
}

// PurposesConfig lists the purposes a case may be sent for.
type PurposesConfig struct {
	Allowed   []string `json:"allowed"`
	Forbidden []string `json:"forbidden"`
}

// LegalBasisConfig says which legal bases are accepted for a transfer.
type LegalBasisConfig struct {
	Accepted []string `json:"accepted"`
	// RequireDocumentation: a basis other than consent needs a
	// justification, documented_by and documented_at.
	RequireDocumentation bool `json:"require_documentation"`
}

// ConsentConfig says what a consent's scope must cover.
type ConsentConfig struct {
	RequiredUses []string `json:"required_uses"`
	// PurposeInUses: the case purpose must also be one of the scope's uses.
	PurposeInUses bool `json:"purpose_in_uses"`
}

// MinorsConfig sets the age below which guardian consent or a best-interest
// assessment is needed.
type MinorsConfig struct {
	Age                    int  `json:"age"`
	BestInterestSufficient bool `json:"best_interest_assessment_suffices"`
	// DocumentedBasisSufficient: a child covered by a documented
	// non-consent legal basis (named in applies_to, or applies_to absent and
	// no consent given by or for the child) needs no guardian consent.
	DocumentedBasisSufficient bool `json:"documented_basis_suffices"`
}

// RiskConfig lists countries the Society considers risky for every case or
// per case type (with the parties to the conflict a case names: Action);
// the countries a case's people fear are always checked too (FearedAction).
type RiskConfig struct {
	Countries  []string            `json:"countries"`
	ByCaseType map[string][]string `json:"by_case_type"`
	Action     string              `json:"action"` // needs_review | deny
	// FearedAction applies when a person in the case fears the
	// destination's country: needs_review | deny.
	FearedAction string `json:"feared_action"`
}

// DestinationConfig lists which case types each destination role, or a
// named member (overriding its role), may receive.
type DestinationConfig struct {
	Roles   map[string][]string `json:"roles"`
	Members map[string][]string `json:"members"`
}

// SensitiveConfig lists which sensitive categories each destination role, or
// a named member (overriding its role), may receive.
type SensitiveConfig struct {
	// RequireMarker: a category also travels only when the case's
	// sensitivity markers say it is necessary for the case.
	RequireMarker bool                `json:"require_marker"`
	Roles         map[string][]string `json:"roles"`
	Members       map[string][]string `json:"members"`
}

// DetentionConfig names who may receive detention details (the ICRC and
// members under an access arrangement) and what a family's Society gets.
type DetentionConfig struct {
	Roles        []string `json:"roles"`
	Members      []string `json:"members"`
	NoticeFields []string `json:"notice_fields"`
}

// NonMovementConfig governs recipients outside the Movement.
type NonMovementConfig struct {
	Allow                 bool `json:"allow"`
	RequireRiskAssessment bool `json:"require_risk_assessment"`
}

// ExemptConfig names destinations a protective rule does not apply to.
type ExemptConfig struct {
	ExemptRoles   []string `json:"exempt_roles"`
	ExemptMembers []string `json:"exempt_members"`
}

func (e ExemptConfig) exempt(d Destination) bool {
	return contains(e.ExemptRoles, d.Role) || contains(e.ExemptMembers, d.Member)
}

// VulnerableConfig lists the vulnerability flags whose holders' location is
// held back until a relationship is verified.
type VulnerableConfig struct {
	Flags []string `json:"flags"`
	// Minors: children (by age or flag) are treated as vulnerable too.
	Minors bool `json:"minors"`
	ExemptConfig
}

// MinimiseConfig holds the field allow-lists, per document kind. Within a
// kind the first entry that matches the case type and destination applies;
// when none matches only required fields travel.
type MinimiseConfig struct {
	Case       []MinimiseEntry `json:"case"`
	Response   []MinimiseEntry `json:"response"`
	Message    []MinimiseEntry `json:"message"`
	Withdrawal []MinimiseEntry `json:"withdrawal"`
}

// MinimiseEntry is one allow-list. "*" in case_types or roles matches
// every case type or role; fields and person_fields name every field that
// travels ("*" is refused there).
type MinimiseEntry struct {
	CaseTypes    []string `json:"case_types,omitempty"`
	Roles        []string `json:"roles"`
	Members      []string `json:"members,omitempty"`
	Fields       []string `json:"fields"`
	PersonFields []string `json:"person_fields,omitempty"`
	Line         int      `json:"-"`
}

func (m MinimiseEntry) matches(caseType string, d Destination) bool {
	if len(m.CaseTypes) > 0 && !contains(m.CaseTypes, "*") && !contains(m.CaseTypes, caseType) {
		return false
	}
	if !contains(m.Roles, "*") && !contains(m.Roles, d.Role) {
		return false
	}
	if len(m.Members) > 0 && !contains(m.Members, d.Member) {
		return false
	}
	return true
}

// RetentionConfig gives the retention period used when a case has no
// retention_until: counted from origin.created_at.
type RetentionConfig struct {
	Default    Period            `json:"default"`
	ByCaseType map[string]Period `json:"by_case_type"`
}

// Period is a retention period written as "<n>y", "<n>m" or "<n>d".
type Period struct {
	Years, Months, Days int
}

func (p Period) String() string {
	switch {
	case p.Years > 0:
		return fmt.Sprintf("%dy", p.Years)
	case p.Months > 0:
		return fmt.Sprintf("%dm", p.Months)
	default:
		return fmt.Sprintf("%dd", p.Days)
	}
}

// MarshalText makes a Period print as written in the rules file.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// IsZero reports whether no period is set.
func (p Period) IsZero() bool { return p.Years == 0 && p.Months == 0 && p.Days == 0 }

// ReviewConfig lists the manual-review triggers: when one matches, the
// forward is held (needs_review) until an operator approves or rejects it.
type ReviewConfig struct {
	CaseTypes            []string `json:"case_types"`
	DestinationRoles     []string `json:"destination_roles"`
	DestinationMembers   []string `json:"destination_members"`
	DestinationCountries []string `json:"destination_countries"`
	Conditions           []string `json:"conditions"`
}

// CustomRule is a Society's own rule: a CEL expression over case,
// destination, source, kind and now.
type CustomRule struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Kinds       []string `json:"kinds"`
	When        string   `json:"when"`
	Effect      string   `json:"effect"` // deny | needs_review | redact
	Redact      []string `json:"redact,omitempty"`
	Reason      string   `json:"reason"`
	Line        int      `json:"-"`

	whenLine, whenColumn int // position of the when expression, for errors
}

// defaultConfig is the strict default. example-rules.yaml spells out the
// same values (a test keeps them in step).
func defaultConfig() Config {
	all := append([]string(nil), caseTypes...)
	return Config{
		Schema: RulesSchema,
		Purposes: PurposesConfig{
			Allowed: []string{"tracing", "family_reunification", "family_news", "fate_clarification",
				"detention_visit", "child_protection"},
			Forbidden: []string{"law_enforcement", "immigration_enforcement", "genealogy", "inheritance"},
		},
		LegalBasis: LegalBasisConfig{
			Accepted:             []string{"consent", "vital_interest", "humanitarian_mandate"},
			RequireDocumentation: true,
		},
		Consent: ConsentConfig{RequiredUses: []string{"transfer"}, PurposeInUses: false},
		Minors:  MinorsConfig{Age: 18, BestInterestSufficient: true, DocumentedBasisSufficient: true},
		Risk: RiskConfig{Countries: []string{}, ByCaseType: map[string][]string{}, Action: RuleNeedsReview,
			FearedAction: RuleDeny},
		Destinations: DestinationConfig{
			Roles: map[string][]string{
				"society": all, "delegation": all, "coordinator": all, "non_movement": {},
			},
			Members: map[string][]string{},
		},
		Sensitive: SensitiveConfig{RequireMarker: true, Roles: map[string][]string{}, Members: map[string][]string{}},
		Detention: DetentionConfig{
			Roles: []string{"coordinator"}, Members: []string{},
			NoticeFields: []string{"place", "notification_agreed"},
		},
		NonMovement:         NonMovementConfig{Allow: false, RequireRiskAssessment: true},
		UnaccompaniedMinors: ExemptConfig{ExemptRoles: []string{}, ExemptMembers: []string{}},
		Vulnerable: VulnerableConfig{
			Flags:        []string{"elderly_alone", "woman_at_risk", "foreigner_without_representation"},
			Minors:       true,
			ExemptConfig: ExemptConfig{ExemptRoles: []string{}, ExemptMembers: []string{}},
		},
		Minimise: MinimiseConfig{
			Case: []MinimiseEntry{
				{
					CaseTypes: []string{"*"}, Roles: []string{"society", "delegation", "coordinator"},
					Fields: []string{"schema", "case_id", "version", "type", "status", "origin", "updated_at",
						"purpose", "legal_basis", "consents", "retention_until", "persons", "relationships",
						"separation", "detention", "death", "best_interest_assessment", "risk", "sensitivity",
						"superseded"},
					PersonFields: []string{"id", "roles", "names", "sex", "birth_date", "age", "place_of_birth",
						"nationalities", "address", "last_known_location", "contact", "photo", "vulnerabilities",
						"sensitive", "contact_preference", "guardian", "feared_countries"},
				},
				{
					CaseTypes: []string{"*"}, Roles: []string{"non_movement"},
					Fields:       []string{"schema", "case_id", "version", "type", "status", "origin", "purpose", "persons"},
					PersonFields: []string{"id", "roles", "names", "sex", "birth_date", "age"},
				},
			},
			Response: []MinimiseEntry{
				{Roles: []string{"society", "delegation", "coordinator"}, Fields: []string{"schema", "case_id", "responder", "outcome",
					"responded_at", "in_reply_to_version", "sought_person", "location", "contact", "message"}},
				{Roles: []string{"non_movement"}, Fields: []string{"schema", "case_id", "responder", "outcome", "responded_at"}},
			},
			Message: []MinimiseEntry{
				{Roles: []string{"society", "delegation", "coordinator"}, Fields: []string{"schema", "message_id", "case_id", "kind",
					"channel", "created_at", "from", "to", "body", "lang", "reply_to", "review", "delivery", "call", "media"}},
				{Roles: []string{"non_movement"}, Fields: []string{"schema", "message_id", "case_id", "kind", "channel", "created_at", "body", "media"}},
			},
			Withdrawal: []MinimiseEntry{
				{Roles: []string{"*"}, Fields: []string{"schema", "case_id", "reason", "withdrawn_at", "person_ids", "consent_ids",
					"erase", "confirms", "erased_at"}},
			},
		},
		Retention: RetentionConfig{Default: Period{Years: 25}, ByCaseType: map[string]Period{}},
		Review: ReviewConfig{
			CaseTypes: []string{}, DestinationRoles: []string{"non_movement"}, DestinationMembers: []string{},
			DestinationCountries: []string{}, Conditions: []string{},
		},
		Custom: []CustomRule{},
	}
}
