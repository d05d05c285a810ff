package variant

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// Scan reports what in the binary bin betrays test-only code: every symbol
// (go tool nm) whose name matches Marker or one of symbols, and every one of
// Env and strs found in its bytes. A release binary has none; a variant
// binary has them all.
func Scan(ctx context.Context, bin string, symbols []*regexp.Regexp, strs []string) ([]string, error) {
	var found []string
	cmd := exec.CommandContext(ctx, "go", "tool", "nm", bin)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("variant: go tool nm %s: %w", bin, err)
	}
	pats := append([]*regexp.Regexp{regexp.MustCompile(regexp.QuoteMeta(Marker))}, symbols...)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		name := f[len(f)-1]
		for _, p := range pats {
			if p.MatchString(name) {
				found = append(found, "symbol "+name)
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	for _, s := range append([]string{Env}, strs...) {
		if bytes.Contains(b, []byte(s)) {
			found = append(found, fmt.Sprintf("string %q", s))
		}
	}
	return found, nil
}
