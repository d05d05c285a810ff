package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/schema"
)

// commonGivenIndex holds, besides the person target, many persons sharing
// a given name whose family names start with the letter of target's, so
// that the block of the given name with that letter grows past
// DefaultRefineFrom.
func commonGivenIndex(t *testing.T, opts Options, target *Person) *Index {
	t.Helper()
	r := rand.New(rand.NewPCG(41, 7))
	syl := []string{"ra", "mo", "ti", "sun", "be", "lo", "da", "vek", "ni", "gu", "zo", "fa"}
	ix := NewIndex(opts)
	ix.Put(target.CaseID, []*Person{target})
	for i := range 700 {
		var sb strings.Builder
		sb.WriteString("Ke")
		for k := 1 + r.IntN(3); k > 0; k-- {
			sb.WriteString(syl[r.IntN(len(syl))])
		}
		p := pers{caseID: fmt.Sprintf("DN-%04d", i), names: parts("Vadomir", sb.String()+"ovan"), sex: schema.SexMale,
			birth: schema.PartialDate(fmt.Sprintf("%04d-%02d-%02d", 1940+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28)))}.prepare(t)
		ix.Put(p.CaseID, []*Person{p})
	}
	return ix
}

// TestRefinedBlockKeepsTypos: a person whose given name many persons
// share, and whose family name carries one typing error (a letter
// replaced, dropped, added, two swapped, anywhere past the first, or
// other vowels), is still found once the block of the given name with
// the family name's first letter is read through its finer blocks, and
// matching compares far fewer persons than the block holds.
func TestRefinedBlockKeepsTypos(t *testing.T) {
	target := pers{caseID: "DN-T", names: parts("Vadomir", "Kelastrovan"), birth: "1990-03-14", sex: schema.SexMale, place: "Sampleville"}.prepare(t)
	ix := commonGivenIndex(t, Options{}, target)
	whole := commonGivenIndex(t, Options{RefineFrom: -1}, target)
	for _, family := range []string{"Kelastrovan", "Kilastrovan", "Kelostrovan", "Kelsatrovan", "Kelastrvan",
		"Keplastrovan", "Kelaztrovan", "Kealstrovan", "Kelastrovian", "Kelastrovam"} {
		q := pers{caseID: "TR-1", names: parts("Vadomir", family), birth: "1990-03-14", sex: schema.SexMale, place: "Sampleville"}.prepare(t)
		for _, tc := range []struct {
			name string
			ix   *Index
		}{{"refined", ix}, {"whole", whole}} {
			got := tc.ix.Match(q)
			if !slices.ContainsFunc(got, func(c Candidate) bool { return c.B == target.Ref || c.A == target.Ref }) {
				t.Errorf("%s: Vadomir %s does not find Vadomir Kelastrovan: %+v", tc.name, family, got)
			}
		}
		sc := &scratch{}
		ix.mu.RLock()
		read := len(ix.candidatesLocked(q, sc))
		ix.mu.RUnlock()
		whole.mu.RLock()
		all := len(whole.candidatesLocked(q, sc))
		whole.mu.RUnlock()
		if all < 700 || read > all/5 {
			t.Errorf("Vadomir %s: %d persons compared through the finer blocks, %d through the block", family, read, all)
		}
	}
	// Erasure leaves nothing of the finer blocks either.
	ix.Remove(target.CaseID)
	for i := range 700 {
		ix.Remove(fmt.Sprintf("XA-RC:DN-%04d", i))
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.blocks) != 0 || len(ix.refined) != 0 || len(ix.fine) != 0 || len(ix.fineOne) != 0 {
		t.Errorf("empty index holds %d blocks, %d refined, %d finer blocks", len(ix.blocks), len(ix.refined), len(ix.fine)+len(ix.fineOne))
	}
}

// TestFineKeysUnderKeys: the finer keys of every person of the corpus
// fall under its own name-pair keys, and every name-pair key has some.
func TestFineKeysUnderKeys(t *testing.T) {
	c := corpus.Generate(corpus.Config{Seed: 5, Sought: 500, Registered: 500, Overlap: 0.5})
	sought, reg, _ := prepared(t, c)
	for _, p := range append(sought, reg...) {
		under := map[string]bool{}
		eachFineKey(p, func([]byte) bool { return true }, func(f []byte) {
			k, _, ok := strings.Cut(string(f), "/")
			if !ok || !slices.Contains(p.keys, k) {
				t.Fatalf("%v: finer key %q under no key of the person (%v)", p.Ref, f, p.keys)
			}
			under[k] = true
		})
		for _, k := range p.keys {
			if refinable(k) && !under[k] {
				t.Fatalf("%v: key %q has no finer key", p.Ref, k)
			}
		}
	}
}
