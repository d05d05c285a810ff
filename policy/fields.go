package policy

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"sort"
	"sync"

	"github.com/familylinks/flx/schema"
)

// Vocabulary of schema v1 (CONTRACT.md). The rules file is checked against it
// on load so that a typo is an error instead of a silently ignored rule.

var (
	caseTypes = []string{
		"tracing_request", "detention_notification", "unaccompanied_minor_registration",
		"death_notification", "reunification_request", "fate_clarification", "safe_and_well",
	}
	destinationRoles  = []string{"society", "delegation", "coordinator", "non_movement"}
	legalBasisTypes   = []string{"consent", "vital_interest", "humanitarian_mandate", "other_documented"}
	sensitiveCats     = []string{"ethnicity", "religion", "political_opinion", "health", "biometrics", "sgbv"}
	vulnerabilityTags = []string{
		"unaccompanied_minor", "separated_child", "minor", "elderly_alone", "woman_at_risk",
		"foreigner_without_representation", "disability", "medical_condition", "detainee",
	}
	envelopeKinds    = []string{"case.create", "case.update", "case.response", "message.deliver", "case.withdraw"}
	reviewConditions = []string{
		"sensitive_data", "location_data", "detention", "minor", "unaccompanied_minor", "vulnerable",
	}
	detentionFields = []string{"place", "authority", "detained_since", "status", "notification_agreed"}

	// Top-level fields of each document kind. Used to check minimisation
	// allow-lists and custom rules; fields added to schema v1 later are
	// picked up from the schema package's Go types (see knownFields).
	caseFields = []string{
		"schema", "case_id", "version", "type", "status", "origin", "updated_at", "purpose",
		"legal_basis", "consents", "retention_until", "persons", "relationships", "separation",
		"detention", "death", "best_interest_assessment", "risk", "sensitivity", "notes", "superseded",
	}
	personFields = []string{
		"id", "roles", "names", "sex", "birth_date", "age", "place_of_birth", "nationalities",
		"address", "last_known_location", "contact", "photo", "vulnerabilities", "sensitive",
		"contact_preference", "guardian", "feared_countries",
	}
	responseFields = []string{
		"schema", "case_id", "responder", "outcome", "responded_at", "in_reply_to_version",
		"sought_person", "location", "contact", "message", "notes",
	}
	messageFields = []string{
		"schema", "message_id", "case_id", "kind", "channel", "created_at", "from", "to", "body",
		"reply_to", "review", "delivery", "call", "media",
	}
	withdrawalFields = []string{"schema", "case_id", "reason", "withdrawn_at", "person_ids", "erase", "note"}

	// Fields that schema v1 requires: never removable. Message body and media
	// are required for some message kinds, so minimisation never removes them
	// either.
	requiredCase     = []string{"schema", "case_id", "version", "type", "status", "origin", "purpose", "persons"}
	requiredPerson   = []string{"id"}
	requiredResponse = []string{"schema", "case_id", "responder", "outcome", "responded_at"}
	requiredMessage  = []string{"schema", "message_id", "case_id", "kind", "channel", "created_at", "body", "media"}
	requiredWithdraw = []string{"schema", "case_id", "reason", "withdrawn_at"}

	// Person fields that tell where someone is or how to reach them.
	whereaboutsFields = []string{"address", "contact", "last_known_location"}
)

var (
	reMember  = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)
	reCountry = regexp.MustCompile(`^[A-Z]{2}$`)
	rePurpose = regexp.MustCompile(`^[a-z][a-z_]{1,63}$`)
	reUseTok  = regexp.MustCompile(`^[a-z][a-z_]{1,63}$`)
	reRuleID  = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+){1,8}$`)
)

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func setOf(list ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range list {
		for _, s := range l {
			m[s] = true
		}
	}
	return m
}

// knownFields returns the top-level field names of a document kind ("case",
// "person", "response", "message", "withdrawal"): the contract's fields plus
// any optional field schema v1's files add.
func knownFields(kind string) []string { return schemaFields()[kind] }

var schemaFields = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{
		"case": caseFields, "person": personFields, "response": responseFields,
		"message": messageFields, "withdrawal": withdrawalFields,
	}
	files := schema.Files()
	add := func(kind string, props map[string]json.RawMessage) {
		for name := range props {
			if !contains(out[kind], name) {
				out[kind] = append(out[kind][:len(out[kind]):len(out[kind])], name)
			}
		}
		sort.Strings(out[kind])
	}
	for _, kind := range []string{"case", "response", "message", "withdrawal"} {
		var doc struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if b, err := fs.ReadFile(files, kind+".json"); err == nil && json.Unmarshal(b, &doc) == nil {
			add(kind, doc.Properties)
		}
	}
	var defs struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if b, err := fs.ReadFile(files, "defs.json"); err == nil && json.Unmarshal(b, &defs) == nil {
		add("person", defs.Defs["person"].Properties)
	}
	return out
})
