package policy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

// differentialGolden holds, for every item of the differential corpus, its
// label and a digest of what Apply returned for it (the whole decision
// but the policy hash, and the output bytes).
const differentialGolden = "testdata/differential.txt.gz"

// TestAdversarialDifferential pins Apply's exact results (effect, fired rules
// with reasons and pointers, redactions, error, output bytes) over a large,
// seeded corpus: the schema examples, the adversarial corpus with its safe
// twins, and generated cases edited into odd shapes (missing, emptied and
// retyped members) with withheld values copied into free text in unusual
// Unicode forms, with the responses and messages about them; each against
// several rule sets and destinations, with and without schema validation,
// directly and through a relay. An optimisation of the engine must leave
// every line unchanged. Run with -update only for a deliberate change of
// the rules' results, and review why each changed line changed.
func TestAdversarialDifferential(t *testing.T) {
	skipUnderRace(t)
	var got []string
	var docs [][]byte // the current result of each item, for the failure report
	differentialCorpus(t, func(label string, d Decision, out []byte) {
		b := differentialBytes(t, d, out)
		sum := sha256.Sum256(b)
		got = append(got, label+" "+string(d.Effect)+" "+hex.EncodeToString(sum[:10]))
		docs = append(docs, b)
	})
	if *update {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		for _, l := range got {
			fmt.Fprintln(zw, l)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(differentialGolden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d results to %s (%d bytes)", len(got), differentialGolden, buf.Len())
		return
	}
	want := readDifferential(t)
	if len(want) != len(got) {
		t.Errorf("the corpus has %d items, the golden file %d (run with -update after a deliberate change)", len(got), len(want))
	}
	bad := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] == want[i] {
			continue
		}
		bad++
		if bad <= 5 {
			t.Errorf("item %d changed:\n  was %s\n  now %s\n%s", i, want[i], got[i], docs[i])
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d results differ from %s", bad, len(got), differentialGolden)
	}
	t.Logf("%d results compared", len(got))
}

func readDifferential(t *testing.T) []string {
	f, err := os.Open(differentialGolden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// differentialBytes renders a result completely but for the policy hash
// (which changes with every comment in a rules file).
func differentialBytes(t testing.TB, d Decision, out []byte) []byte {
	d.PolicyHash = ""
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if out == nil {
		return append(b, "<nil>"...)
	}
	return append(b, out...)
}

// differentialCorpus generates every item and evaluates it; each is run
// with a fresh evaluation (engines are shared, as in a node).
func differentialCorpus(t testing.TB, each func(label string, d Decision, out []byte)) {
	ctx := context.Background()
	def, err := Default("XA-RC", "XA")
	if err != nil {
		t.Fatal(err)
	}
	ruleSets := []struct {
		name string
		r    *Rules
	}{
		{"sample", sampleRules(t)},
		{"default", def},
		{"configured", configuredRules(t)},
		{"permissive", rulesWith(t, permissive)},
		{"bare", rulesWith(t, "")},
	}
	type engines struct{ v, nv *Engine }
	eng := map[*Rules]engines{}
	engFor := func(r *Rules) engines {
		e, ok := eng[r]
		if !ok {
			e = engines{New(r), New(r, WithValidator(nil))}
			eng[r] = e
		}
		return e
	}
	dsts := []Destination{dstXB, dstXC, dstXD, dstCTA, dstDel, dstAuth,
		{Member: "XB-RC", Country: "XB", Role: "society", Active: false, Accepts: allKinds},
		{Member: "XQ-RC"},
		{Member: "XA-RC", Country: "XA", Role: "society", Active: true, Accepts: allKinds}, // the origin
	}
	n := 0
	run := func(label string, e *Engine, doc []byte, kind string, dst Destination, opts ...EvalOption) {
		d, out := e.Apply(ctx, doc, kind, dst, testNow, opts...)
		each(label, d, out)
		// A caller that validated the document and says so (Validated)
		// gets exactly the same result (every third item, for time).
		n++
		if dk, ok := schema.KindForEnvelope(kind); ok && n%3 == 0 && schema.Validate(dk, doc) == nil {
			d2, out2 := e.Apply(ctx, doc, kind, dst, testNow, append(opts[:len(opts):len(opts)], Validated())...)
			if a, b := differentialBytes(t, d, out), differentialBytes(t, d2, out2); !bytes.Equal(a, b) {
				t.Errorf("%s: with Validated the result differs:\n%s\nwithout:\n%s", label, b, a)
			}
		}
	}

	// 1. The schema examples, every rule set, destination and validator,
	// and once through a relay in a feared country.
	for _, ex := range schema.Examples() {
		kind := envelopeFor(ex)
		for _, rs := range ruleSets {
			e := engFor(rs.r)
			for _, dst := range dsts {
				run("ex/"+ex.Name+"/"+rs.name+"/"+dst.Member, e.v, ex.Doc, kind, dst, facts(ex.Doc)...)
				run("ex/"+ex.Name+"/"+rs.name+"/"+dst.Member+"/nv", e.nv, ex.Doc, kind, dst, facts(ex.Doc)...)
			}
			run("ex/"+ex.Name+"/"+rs.name+"/via", e.v, ex.Doc, kind, dstXB, append(facts(ex.Doc), Through(dstXD, dstCTA))...)
		}
	}

	// 2. The adversarial corpus with its twins: its own rules and
	// destination, then the sample rules and a plain Society.
	sample := ruleSets[0].r
	corpus(t, true, func(sc *scenario) bool {
		doc, err := json.Marshal(sc.doc)
		if err != nil {
			t.Fatal(err)
		}
		run("adv/"+sc.label, engFor(sc.rules).v, doc, sc.kind, sc.dst, sc.opts...)
		run("adv/"+sc.label+"/sample", engFor(sample).v, doc, sc.kind, dstXB, sc.opts...)
		if sc.seed%4 == 0 {
			run("adv/"+sc.label+"/nv", engFor(sc.rules).nv, doc, sc.kind, dstCTA, sc.opts...)
		}
		return true
	})

	// 3. Generated cases, edited into odd shapes, with withheld values
	// copied into free text in unusual forms; the responses and messages
	// about them.
	for seed := uint64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0xd1ff))
		doc := randomCase(rng)
		m, err := decodeObject(doc)
		if err != nil {
			t.Fatal(err)
		}
		copyIntoText(rng, m)
		if seed%3 == 0 {
			for i := rng.IntN(6); i > 0; i-- {
				editTree(m, byte(rng.IntN(256)), byte(rng.IntN(256)))
			}
		}
		doc, _ = json.Marshal(m)
		ver, _ := intVal(m["version"])
		id, _ := m["case_id"].(string)
		rs := ruleSets[int(seed)%len(ruleSets)]
		e := engFor(rs.r)
		dst := dsts[int(seed/5)%len(dsts)]
		lbl := fmt.Sprintf("gen/%d/%s/%s", seed, rs.name, dst.Member)
		run(lbl, e.v, doc, "case.update", dst, CurrentVersion(ver))
		run(lbl+"/nv", e.nv, doc, "case.update", dst, CurrentVersion(ver))
		run(lbl+"/strict", engFor(ruleSets[1].r).v, doc, "case.create", dstXB, CurrentVersion(ver))
		if seed%7 == 0 {
			run(lbl+"/via", e.v, doc, "case.update", dstCTA, CurrentVersion(ver), Through(dst))
		}
		for _, about := range aboutDocs(rng, m, id) {
			run(lbl+"/"+about.kind, e.v, about.doc, about.kind, dst, WithCase(doc))
			run(lbl+"/"+about.kind+"/nv", e.nv, about.doc, about.kind, dst, WithCase(doc))
			run(lbl+"/"+about.kind+"/origin", engFor(ruleSets[1].r).v, about.doc, about.kind, dsts[8], WithCase(doc))
		}
	}
}

// stringsOf lists every string under v with its pointer, in a stable order.
func stringsOf(v any, at string, out *[][2]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, [2]string{at, x})
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			stringsOf(x[k], at+"/"+escapeToken(k), out)
		}
	case []any:
		for i, e := range x {
			stringsOf(e, at+"/"+strconv.Itoa(i), out)
		}
	}
}

// unicodeForm rewrites s the way a copy might be written: another case,
// decomposed accents, fullwidth letters, zero-width and direction marks,
// soft hyphens, Cyrillic look-alikes, odd whitespace, base64, digits
// regrouped.
func unicodeForm(rng *rand.Rand, s string) string {
	switch rng.IntN(12) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ReplaceAll(s, "o", "o\u0301")
	case 2:
		var b strings.Builder
		for _, r := range s {
			if r >= '!' && r <= '~' {
				r += 0xFEE0 // fullwidth
			}
			b.WriteRune(r)
		}
		return b.String()
	case 3:
		if len(s) > 2 {
			return s[:2] + "\u200b" + s[2:] + "\u200f"
		}
		return s + "\u200d"
	case 4:
		return strings.ReplaceAll(strings.ReplaceAll(s, "a", "а"), "o", "ο") // Cyrillic a, Greek omicron
	case 5:
		return strings.ReplaceAll(s, " ", "\u00a0\t \u3000")
	case 6:
		return "\u00ad" + s + "\u00ad"
	case 7:
		return base64Std(s)
	case 8:
		var b strings.Builder
		for i, r := range s {
			if r >= '0' && r <= '9' && i%3 == 0 {
				b.WriteString("-")
			}
			b.WriteRune(r)
		}
		return b.String()
	case 9:
		if len(s) > 3 {
			return s[:len(s)-1] // a near miss
		}
		return s
	case 10:
		return "ﬁle " + s + " Straße İstanbul ǅ"
	}
	return s
}

func base64Std(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.Encode([]byte(s))
	return strings.Trim(strings.TrimSpace(b.String()), `"`)
}

// copyIntoText copies a few values of the case, in unusual forms, into
// notes, the risk notes and the case's free-text fields.
func copyIntoText(rng *rand.Rand, m map[string]any) {
	var all [][2]string
	stringsOf(m, "", &all)
	if len(all) == 0 {
		return
	}
	var notes []any
	for i := rng.IntN(4); i > 0; i-- {
		v := all[rng.IntN(len(all))][1]
		notes = append(notes, map[string]any{"text": "Seen near " + unicodeForm(rng, v) + ", ask again"})
	}
	if len(notes) > 0 {
		m["notes"] = append(list(m["notes"]), notes...)
	}
	if rng.IntN(3) == 0 {
		v := all[rng.IntN(len(all))][1]
		m["risk"] = map[string]any{"notes": "Fears " + unicodeForm(rng, v)}
	}
}

type aboutDoc struct {
	kind string
	doc  []byte
}

// aboutDocs returns a response and a message about the case m, carrying
// values of the case in unusual forms.
func aboutDocs(rng *rand.Rand, m map[string]any, id string) []aboutDoc {
	var all [][2]string
	stringsOf(m, "", &all)
	val := func() string {
		if len(all) == 0 {
			return "nothing"
		}
		return unicodeForm(rng, all[rng.IntN(len(all))][1])
	}
	persons := list(m["persons"])
	pid := func() string {
		if len(persons) == 0 {
			return "p1"
		}
		if p, ok := persons[rng.IntN(len(persons))].(map[string]any); ok {
			if s, ok := p["id"].(string); ok {
				return s
			}
		}
		return "p1"
	}
	outcomes := []string{"located", "located_pending_consent", "declined_contact", "not_found", "deceased"}
	resp := map[string]any{"schema": "flx/v1/response", "case_id": id, "responder": "XC-RC",
		"outcome": outcomes[rng.IntN(len(outcomes))], "responded_at": "2025-05-01T00:00:00Z", "sought_person": pid(),
		"location": map[string]any{"locality": val(), "country": "XC"}, "message": "Found at " + val()}
	msgKinds := []string{"family_news", "red_cross_message"}
	msg := map[string]any{"schema": "flx/v1/message", "message_id": "XC-RC:m-" + strconv.Itoa(rng.IntN(1000)), "case_id": id,
		"kind": msgKinds[rng.IntN(2)], "channel": "rcm", "created_at": "2025-05-01T00:00:00Z", "body": "We are well. " + val(),
		"from": map[string]any{"person": pid(), "address": map[string]any{"locality": val()}}, "to": map[string]any{"person": pid()}}
	rb, _ := json.Marshal(resp)
	mb, _ := json.Marshal(msg)
	return []aboutDoc{{"case.response", rb}, {"message.deliver", mb}}
}
