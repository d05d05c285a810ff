package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// chunkedVideo is a video message whose media is sent in chunks: its
// dependentRequired members (chunk_bytes needs chunks_sha256 and
// size_bytes) and its if/then (a video message requires media) are what
// a removal can break besides required members and minItems.
const chunkedVideo = `{"schema":"flx/v1/message","message_id":"XA-RC:VID-1","case_id":"ICRC-CTA:DN-1","kind":"video_message",
"channel":"video","created_at":"2024-07-10T09:00:00Z","from":{"person":"f1","member":"XA-RC"},"to":{"person":"d1","member":"ICRC-CTA"},
"media":{"sha256":"f1c0f18aa2288dd0466a991843a85512459724fff26faeeba719fda501f35e73","media_type":"video/mp4","size_bytes":18874368,"duration_seconds":92.5,
"chunk_bytes":1048576,"chunks_sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}`

// TestTreeValidAfterRemovals is the differential of TreeValid and
// RemovalsKeepValid, which the policy uses instead of re-parsing and
// re-validating a redacted document: over every valid example (and a
// chunked video message), each member or item removed alone and thousands
// of random sets of them removed together, TreeValid on the changed tree
// must give exactly the fast check's verdict on the encoded document
// parsed again, and neither may answer true where jsonschema refuses that
// document. The corpus must
// include removals that break validity in each way schema v1 allows
// (required members, minItems, dependentRequired, if/then), or it would
// prove nothing.
func TestTreeValidAfterRemovals(t *testing.T) {
	schemas, err := compiled()
	if err != nil {
		t.Fatal(err)
	}
	seeds := [][]byte{[]byte(chunkedVideo), chunkedPhotoCase(t)}
	for _, e := range Examples() {
		seeds = append(seeds, e.Doc)
	}
	broke := map[string]int{} // keyword of a violation -> removals that caused it
	var trees, valid, treeValid, validCases, keptCases int
	for si, doc := range seeds {
		v, _ := decodeStrict(doc)
		k, ok := kindOf(v)
		if !ok {
			t.Fatalf("seed %d: no kind", si)
		}
		if _, err := ValidateObject(k, doc); err != nil {
			t.Fatalf("seed %d (%s) is not valid: %v", si, k, err)
		}
		ptrs := treePointers(v, nil, nil)
		rng := rand.New(rand.NewPCG(uint64(si), 0x7ee5))
		try := func(remove [][]string) {
			tree, err := ValidateObject(k, doc) // a fresh tree, as the policy has
			if err != nil {
				t.Fatal(err)
			}
			order := removalOrder(remove)
			kept := RemovalsKeepValid(k, tree, order)
			for _, p := range order {
				removeAt(tree, p)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tree); err != nil {
				t.Fatal(err)
			}
			got := TreeValid(k, tree)
			again, vs := decodeStrict(b.Bytes())
			if len(vs) > 0 {
				t.Fatalf("%s: the encoded tree does not decode: %v", k, vs)
			}
			if want := fastPasses(k, again); got != want {
				t.Fatalf("%s without %v: TreeValid %v, the fast check of the encoded document %v\n%s", k, remove, got, want, b.Bytes())
			}
			jsErr := schemas[k].Validate(again)
			if got && jsErr != nil {
				t.Fatalf("%s without %v: TreeValid true, jsonschema refuses it: %v\n%s", k, remove, jsErr, b.Bytes())
			}
			if kept && jsErr != nil {
				t.Fatalf("%s without %v: RemovalsKeepValid true, jsonschema refuses it: %v\n%s", k, remove, jsErr, b.Bytes())
			}
			if kept && k == KindCase {
				keptCases++
			}
			if got && Validate(k, b.Bytes()) != nil {
				t.Fatalf("%s without %v: TreeValid true, Validate refuses it", k, remove)
			}
			trees++
			if got {
				treeValid++
			}
			if jsErr == nil {
				valid++
				if k == KindCase {
					validCases++
				}
				return
			}
			var verr *jsonschema.ValidationError
			if !errors.As(jsErr, &verr) {
				t.Fatal(jsErr)
			}
			brokeBy(verr, broke)
		}
		// Under the race detector (ten times slower) a third of it.
		stride, sets := 1, 120
		if raceEnabled {
			stride, sets = 3, 40
		}
		for i := si % stride; i < len(ptrs); i += stride {
			try([][]string{ptrs[i]})
		}
		for range sets {
			var set [][]string
			for _, p := range ptrs {
				if rng.IntN(len(ptrs)) < 1+rng.IntN(4) {
					set = append(set, p)
				}
			}
			try(set)
		}
	}
	t.Logf("%d redacted trees: %d valid, TreeValid true for %d; of the cases %d valid, RemovalsKeepValid true for %d; violations caused: %v",
		trees, valid, treeValid, validCases, keptCases, broke)
	if keptCases < validCases*8/10 {
		t.Errorf("RemovalsKeepValid true for %d of %d valid cases: it should show most of them valid", keptCases, validCases)
	}
	for _, kw := range []string{"required", "minItems", "dependentRequired", "then/required"} { // then/required: a message's kind requires a member
		if broke[kw] == 0 {
			t.Errorf("no removal broke %s: the corpus does not test it", kw)
		}
	}
	if treeValid < valid*9/10 {
		t.Errorf("TreeValid true for %d of %d valid trees: it should decide nearly all of them", treeValid, valid)
	}
}

// treePointers lists the pointers (as tokens) of every member and item
// under v.
func treePointers(v any, at []string, out [][]string) [][]string {
	switch x := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			p := append(slices.Clip(at), k)
			out = append(out, p)
			out = treePointers(x[k], p, out)
		}
	case []any:
		for i, e := range x {
			p := append(slices.Clip(at), strconv.Itoa(i))
			out = append(out, p)
			out = treePointers(e, p, out)
		}
	}
	return out
}

// removalOrder drops pointers under others and orders the rest so that
// removing them one by one never shifts an index still to be removed:
// deepest and last first (as the policy removes them).
func removalOrder(ps [][]string) [][]string {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b []string) int {
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] == b[i] {
				continue
			}
			x, ex := strconv.Atoi(a[i])
			y, ey := strconv.Atoi(b[i])
			if ex == nil && ey == nil {
				return y - x
			}
			return -strings.Compare(a[i], b[i])
		}
		return len(b) - len(a)
	})
	kept := out[:0]
	for _, p := range out {
		under := false
		for _, q := range out {
			if len(q) < len(p) && slices.Equal(q, p[:len(q)]) {
				under = true
				break
			}
		}
		if !under {
			kept = append(kept, p)
		}
	}
	return kept
}

// removeAt removes the member or item at p (which exists) from root.
func removeAt(root map[string]any, p []string) {
	var parent any = root
	var holder func(any)
	for _, tok := range p[:len(p)-1] {
		switch x := parent.(type) {
		case map[string]any:
			m, name := x, tok
			holder = func(v any) { m[name] = v }
			parent = x[tok]
		case []any:
			i, _ := strconv.Atoi(tok)
			a := x
			holder = func(v any) { a[i] = v }
			parent = x[i]
		}
	}
	last := p[len(p)-1]
	switch x := parent.(type) {
	case map[string]any:
		delete(x, last)
	case []any:
		i, _ := strconv.Atoi(last)
		holder(append(x[:i:i], x[i+1:]...))
	}
}

// brokeBy counts the leaf errors of e by keyword, the keywords of an if's
// then branch prefixed with "then/".
func brokeBy(e *jsonschema.ValidationError, count map[string]int) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			brokeBy(c, count)
		}
		return
	}
	kw := e.ErrorKind.KeywordPath()
	name := "schema"
	if len(kw) > 0 {
		name = kw[0]
	}
	if strings.Contains(e.SchemaURL, "/then") {
		name = "then/" + name
	}
	count[name]++
}

// chunkedPhotoCase is the tracing request example with a photo sent in
// chunks: a case (whose schema has no if/then) with dependentRequired
// members.
func chunkedPhotoCase(t *testing.T) []byte {
	ex, ok := ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("no tracing request example")
	}
	var m map[string]any
	if err := json.Unmarshal(ex.Doc, &m); err != nil {
		t.Fatal(err)
	}
	var photo map[string]any
	if err := json.Unmarshal([]byte(`{"sha256":"f1c0f18aa2288dd0466a991843a85512459724fff26faeeba719fda501f35e73","media_type":"image/jpeg",
		"size_bytes":2097152,"chunk_bytes":1048576,"chunks_sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}`), &photo); err != nil {
		t.Fatal(err)
	}
	m["persons"].([]any)[0].(map[string]any)["photo"] = photo
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzRemovalsKeepValid: for any valid document and any set of its
// members and items removed (chosen by sel), RemovalsKeepValid and
// TreeValid never call valid what jsonschema refuses, and TreeValid gives
// the fast check's verdict on the document encoded and parsed again.
func FuzzRemovalsKeepValid(f *testing.F) {
	f.Add([]byte(chunkedVideo), []byte{1, 7, 42})
	for _, e := range Examples() {
		f.Add(e.Doc, []byte{3, 0, 200, 17})
	}
	schemas, err := compiled()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc, sel []byte) {
		v, vs := decodeStrict(doc)
		k, ok := kindOf(v)
		if !ok || len(vs) > 0 || len(sel) == 0 {
			return
		}
		tree, err := ValidateObject(k, doc)
		if err != nil {
			return
		}
		ptrs := treePointers(tree, nil, nil)
		if len(ptrs) == 0 {
			return
		}
		var set [][]string
		for _, b := range sel {
			set = append(set, ptrs[int(b)%len(ptrs)])
		}
		order := removalOrder(set)
		order = slices.CompactFunc(order, func(a, b []string) bool { return slices.Equal(a, b) })
		kept := RemovalsKeepValid(k, tree, order)
		for _, p := range order {
			removeAt(tree, p)
		}
		out, err := json.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		again, vs := decodeStrict(out)
		if len(vs) > 0 {
			t.Fatalf("the encoded tree does not decode: %v", vs)
		}
		jsErr := schemas[k].Validate(again)
		if kept && jsErr != nil {
			t.Fatalf("RemovalsKeepValid true without %v, jsonschema refuses it: %v\n%s", order, jsErr, out)
		}
		tv := TreeValid(k, tree)
		if tv != fastPasses(k, again) {
			t.Fatalf("TreeValid %v, the fast check of the encoded document %v\n%s", tv, !tv, out)
		}
		if tv && jsErr != nil {
			t.Fatalf("TreeValid true without %v, jsonschema refuses it: %v\n%s", order, jsErr, out)
		}
	})
}
