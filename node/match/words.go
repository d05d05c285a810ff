package match

import (
	"math"

	"github.com/familylinks/flx/node/names"
)

// agreement is how two words of names agree, best first. The levels are
// the ones a Fellegi-Sunter model tells apart: an agreement on the
// skeleton is about as rare by chance as the word itself (a population
// counts words by skeleton), one typing error apart is rarer for a true
// match and commoner by chance, and a word that is merely close by
// Jaro-Winkler is, among the pairs blocking brings together, as often
// another name as the same one.
type agreement uint8

const (
	agreeSame     agreement = iota // the same phonetic form
	agreeSkeleton                  // the same consonants (vowels or an h differ)
	agreeEdit                      // one typing error apart
	agreeFair                      // Jaro-Winkler at least tokFair
	agreeWeak                      // Jaro-Winkler at least tokNo
	agreeNone                      // another word
)

var agreementNames = [...]string{"same", "skeleton", "edit", "fair", "weak", "none"}

func (g agreement) String() string { return agreementNames[g] }

// Word weights, in bits. A word agreeing the same way weighs log2(mWord /
// u), u the share of the population holding the word (by skeleton),
// clamped to [wWordMin, wWordMax]; a skeleton agreement loses
// skeletonPenalty bits and one edit editPenalty bits of that. The levels
// below an edit weigh the same whatever the word.
const (
	mWord           = 0.9
	wWordMin        = 1.0
	wWordMax        = 15.0
	skeletonPenalty = 3.0
	editPenalty     = 5.0
	// abjadSkeletonRelief is taken off skeletonPenalty when a word was
	// written without short vowels: its skeleton agreeing is as good as
	// it gets.
	abjadSkeletonRelief = 2.5
	wWordFair           = -1.0
	wWordWeak           = -3.0
	wWordNone           = -6.0
)

// Jaro-Winkler thresholds for words.
const (
	tokFair = 0.84
	tokNo   = 0.75
)

// wordCap is the weight of an exact agreement on a word that count of
// size persons hold.
func wordCap(count int32, size float64) float64 {
	w := math.Log2(mWord * size / float64(max(count, 1)))
	return min(max(w, wWordMin), wWordMax)
}

// wordWeight is the weight of an agreement on a word whose exact
// agreement weighs capW, adjusted by extra (see compareWords).
func wordWeight(g agreement, capW, extra float64) float64 {
	switch g {
	case agreeSame:
		return capW
	case agreeSkeleton:
		return capW - skeletonPenalty + extra
	case agreeEdit:
		return capW - editPenalty - extra
	case agreeFair:
		return wWordFair
	case agreeWeak:
		return wWordWeak
	}
	return wWordNone
}

// compareWords grades two words and returns their Jaro-Winkler similarity
// (on the phonetic forms, or on the skeletons when either word was
// written without short vowels, a little lower: the skeleton says less),
// and how much the grade's penalty is adjusted for this pair: more for a
// short word one edit off, less for a skeleton agreement of a word
// written without vowels. Second readings (AltPhonetic, AltSkeleton) count
// as the word.
func compareWords(a, b *names.Token) (g agreement, jw float64, extra float64) {
	abjad := a.Abjad || b.Abjad
	pa, pb := [2]string{a.Phonetic, a.AltPhonetic}, [2]string{b.Phonetic, b.AltPhonetic}
	sa, sb := [2]string{a.Skeleton, a.AltSkeleton}, [2]string{b.Skeleton, b.AltSkeleton}
	for _, x := range pa {
		for _, y := range pb {
			if x != "" && sameString(x, y) {
				if abjad {
					// The same letters, short vowels unwritten: as good
					// as a skeleton agreement gets.
					return agreeSkeleton, 0.97, abjadSkeletonRelief
				}
				return agreeSame, 1, 0
			}
		}
	}
	skeleton := false
	for _, x := range sa {
		for _, y := range sb {
			if len(x) >= 2 && len(y) >= 2 && equalButH(x, y) {
				skeleton = true
			}
		}
	}
	forms := func(x, y [2]string, scale float64) {
		for _, u := range x {
			for _, v := range y {
				if u != "" && v != "" {
					jw = max(jw, scale*jaroWinkler(u, v))
				}
			}
		}
	}
	if abjad {
		forms(sa, sb, 0.97)
	} else {
		forms(pa, pb, 1)
	}
	if skeleton && abjad {
		// Written without vowels, the skeleton is all there is.
		return agreeSkeleton, jw, abjadSkeletonRelief
	}
	if skeleton && jw >= tokFair {
		// The same consonants with other vowels: one name written two
		// ways, unless the vowels make another word of it (Atash and
		// Tushuy share t, sh).
		return agreeSkeleton, jw, 0
	}
	// One typing error in a short word makes another name more often
	// than in a long one: the penalty grows as the word shortens.
	edit := 0
	if abjad {
		edit = oneEditAny(sa, sb, 3) + 1 // three consonants are a word of five letters or so
	} else {
		edit = oneEditAny(pa, pb, 4)
		// A typing error in a Latin spelling (Kudaash for Kudasah) may
		// change two sounds: the Latin forms then are one edit apart.
		if l := min(len(a.Latin), len(b.Latin)); edit == 0 && l >= 4 && oneEdit(a.Latin, b.Latin) {
			edit = min(l, len(a.Phonetic), len(b.Phonetic))
		}
	}
	switch {
	case edit > 1:
		return agreeEdit, jw, float64(max(6-edit, 0))
	case jw >= tokFair:
		return agreeFair, jw, 0
	case jw >= tokNo:
		return agreeWeak, jw, 0
	}
	return agreeNone, jw, 0
}

// coarseExtra is what a coarse agreement (coarseAgree) loses beyond
// editPenalty.
const coarseExtra = 3.0

// coarseAgree reports whether two words share a coarse form of two
// letters or more (see coarseForms).
func coarseAgree(a, b []string) bool {
	for _, x := range a {
		if len(x) < 2 {
			continue
		}
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// equalButH reports whether two skeletons are equal once a leading h is
// dropped from either (an initial h that one transliteration writes and
// another drops: Hovsep, Ovsep; Hasan, Asan).
func equalButH(x, y string) bool {
	if sameString(x, y) {
		return true
	}
	if len(x) > 2 && x[0] == 'h' && sameString(x[1:], y) {
		return true
	}
	return len(y) > 2 && y[0] == 'h' && sameString(y[1:], x)
}

// sameString is x == y, most unequal pairs told apart by their length or
// their first letter without a call (the hottest comparison of matching).
func sameString(x, y string) bool {
	return len(x) == len(y) && (len(x) == 0 || x[0] == y[0] && x[len(x)-1] == y[len(y)-1] && x == y)
}

// oneEditAny returns the length of the shorter of the two forms, of at
// least minLen letters, found one edit apart, or 0.
func oneEditAny(x, y [2]string, minLen int) int {
	n := 0
	for _, u := range x {
		for _, v := range y {
			if l := min(len(u), len(v)); l >= minLen && l > n && oneEdit(u, v) {
				n = l
			}
		}
	}
	return n
}

// oneEdit reports whether x and y are at most one typing error apart: a
// letter inserted, dropped or replaced, or two neighbours swapped.
func oneEdit(x, y string) bool {
	if len(x) > len(y) {
		x, y = y, x
	}
	if len(y)-len(x) > 1 {
		return false
	}
	i := 0
	for i < len(x) && x[i] == y[i] {
		i++
	}
	if i == len(x) {
		return true // equal, or y has one letter more at the end
	}
	if len(x) == len(y) {
		if x[i+1:] == y[i+1:] {
			return true // replaced
		}
		return i+1 < len(x) && x[i] == y[i+1] && x[i+1] == y[i] && x[i+2:] == y[i+2:] // swapped
	}
	return x[i:] == y[i+1:] // inserted
}
