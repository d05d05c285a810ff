package schema

import (
	"slices"
	"testing"
)

func TestCheckReferencesExamples(t *testing.T) {
	for _, e := range Examples() {
		if e.Kind != KindCase {
			continue
		}
		c, err := ParseCase(e.Doc)
		if err != nil {
			t.Fatal(err)
		}
		if vs := CheckReferences(c); len(vs) != 0 {
			t.Errorf("%s: %v", e.Name, vs)
		}
	}
}

func TestCheckReferences(t *testing.T) {
	three, two := 3, 2
	base := func() *Case {
		return &Case{
			CaseID: "XA-RC:1", Origin: Origin{Member: "XA-RC"},
			Persons: []Person{{ID: "p1"}, {ID: "p2"}},
		}
	}
	tests := []struct {
		name   string
		modify func(c *Case)
		want   []string
	}{
		{"clean", func(c *Case) {}, nil},
		{"duplicate person", func(c *Case) { c.Persons = append(c.Persons, Person{ID: "p1"}) }, []string{"/persons/2/id"}},
		{"case id member", func(c *Case) { c.CaseID = "XB-RC:1" }, []string{"/case_id"}},
		{"consent refs", func(c *Case) {
			c.Consents = []Consent{{ID: "c1", GivenBy: "p9", OnBehalfOf: "p2"}, {ID: "c1", GivenBy: "p1", OnBehalfOf: "px"}}
		}, []string{"/consents/0/given_by", "/consents/1/id", "/consents/1/on_behalf_of"}},
		{"guardian", func(c *Case) { c.Persons[0].Guardian = "p1"; c.Persons[1].Guardian = "g9" },
			[]string{"/persons/0/guardian", "/persons/1/guardian"}},
		{"age", func(c *Case) { c.Persons[1].Age = &Age{Min: &three, Max: &two} }, []string{"/persons/1/age"}},
		{"relationships", func(c *Case) {
			c.Relationships = []Relationship{{From: "p1", To: "p2", Type: "father"}, {From: "p3", To: "p1", Type: "mother"}}
		}, []string{"/relationships/1/from"}},
		{"legal basis", func(c *Case) { c.LegalBasis = &LegalBasis{Type: BasisVitalInterest, AppliesTo: []string{"p2", "p7"}} },
			[]string{"/legal_basis/applies_to/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.modify(c)
			var got []string
			for _, v := range CheckReferences(c) {
				if v.Keyword != KeywordReference || v.Message == "" {
					t.Errorf("bad violation %+v", v)
				}
				got = append(got, v.Pointer)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pointers = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCaseHelpers(t *testing.T) {
	ex, ok := ExampleNamed("case.unaccompanied_minor_registration")
	if !ok {
		t.Fatal("example missing")
	}
	c, err := ParseCase(ex.Doc)
	if err != nil {
		t.Fatal(err)
	}
	child := c.Person("c1")
	if child == nil || !child.HasRole(PersonUnaccompaniedChild) || !child.HasVulnerability(VulnUnaccompaniedMinor) || child.HasRole(PersonEnquirer) {
		t.Errorf("Person(c1) = %+v", child)
	}
	if c.Person("nobody") != nil {
		t.Error("Person(nobody) != nil")
	}
	sought := c.PersonsWithRole(PersonSought)
	if len(sought) != 1 || sought[0].ID != "m1" {
		t.Errorf("PersonsWithRole(sought_person) = %v", sought)
	}
	sought[0].Sex = SexOther // pointers into the case
	if c.Persons[2].Sex != SexOther {
		t.Error("PersonsWithRole does not return pointers into the case")
	}
	if c.Consents[0].Withdrawn() || c.Consents[0].Capacity != CapacityGuardian {
		t.Errorf("consent = %+v", c.Consents[0])
	}
	if _, ok := ExampleNamed("../doc"); ok {
		t.Error("ExampleNamed accepted a path")
	}
	if _, ok := ExampleNamed("case.nope"); ok {
		t.Error("ExampleNamed found a missing example")
	}
}
