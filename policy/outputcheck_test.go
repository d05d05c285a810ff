package policy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/familylinks/flx/schema"
)

// TestRedactedOutputCheckedAsBefore: Apply checks a redacted document on
// the tree it redacted (schema.TreeValid) instead of validating the
// encoded bytes again. Over the schema examples and the bench case, each
// with custom rules that remove random sets of their optional members and
// items (which often leaves the document invalid: an array under its
// minItems, a media block without what its chunks require, a message
// without what its kind requires, an object without its required
// members), its decision and output must be byte for byte those of an
// engine that validates the input and every output from the bytes in
// full, as Apply did before.
func TestRedactedOutputCheckedAsBefore(t *testing.T) {
	type item struct {
		name string
		doc  []byte
		kind string
		opts []EvalOption
	}
	var items []item
	for _, ex := range schema.Examples() {
		items = append(items, item{ex.Name, ex.Doc, envelopeFor(ex), facts(ex.Doc)})
	}
	bench := mustReadFile(t, "testdata/bench_case.json")
	items = append(items, item{"bench_case", bench, "case.create", facts(bench)})
	full := func(docKind string, doc []byte) error { return schema.Validate(schema.Kind(docKind), doc) }
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, 0x0c))
	var outputDenied, redacted, evaluations int
	rounds := 40
	if raceEnabled { // ten times slower
		rounds = 12
	}
	for _, it := range items {
		m, err := decodeObject(it.doc)
		if err != nil {
			t.Fatal(err)
		}
		var ptrs []string
		for _, p := range memberPointers(m, "", nil) {
			if pp, _ := parsePointer(p); !requiredPointer(pp) {
				ptrs = append(ptrs, p)
			}
		}
		if len(ptrs) == 0 {
			continue // nothing optional to remove
		}
		for n := range rounds {
			var set []string
			for k := 1 + rng.IntN(4); k > 0; k-- {
				set = append(set, ptrs[rng.IntN(len(ptrs))])
			}
			if n == 0 { // the parents of the pointers too, so whole arrays and blocks go
				for _, p := range slices.Clone(set) {
					if i := strings.LastIndexByte(p, '/'); i > 0 {
						if pp, _ := parsePointer(p[:i]); !requiredPointer(pp) {
							set = append(set, p[:i])
						}
					}
				}
			}
			slices.Sort(set)
			set = slices.Compact(set)
			r := rulesWith(t, permissive+"custom:\n  - id: XA-CUT\n    kinds: [case.create, case.update, case.response, message.deliver, case.withdraw]\n"+
				"    when: 'true'\n    effect: redact\n    redact: ["+strings.Join(quoted(set), ", ")+"]\n    reason: cut\n")
			evaluations++
			label := fmt.Sprintf("%s without %v", it.name, set)
			d, out := New(r).Apply(ctx, it.doc, it.kind, dstXB, testNow, it.opts...)
			d2, out2 := New(r, WithValidator(full)).Apply(ctx, it.doc, it.kind, dstXB, testNow, it.opts...)
			if a, b := differentialBytes(t, d, out), differentialBytes(t, d2, out2); !bytes.Equal(a, b) {
				t.Fatalf("%s: checked on the tree:\n%s\nvalidated from the bytes:\n%s", label, a, b)
			}
			if out != nil && schema.Validate(schema.Kind(strings.SplitN(it.name, ".", 2)[0]), out) != nil {
				t.Fatalf("%s: an invalid document would be sent:\n%s", label, out)
			}
			if len(d.Redactions) > 0 {
				redacted++
			}
			if len(d.Fired) > 0 && d.Fired[len(d.Fired)-1].RuleID == ruleOutput {
				outputDenied++
			}
		}
	}
	t.Logf("%d evaluations: %d redacted and sent, %d denied as invalid once redacted", evaluations, redacted, outputDenied)
	if outputDenied < 20 || redacted < 20 {
		t.Errorf("%d redacted, %d denied as invalid once redacted: the corpus should hold many of each", redacted, outputDenied)
	}
}

// memberPointers lists the pointer of every member and item under v.
func memberPointers(v any, at string, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := at + "/" + escapeToken(k)
			out = memberPointers(e, p, append(out, p))
		}
	case []any:
		for i, e := range x {
			p := at + "/" + strconv.Itoa(i)
			out = memberPointers(e, p, append(out, p))
		}
	}
	slices.Sort(out)
	return out
}

func quoted(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strconv.Quote(s)
	}
	return out
}

// TestWalkOrderIsDocumentOrder: the free-text rule finds its hits walking
// objects in map order and sorts them with walkOrder; that must be the
// order of a walk that visits members by name and items by index, as the
// rule walked before, including members named with digits (compared as
// names, not numbers) and with "~" and "/" (compared unescaped).
func TestWalkOrderIsDocumentOrder(t *testing.T) {
	docs := []map[string]any{decodeMap(t, `{"b":{"10":"x","9":"y","a/b":"z","a0":"w","a~":"v"},"a":[["p","q"],"r","s","t","u","v","w","x","y","z","aa","bb"],"c~1":"u"}`)}
	for _, ex := range schema.Examples() {
		docs = append(docs, decodeMap(t, string(ex.Doc)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for seed := range 50 {
		docs = append(docs, decodeMap(t, string(randomCase(rand.New(rand.NewPCG(uint64(seed), 7))))))
	}
	for i, doc := range docs {
		var want []string
		var keys []member
		var walk func(v any, at []byte)
		walk = func(v any, at []byte) {
			switch x := v.(type) {
			case map[string]any:
				base := len(keys)
				keys = appendMembers(keys, x)
				for j := base; j < base+len(x); j++ {
					walk(keys[j].val, appendToken(append(at, '/'), keys[j].name))
				}
				keys = keys[:base]
			case []any:
				for j, e := range x {
					walk(e, strconv.AppendInt(append(at, '/'), int64(j), 10))
				}
			default:
				want = append(want, string(at))
			}
		}
		walk(doc, nil)
		got := slices.Clone(want)
		rng.Shuffle(len(got), func(a, b int) { got[a], got[b] = got[b], got[a] })
		slices.SortFunc(got, func(a, b string) int { return walkOrder(doc, a, b) })
		if !slices.Equal(got, want) {
			t.Fatalf("doc %d: sorted by walkOrder\n%q\nin document order\n%q", i, got, want)
		}
	}
}

// TestCallersValidatedIsNoProofOfOutput: a caller that says Validated()
// of a document that is not valid does not get an invalid redacted
// document through: the output is still checked in full (as before,
// when every output was validated from its bytes), not shown valid from
// the input's validity.
func TestCallersValidatedIsNoProofOfOutput(t *testing.T) {
	r := rulesWith(t, permissive+"custom:\n  - id: XA-CUT\n    when: 'true'\n    effect: redact\n    redact: [/notes]\n    reason: cut\n")
	doc := caseWith(t, func(m map[string]any) {
		m["notes"] = []any{map[string]any{"text": "n", "author_member": "XA-RC", "at": "2025-01-01T00:00:00Z"}}
		m["origin"].(map[string]any)["bogus"] = "x" // invalid, and not redacted
	})
	if schema.Validate(schema.KindCase, doc) == nil {
		t.Fatal("the document should be invalid")
	}
	d, out := New(r).Apply(context.Background(), doc, "case.update", dstXB, testNow, append(facts(doc), Validated())...)
	if out != nil || d.Effect != Deny {
		t.Fatalf("an invalid document said to be validated was sent redacted: %s\n%s", describe(d), out)
	}
	if f := d.Fired[len(d.Fired)-1]; f.RuleID != ruleOutput {
		t.Errorf("denied by %s (%s), want %s", f.RuleID, f.Reason, ruleOutput)
	}
}
