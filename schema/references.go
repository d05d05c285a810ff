package schema

import (
	"fmt"
	"strings"
)

// KeywordReference is the keyword of violations reported by CheckReferences.
const KeywordReference = "reference"

// CheckReferences reports what JSON Schema cannot express about a case:
// person ids that repeat, references to person ids that the case does not
// hold (consents' given_by and on_behalf_of, guardians, relationships,
// legal_basis.applies_to), consent ids that repeat, a case id whose member
// part is not the origin member, and age ranges with min above max.
//
// It is not part of [Validate]: a peer's document may legitimately have been
// minimised (persons dropped) before it was sent. Use it where a case is
// created or edited (the node's local API).
func CheckReferences(c *Case) []Violation {
	var out []Violation
	add := func(ptr, msg string) {
		out = append(out, Violation{Pointer: ptr, Keyword: KeywordReference, Message: msg})
	}
	ids := make(map[string]bool, len(c.Persons))
	for i, p := range c.Persons {
		if ids[p.ID] {
			add(fmt.Sprintf("/persons/%d/id", i), "duplicate person id")
		}
		ids[p.ID] = true
	}
	ref := func(ptr, id string) {
		if id != "" && !ids[id] {
			add(ptr, "no person with this id in the case")
		}
	}
	if member, _, ok := strings.Cut(c.CaseID, ":"); ok && member != c.Origin.Member {
		add("/case_id", "member part of the case id is not origin.member")
	}
	consentIDs := map[string]bool{}
	for i, cs := range c.Consents {
		if consentIDs[cs.ID] {
			add(fmt.Sprintf("/consents/%d/id", i), "duplicate consent id")
		}
		consentIDs[cs.ID] = true
		ref(fmt.Sprintf("/consents/%d/given_by", i), cs.GivenBy)
		ref(fmt.Sprintf("/consents/%d/on_behalf_of", i), cs.OnBehalfOf)
	}
	if c.LegalBasis != nil {
		for i, id := range c.LegalBasis.AppliesTo {
			ref(fmt.Sprintf("/legal_basis/applies_to/%d", i), id)
		}
	}
	for i, p := range c.Persons {
		if p.Guardian != "" {
			ref(fmt.Sprintf("/persons/%d/guardian", i), p.Guardian)
			if p.Guardian == p.ID {
				add(fmt.Sprintf("/persons/%d/guardian", i), "a person cannot be their own guardian")
			}
		}
		if a := p.Age; a != nil && a.Min != nil && a.Max != nil && *a.Min > *a.Max {
			add(fmt.Sprintf("/persons/%d/age", i), "age min is above max")
		}
	}
	for i, r := range c.Relationships {
		ref(fmt.Sprintf("/relationships/%d/from", i), r.From)
		ref(fmt.Sprintf("/relationships/%d/to", i), r.To)
	}
	return normalize(out)
}

// Person returns the person of c with the given id, or nil.
func (c *Case) Person(id string) *Person {
	for i := range c.Persons {
		if c.Persons[i].ID == id {
			return &c.Persons[i]
		}
	}
	return nil
}

// PersonsWithRole returns the persons of c that have role r.
func (c *Case) PersonsWithRole(r PersonRole) []*Person {
	var out []*Person
	for i := range c.Persons {
		if c.Persons[i].HasRole(r) {
			out = append(out, &c.Persons[i])
		}
	}
	return out
}
