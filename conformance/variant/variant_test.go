package variant

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const prog = "testdata/prog"

var progVariants = []Variant{
	{Name: "shout", Mutations: []Mutation{
		{File: "lib/lib.go", Old: `return "hello " + up(name)`, New: `return strings.Repeat("HELLO ", 2) + up(name) + fmt.Sprint("!")`, Imports: []string{"fmt"}},
		{File: "lib/lib.go", Old: "\tc.N += n\n", New: "\tc.N += 10 * n\n"},
	}},
	{Name: "sum-twice", Mutations: []Mutation{{File: "lib/lib.go", Old: "total += x", New: "total += 2 * x"}}},
	{Name: "min", Mutations: []Mutation{{File: "lib/lib.go", Old: "if a > b {", New: "if a < b {"}}},
	{Name: "blank", Mutations: []Mutation{{File: "lib/lib.go", Old: `{ return "ignored" }`, New: `{ return "seen" }`}}},
	{Name: "main", Mutations: []Mutation{{File: "main.go", Old: "c.Add(2)", New: "c.Add(3)"}}},
	{Name: "closure", Mutations: []Mutation{{File: "lib/lib.go", Old: "strings.ToUpper(s[:1])", New: "strings.ToLower(s[:1])"}}},
}

func run(t *testing.T, bin, variant string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), Env+"="+variant)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s with %s=%q: %v\n%s", bin, Env, variant, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBuildDispatchesAtRunTime builds one binary with every variant and
// runs it as each: only the selected variant's mutations take effect.
func TestBuildDispatchesAtRunTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program: skipped with -short")
	}
	dir := t.TempDir()
	release, bin := filepath.Join(dir, "release"), filepath.Join(dir, "variants")
	build := exec.Command("go", "build", "-o", release, ".")
	build.Dir = prog
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := Build(t.Context(), prog, ".", bin, progVariants); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"":          "hello World 6 7 ignored 2 twice",
		"shout":     "HELLO HELLO World! 6 7 ignored 20 twice",
		"sum-twice": "hello World 12 7 ignored 2 twice",
		"min":       "hello World 6 3 ignored 2 twice",
		"blank":     "hello World 6 7 seen 2 twice",
		"main":      "hello World 6 7 ignored 3 twice",
		"closure":   "hello world 6 7 ignored 2 twice",
		"no-such":   "hello World 6 7 ignored 2 twice",
	}
	for v, w := range want {
		if got := run(t, bin, v); got != w {
			t.Errorf("variant %q printed %q, want %q", v, got, w)
		}
	}
	if got := run(t, release, "shout"); got != want[""] {
		t.Errorf("the release build reacts to %s: %q", Env, got)
	}
	// The release binary holds none of it; the variant binary betrays itself.
	if found, err := Scan(t.Context(), release, nil, nil); err != nil || len(found) != 0 {
		t.Errorf("Scan(release) = %v, %v", found, err)
	}
	found, err := Scan(t.Context(), bin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(found, "\n")
	for _, s := range []string{"symbol example.com/prog/lib.Greet" + Marker + "_shout", `string "` + Env + `"`} {
		if !strings.Contains(joined, s) {
			t.Errorf("Scan(variant build) did not find %s in:\n%s", s, joined)
		}
	}
}

// TestOverlayRefusesStaleMutations: a mutation that no longer matches the
// code fails loudly, naming the file and the text.
func TestOverlayRefusesStaleMutations(t *testing.T) {
	tests := []struct {
		name string
		vs   []Variant
		want string
	}{
		{"old text gone", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/lib.go", Old: "total -= x", New: "y"}}}}, "found 0 times"},
		{"two functions of one variant", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/lib.go", Old: "\treturn a\n\t}\n\treturn b", New: "y"}, {File: "lib/lib.go", Old: "return total", New: "return 0"}}}}, ""},
		{"old text many times", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/lib.go", Old: "\treturn ", New: "y"}}}}, "found 4 times, want exactly once"},
		{"old text outside a function", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/lib.go", Old: "type Counter struct{ N int }", New: "type Counter struct{ N, M int }"}}}}, "not inside one function"},
		{"no such file", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/none.go", Old: "a", New: "b"}}}}, "no such file"},
		{"no change", []Variant{{Name: "x", Mutations: []Mutation{{File: "lib/lib.go", Old: "total += x", New: "total += x"}}}}, "different new text"},
		{"bad name", []Variant{{Name: "Bad Name", Mutations: []Mutation{{File: "lib/lib.go", Old: "total += x", New: "y"}}}}, "bad or repeated"},
		{"same name twice", []Variant{progVariants[1], progVariants[1]}, "bad or repeated"},
		{"overlapping", []Variant{{Name: "x", Mutations: []Mutation{
			{File: "lib/lib.go", Old: "total += x", New: "a"}, {File: "lib/lib.go", Old: "+= x\n", New: "b"}}}}, "overlap"},
		{"import under another name", []Variant{{Name: "x", Mutations: []Mutation{
			{File: "main.go", Old: "c.Add(2)", New: "c.Add(3)", Imports: []string{"example.com/prog/lib2"}}}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Overlay(prog, tc.vs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Overlay: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Overlay error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
