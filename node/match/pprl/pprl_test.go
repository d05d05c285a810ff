package pprl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/schema"
)

var (
	now    = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	exp    = now.Add(30 * 24 * time.Hour)
	secret = Secret{ID: "fed-2024-1", Key: bytes.Repeat([]byte{7}, 32)}
)

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func person(t testing.TB, names ...string) *match.Person {
	t.Helper()
	p := schema.Person{ID: "p1", Roles: []schema.PersonRole{schema.PersonSought}, Sex: schema.SexMale, BirthDate: "1986"}
	for _, n := range names {
		p.Names = append(p.Names, schema.Name{Value: n, Part: schema.PartFull})
	}
	m, ok := match.Prepare("XA-RC:1", schema.CaseTracingRequest, &p, now)
	if !ok {
		t.Fatal("not prepared")
	}
	return m
}

func encode(t testing.TB, p *match.Person, s Secret, seed uint64) *Encoding {
	t.Helper()
	e, err := Encode(p, s, DefaultParams, exp, seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire form, as a peer receives it.
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b, now)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDiceAcrossScripts(t *testing.T) {
	a := encode(t, person(t, "Karo Hovhannisyan"), secret, 1)
	b := encode(t, person(t, "Կարո Հովհաննիսյան"), secret, 2)
	c := encode(t, person(t, "Gevorg Arzumanyan"), secret, 3)
	same, _ := Dice(a, b, now)
	other, _ := Dice(a, c, now)
	if same < DefaultThreshold || other >= DefaultThreshold {
		t.Errorf("Dice same person %.3f, other person %.3f (threshold %.2f)", same, other, DefaultThreshold)
	}
	// Another federation key: nothing compares.
	d := encode(t, person(t, "Karo Hovhannisyan"), Secret{ID: "other", Key: bytes.Repeat([]byte{8}, 32)}, 1)
	if _, err := Dice(a, d, now); !errors.Is(err, ErrMismatch) {
		t.Errorf("different key: %v, want ErrMismatch", err)
	}
	// Same key id but another key (a forged or rotated secret): the bits
	// do not line up.
	e := encode(t, person(t, "Karo Hovhannisyan"), Secret{ID: secret.ID, Key: bytes.Repeat([]byte{9}, 32)}, 1)
	if s, _ := Dice(a, e, now); s >= 0.5 {
		t.Errorf("another secret under the same id: Dice %.3f", s)
	}
	if _, err := Dice(a, b, exp); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v, want ErrExpired", err)
	}
}

func TestParseRefuses(t *testing.T) {
	good := encode(t, person(t, "Karo Hovhannisyan"), secret, 1)
	mutate := func(f func(m map[string]any)) []byte {
		b, _ := json.Marshal(good)
		var m map[string]any
		json.Unmarshal(b, &m)
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"version":    {mutate(func(m map[string]any) { m["v"] = 2 }), ErrMalformed},
		"alg":        {mutate(func(m map[string]any) { m["alg"] = "none" }), ErrMalformed},
		"expired":    {mutate(func(m map[string]any) { m["exp"] = now.Add(-time.Second) }), ErrExpired},
		"short":      {mutate(func(m map[string]any) { m["filters"] = []string{"AAAA"} }), ErrMalformed},
		"no filters": {mutate(func(m map[string]any) { m["filters"] = []string{} }), ErrMalformed},
		"bad bits":   {mutate(func(m map[string]any) { m["params"].(map[string]any)["l"] = 1000 }), ErrMalformed},
		"bad block":  {mutate(func(m map[string]any) { m["blocks"] = []string{"!!"} }), ErrMalformed},
		"not json":   {[]byte("{"), ErrMalformed},
		"huge":       {bytes.Repeat([]byte(" "), 70<<10), ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(tc.data, now); !errors.Is(err, tc.want) {
				t.Errorf("Parse: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Encode(person(t, "Karo Bedrosyan"), Secret{ID: "x", Key: []byte("short")}, DefaultParams, exp, nil); !errors.Is(err, ErrSecret) {
		t.Errorf("short secret: %v", err)
	}
}

// TestNoiseApplied: two encodings of one person differ (BLIP flips bits)
// yet still agree closely.
func TestNoiseApplied(t *testing.T) {
	p := person(t, "Karo Hovhannisyan")
	a := encode(t, p, secret, 1)
	b := encode(t, p, secret, 2)
	if a.Filters[0] == b.Filters[0] {
		t.Error("two encodings with fresh noise are bit-identical: BLIP not applied")
	}
	s, _ := Dice(a, b, now)
	if s < 0.85 {
		t.Errorf("same person, fresh noise: Dice %.3f", s)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Encode(person(f, "Karo Hovhannisyan"), secret, DefaultParams, exp, seeded(1))
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data, now)
		if err != nil {
			return
		}
		if _, err := Dice(e, e, now); err != nil {
			t.Fatalf("parsed encoding does not compare with itself: %v", err)
		}
	})
}

// encodedQuality matches a seeded corpus through the encodings: the
// registered persons are held, each sought person is a query.
func encodedQuality(t *testing.T, cfg corpus.Config) (truePairs, cands, correct int) {
	t.Helper()
	c := corpus.Generate(cfg)
	ix := NewIndex()
	truth := map[string]int{}
	for i := range c.Registered {
		r := &c.Registered[i]
		p, _ := match.Prepare(r.CaseID, r.CaseType, &r.Person, now)
		e, err := Encode(p, secret, DefaultParams, exp, seeded(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		h := fmt.Sprintf("h%d", i)
		truth[h] = r.Truth
		ix.Add(h, e)
	}
	for i := range c.Sought {
		r := &c.Sought[i]
		p, _ := match.Prepare(r.CaseID, r.CaseType, &r.Person, now)
		e, err := Encode(p, secret, DefaultParams, exp, seeded(uint64(1<<20+i)))
		if err != nil {
			t.Fatal(err)
		}
		res, err := ix.Query(e, DefaultThreshold, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range res {
			cands++
			if truth[x.Handle] == r.Truth {
				correct++
			}
		}
	}
	return c.TruePairs(), cands, correct
}

// TestQualityThroughEncodings: recall >= 0.90 through the encodings on the
// seeded corpus, at DefaultThreshold, with precision >= 0.85.
func TestQualityThroughEncodings(t *testing.T) {
	tp, cands, correct := encodedQuality(t, corpus.Config{Seed: 16, Sought: 2000, Registered: 2000, Overlap: 0.5})
	recall, precision := float64(correct)/float64(tp), float64(correct)/float64(max(cands, 1))
	t.Logf("encoded 2000 x 2000: %d true pairs, %d candidates, %d correct: precision %.4f recall %.4f", tp, cands, correct, precision, recall)
	if recall < 0.90 || precision < 0.85 {
		t.Errorf("recall %.4f (floor 0.90), precision %.4f (floor 0.85) through the encodings", recall, precision)
	}
}

// TestQualityThroughEncodingsAtScale: recall holds with ten times the
// persons; precision falls (a Dice coefficient knows nothing of how
// common a name is) and is reported.
func TestQualityThroughEncodingsAtScale(t *testing.T) {
	racetest.SkipComputation(t)
	if testing.Short() {
		t.Skip("20,000 x 20,000")
	}
	tp, cands, correct := encodedQuality(t, corpus.Config{Seed: 17, Sought: 20000, Registered: 20000, Overlap: 0.5})
	recall, precision := float64(correct)/float64(tp), float64(correct)/float64(max(cands, 1))
	t.Logf("encoded 20000 x 20000: %d true pairs, %d candidates, %d correct: precision %.4f recall %.4f", tp, cands, correct, precision, recall)
	if recall < 0.90 || precision < 0.5 {
		t.Errorf("recall %.4f (floor 0.90), precision %.4f (floor 0.50) through the encodings", recall, precision)
	}
}
