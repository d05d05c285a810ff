package deploy

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The flx commands the documents may tell an operator to run (the CLI in
// node/cmd/flx; keep in step with its root command).
var contract = map[string]bool{
	"serve":                     true,
	"healthcheck":               true,
	"version":                   true,
	"demo":                      true,
	"federation init":           true,
	"federation add-member":     true,
	"federation rotate-key":     true,
	"federation suspend":        true,
	"federation renew":          true,
	"federation show":           true,
	"policy check":              true,
	"audit verify":              true,
	"bench exchange":            true,
	"bench media":               true,
	"bench import":              true,
	"bench search":              true,
	"bundle export":             true,
	"bundle import":             true,
	"case":                      true,
	"token create":              true,
	"token list":                true,
	"token revoke":              true,
	"match":                     true, // list, get, confirm, reject, ask
	"review":                    true, // list, approve, reject
	"conformance":               true, // the group, named in prose
	"conformance init":          true,
	"conformance run":           true,
	"conformance verify-report": true,
}

// invocation finds `flx SUB [SUB2]` where flx is in command position: at the
// start of a line (after an optional "$ " or "sudo "), after && | ; or a
// backquote, or as .../bin/flx or /flx (the image's path).
var invocation = regexp.MustCompile(`(?m)(?:^[ \t]*(?:\$[ \t]+)?(?:sudo[ \t]+)?|&&[ \t]*|\|[ \t]*|;[ \t]*|bin/|[\s"']/|` + "`" + `)flx[ \t]+([a-z][a-z-]*)(?:[ \t]+([a-z][a-z-]*))?`)

// docs are the operator-facing texts that show flx commands.
var docs = []string{
	"RUNBOOK.md",
	"../README.md",
	"compose/compose.yaml",
	"helm/flx/templates/NOTES.txt",
	"helm/flx/values.yaml",
	"systemd/flx.service",
	"systemd/config.yaml",
	"image/Dockerfile",
	"image/cmd/build-image/doc.go",
}

func TestDocsUseContractCommands(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range docs {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range invocation.FindAllStringSubmatch(string(data), -1) {
			cmd := m[1]
			if m[2] != "" && contract[cmd+" "+m[2]] {
				cmd += " " + m[2]
			}
			seen[cmd] = true
			if !contract[cmd] {
				t.Errorf("%s: `flx %s` is not a command of the CLI contract (in %q)", name, cmd, strings.TrimSpace(m[0]))
			}
		}
	}
	// The runbook covers the whole contract an operator needs.
	for _, cmd := range []string{"serve", "healthcheck", "version", "federation init", "federation add-member", "federation rotate-key", "federation suspend", "conformance run"} {
		if !seen[cmd] {
			t.Errorf("no document shows `flx %s`", cmd)
		}
	}
}

var heading = regexp.MustCompile(`(?m)^(#{2,3}) (.+)$`)

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// to hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// TestRunbook: the runbook has a section for every topic of the deploy
// issue, its table of contents links resolve, and the repository paths it
// names exist.
func TestRunbook(t *testing.T) {
	data, err := os.ReadFile("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	anchors := map[string]bool{}
	var titles []string
	for _, m := range heading.FindAllStringSubmatch(text, -1) {
		anchors[slug(m[2])] = true
		titles = append(titles, strings.ToLower(m[2]))
	}
	topics := []struct{ topic, words string }{
		{"first start", "first start"},
		{"joining a federation", "joining a federation"},
		{"key rotation without downtime", "key rotation without downtime"},
		{"manifest update", "manifest update"},
		{"suspending a member", "suspending a member"},
		{"backup and restore of the database and keys", "backup and restore"},
		{"reading the metrics", "metrics"},
		{"a peer unreachable for days", "unreachable for days"},
		{"data-breach first steps", "data breach"},
		{"systemd", "systemd"},
		{"kubernetes", "kubernetes"},
		{"compose", "compose"},
	}
	for _, tc := range topics {
		found := false
		for _, h := range titles {
			found = found || strings.Contains(h, tc.words)
		}
		if !found {
			t.Errorf("RUNBOOK.md has no section on %s (headings: %q)", tc.topic, titles)
		}
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(text, -1) {
		if !anchors[m[1]] {
			t.Errorf("RUNBOOK.md links to #%s, which is no heading", m[1])
		}
	}
	checkPaths(t, "RUNBOOK.md", text)
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	checkPaths(t, "README.md", string(readme))
}

var repoPath = regexp.MustCompile("`((?:deploy|node|policy|schema|federation)/[A-Za-z0-9_./-]+)`|\\]\\(((?:deploy|node|policy)/[A-Za-z0-9_./-]+)\\)")

// checkPaths asserts that the repository paths a document names exist
// (relative to the module root, one level up).
func checkPaths(t *testing.T, doc, text string) {
	t.Helper()
	for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
		p := m[1] + m[2]
		if _, err := os.Stat(filepath.Join("..", p)); err != nil {
			t.Errorf("%s names %s, which does not exist", doc, p)
		}
	}
}

var metricName = regexp.MustCompile(`\bflx_[a-z_]+[a-z]\b`)

// TestRunbookMetricsExist: every flx_* metric the runbook tells operators
// to watch is defined by the node (read as text from node/*.go: deploy does
// not link the node).
func TestRunbookMetricsExist(t *testing.T) {
	data, err := os.ReadFile("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := nodeMetrics(t)
	if len(defined) == 0 {
		t.Skip("the node defines no flx_* metrics yet")
	}
	for _, name := range metricName.FindAllString(string(data), -1) {
		if !defined[name] {
			t.Errorf("RUNBOOK.md names metric %s, which the node does not define (it has %v)", name, slices.Sorted(maps.Keys(defined)))
		}
	}
}

// TestAlertRulesNameExportedMetrics parses the example alert rules and
// checks that each has a name and an expression, and that every flx_*
// metric an expression names is one the node defines.
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "flx-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatal(err)
	}
	defined := nodeMetrics(t)
	named := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("group %s: a rule without alert or expr: %+v", g.Name, r)
			}
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				named[m] = true
				if !defined[m] {
					t.Errorf("alert %s names %s, which the node does not define", r.Alert, m)
				}
			}
		}
	}
	for _, want := range []string{"flx_certificate_expiry_seconds", "flx_manifest_expiry_seconds", "flx_inbox_failed",
		"flx_delivery_dead_letters_total", "flx_withdrawals_unconfirmed"} {
		if !named[want] {
			t.Errorf("no alert on %s", want)
		}
	}
}

// nodeMetrics is every flx_* metric name the node's sources define.
func nodeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	defined := map[string]bool{}
	err := filepath.WalkDir(filepath.Join("..", "node"), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`"(flx_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return defined
}

var apiPath = regexp.MustCompile(`/api/v1/[A-Za-z0-9_{}./:%-]*`)

// TestDocsAPIPathsExist: every local API path the operator-facing texts
// name (in prose, curl lines or tables) is a route of the node's OpenAPI
// document, read as a file (deploy does not link the node).
func TestDocsAPIPathsExist(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "node", "httpapi", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	var routes []*regexp.Regexp
	for p := range spec.Paths {
		routes = append(routes, regexp.MustCompile("^"+regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), "[^/]+")+"$"))
	}
	if len(routes) < 10 {
		t.Fatalf("openapi.json has %d paths", len(routes))
	}
	for _, name := range []string{"RUNBOOK.md", "../README.md", "../node/console/README.md", "../policy/RULES.md"} {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range apiPath.FindAllString(string(text), -1) {
			p := strings.TrimRight(m, ".,:")
			found := false
			for _, r := range routes {
				found = found || r.MatchString(p)
			}
			if !found {
				t.Errorf("%s names %s, which is no route of node/httpapi/openapi.json", name, m)
			}
		}
	}
}

// TestRunbookComposeRunsTheImageBuilt: RUNBOOK section 3 runs the Compose file
// on the image built in section 2, so the image the file runs (FLX_IMAGE in
// the .env section 3 writes, or the file's default) is the tag section 2
// gives build-image (the runbook once built flx:1.0.0 and ran flx:dev).
func TestRunbookComposeRunsTheImageBuilt(t *testing.T) {
	data, err := os.ReadFile("RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	section := func(from, to string) string {
		i, j := strings.Index(text, from), strings.Index(text, to)
		if i < 0 || j < i {
			t.Fatalf("RUNBOOK.md: no section between %q and %q", from, to)
		}
		return text[i:j]
	}
	build := regexp.MustCompile(`build-image[^\n]*(?:\\\n[^\n]*)*?-tag (\S+)`).FindStringSubmatch(section("## 2. ", "## 3. "))
	if build == nil {
		t.Fatal("RUNBOOK.md section 2 builds no tagged image with build-image")
	}
	compose, err := os.ReadFile(filepath.Join("compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def := regexp.MustCompile(`image: \$\{FLX_IMAGE:-([^}]+)\}`).FindSubmatch(compose)
	if def == nil {
		t.Fatal("compose.yaml: the node image is not ${FLX_IMAGE:-...}")
	}
	runs := string(def[1])
	env := regexp.MustCompile(`printf '([^']*)'[^\n]*> \.env`).FindStringSubmatch(section("## 3. ", "## 4. "))
	if env == nil {
		t.Fatal("RUNBOOK.md section 3 writes no .env")
	}
	if m := regexp.MustCompile(`FLX_IMAGE=([^\\]+)`).FindStringSubmatch(env[1]); m != nil {
		runs = m[1]
	}
	if runs != build[1] {
		t.Errorf("RUNBOOK.md section 2 builds %s, section 3's Compose runs %s", build[1], runs)
	}
}
