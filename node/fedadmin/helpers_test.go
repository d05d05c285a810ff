package fedadmin

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// testSpecs are three members: two on loopback (a demo on one host) and one
// with a DNS endpoint and an extra host name.
func testSpecs(t *testing.T) []MemberSpec {
	t.Helper()
	var specs []MemberSpec
	for _, s := range []string{
		"XA-RC:XA:society:https://127.0.0.1:18443",
		"XB-RC:XB:delegation:https://localhost:18453",
		"ICRC-CTA:XC:coordinator:https://icrc-cta.example:8443",
	} {
		spec, err := ParseMemberSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	if err := AttachHosts(specs, map[string][]string{"ICRC-CTA": {"icrc-cta", "192.0.2.7"}}); err != nil {
		t.Fatal(err)
	}
	return specs
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newFederation(t *testing.T, opts ...Option) (string, *Admin, *Change) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fed")
	a, ch, err := Init(dir, InitConfig{Name: "test-federation", Members: testSpecs(t)}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return dir, a, ch
}

func anchorPub(t *testing.T, dir string) *jose.PublicKey {
	t.Helper()
	k, err := loadPublicKey(fpath(dir, AnchorPubFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readManifest(t *testing.T, dir string, now time.Time) (*federation.Manifest, []byte) {
	t.Helper()
	raw, err := os.ReadFile(fpath(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := federation.VerifyManifest(raw, anchorPub(t, dir), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// readTokens parses tokens.txt: "role name token" per line.
func readTokens(t *testing.T, path string) [][3]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][3]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("%s: line %q is not \"role name token\"", path, sc.Text())
		}
		out = append(out, [3]string{fields[0], fields[1], fields[2]})
	}
	return out
}

// checkDistributed asserts every member folder holds OUT/manifest.jws.
func checkDistributed(t *testing.T, dir string, m *federation.Manifest) {
	t.Helper()
	want, err := os.ReadFile(fpath(dir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range m.Members {
		got, err := os.ReadFile(MemberPath(dir, mb.ID, MemberManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("member %s: data/trust/manifest.jws is not the current manifest", mb.ID)
		}
	}
}
