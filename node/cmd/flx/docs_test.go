package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/familylinks/flx/conformance"
)

// The documents that show flx commands to newcomers, operators and
// candidate members (paths from the module root).
var commandDocs = []string{
	"README.md",
	"deploy/RUNBOOK.md",
	"conformance/SPEC.md",
	"node/console/README.md",
	"docs/console/README.md",
	"policy/RULES.md",
}

// docCommand finds an flx invocation in a line of a code block: flx, ./flx,
// a path ending in /flx or `go run ./node/cmd/flx`, in command position.
var docCommand = regexp.MustCompile(`(?:^|[;&|(]\s*|\$\s+|sudo\s+|nice -n \d+\s+|^[A-Z_]+=\S+\s+(?:[A-Z_]+=\S+\s+)*)(?:go run \./node/cmd/flx|\S*/flx|flx)\s+([a-z].*)$`)

// inlineCommand is an inline code span holding a whole flx command line
// (no placeholder syntax: [optional], alternatives, ellipses).
var placeholder = regexp.MustCompile(`<[^<>]*>`)

var inlineCommand = regexp.MustCompile("`(?:\\./)?flx ([a-z][^`]*)`")

// TestDocsCommandsParse: every flx command line the documents show runs a
// real subcommand with flags that subcommand has, so that a renamed command
// or a removed flag cannot stay in the docs.
func TestDocsCommandsParse(t *testing.T) {
	shown := map[string]bool{}
	for _, doc := range commandDocs {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		inBlock := false
		// A code block's line continued with a backslash is joined first.
		text := strings.ReplaceAll(string(data), "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inBlock = !inBlock
				continue
			}
			if inBlock {
				if m := docCommand.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
					path, msg := checkCommandLine(m[1], true)
					shown[path] = true
					if msg != "" {
						t.Errorf("%s: `flx %s`: %s", doc, m[1], msg)
					}
				}
				continue
			}
			for _, m := range inlineCommand.FindAllStringSubmatch(line, -1) {
				if !strings.ContainsAny(m[1], "[]|/") && !strings.Contains(m[1], "...") {
					path, msg := checkCommandLine(m[1], false)
					shown[path] = true
					if msg != "" {
						t.Errorf("%s: `flx %s`: %s", doc, m[1], msg)
					}
				}
			}
		}
	}
	// The extraction finds the commands a newcomer runs first.
	for _, c := range []string{"flx demo", "flx serve", "flx case thread", "flx conformance init", "flx conformance run", "flx conformance verify-report", "flx federation add-member"} {
		if !shown[c] {
			t.Errorf("no document line checked shows `%s`", c)
		}
	}
}

// checkCommandLine resolves a documented command line (without the leading
// flx) against the real CLI and parses its flags; "" when it parses. A whole
// line (a code block's) must also give the command the arguments it takes;
// an inline mention may name a command group, a command without its
// arguments or a flag without its value.
func checkCommandLine(line string, whole bool) (path, msg string) {
	// The command ends at a comment, a pipe, a redirection or another command.
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	for _, sep := range []string{" &&", " &", " |", " >", " 2>", ";"} {
		if i := strings.Index(line, sep); i >= 0 {
			line = line[:i]
		}
	}
	// A placeholder (<public JWK>) is one word; an ellipsis stands for more.
	line = placeholder.ReplaceAllString(line, "X")
	words, err := shellWords(line)
	if err != nil {
		return "", err.Error()
	}
	var args []string
	for _, w := range words {
		if w != "..." {
			args = append(args, w)
		}
	}
	root := newRoot()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return "", err.Error()
	}
	if cmd == root {
		return "", "no such command"
	}
	cmd.InitDefaultHelpFlag()
	if !whole {
		for _, a := range rest {
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if strings.HasPrefix(a, "--") && cmd.Flags().Lookup(name) == nil {
				return cmd.CommandPath(), "unknown flag: --" + name
			}
		}
		return cmd.CommandPath(), ""
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		return cmd.CommandPath(), "a command group, not a command"
	}
	if err := cmd.ParseFlags(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return cmd.CommandPath(), ""
		}
		return "", err.Error()
	}
	if cmd.Args != nil {
		if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
			return cmd.CommandPath(), err.Error()
		}
	}
	if check := docValueChecks[cmd.CommandPath()]; check != nil {
		if err := check(cmd); err != nil {
			return cmd.CommandPath(), err.Error()
		}
	}
	return cmd.CommandPath(), ""
}

// docValueChecks hold a documented command's flag values to what the command
// accepts before it does anything, where a flag's parsing alone cannot (the
// runbook once had operators run init with a candidate id init refuses).
var docValueChecks = map[string]func(*cobra.Command) error{
	"flx conformance init": func(cmd *cobra.Command) error {
		if f := cmd.Flags().Lookup("candidate"); f != nil && f.Changed {
			_, err := conformance.ParseCandidate(f.Value.String())
			return err
		}
		return nil
	},
}
