package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"time"

	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/fedadmin"
)

// runFederationCmd runs the flx command tree in-process.
func runFederationCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestFederationCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fed")
	initArgs := []string{"federation", "init", "--dir", dir, "--name", "demo",
		"--member", "XA-RC:XA:society:https://127.0.0.1:18443",
		"--member", "XB-RC:XB:society:https://xb-rc:8443",
		"--member", "ICRC-CTA:XC:coordinator:https://icrc-cta:8443",
		"--host", "XB-RC=xb-rc.example", "--host", "ICRC-CTA=icrc-cta.example,XB-RC=xb-rc.internal",
	}
	out, err := runFederationCmd(t, initArgs...)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for _, want := range []string{`Federation "demo" created`, "XA-RC", "ICRC-CTA", "tokens.txt", "keep it offline"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	secrets := []string{`"d":`, "PRIVATE KEY"}
	for _, id := range []string{"XA-RC", "XB-RC", "ICRC-CTA"} {
		b, err := os.ReadFile(fedadmin.MemberPath(dir, id, fedadmin.MemberTokensFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			secrets = append(secrets, strings.Fields(line)[2])
		}
	}
	noSecrets := func(step, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s printed a secret (%.8s...)", step, s)
			}
		}
	}
	noSecrets("init", out)

	// Re-running init refuses without --force.
	if out, err := runFederationCmd(t, initArgs...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second init: %v\n%s", err, out)
	}

	steps := []struct {
		name    string
		args    []string
		version int64
		want    string
	}{
		{"add-member", []string{"federation", "add-member", "--dir", dir, "--member", "XD-RC:XD:delegation:https://xd-rc:8443", "--host", "XD-RC=xd-rc.example"}, 2, "Member XD-RC added"},
		{"rotate-key", []string{"federation", "rotate-key", "--dir", dir, "--member", "XA-RC", "--overlap", "24h"}, 3, "new signing key"},
		{"rotate-key later", []string{"federation", "rotate-key", "--dir", dir, "--member", "XB-RC", "--not-before", "10m"}, 4, "new signing key"},
		{"suspend", []string{"federation", "suspend", "--dir", dir, "--member", "XB-RC"}, 5, "XB-RC is now suspended"},
		{"reinstate", []string{"federation", "suspend", "--dir", dir, "--member", "XB-RC", "--reinstate"}, 6, "XB-RC is now active"},
		{"renew", []string{"federation", "renew", "--dir", dir, "--manifest-validity", "168h"}, 7, "Manifest version 7 signed"},
	}
	for _, st := range steps {
		out, err := runFederationCmd(t, st.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", st.name, err, out)
		}
		if !strings.Contains(out, st.want) {
			t.Errorf("%s output lacks %q:\n%s", st.name, st.want, out)
		}
		noSecrets(st.name, out)
		m, _, err := fedadmin.LoadManifest(filepath.Join(dir, fedadmin.ManifestFile), filepath.Join(dir, filepath.FromSlash(fedadmin.AnchorPubFile)), fedTestNow())
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != st.version {
			t.Errorf("%s: manifest version %d, want %d", st.name, m.Version, st.version)
		}
	}

	out, err = runFederationCmd(t, "federation", "show", "--dir", dir)
	if err != nil {
		t.Fatalf("show: %v\n%s", err, out)
	}
	sk, err := jose.LoadPrivateKey(fedadmin.MemberPath(dir, "XA-RC", fedadmin.MemberSigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"manifest version 7", "XD-RC", "ACTIVE", sk.KID(), "valid, retiring", "not yet valid"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	noSecrets("show", out)

	// A member's own copy verifies with its pinned anchor.
	out, err = runFederationCmd(t, "federation", "show", "--json",
		"--manifest", fedadmin.MemberPath(dir, "XA-RC", fedadmin.MemberManifestFile),
		"--anchor", fedadmin.MemberPath(dir, "XA-RC", fedadmin.MemberAnchorFile))
	if err != nil || !strings.Contains(out, `"version": 7`) {
		t.Errorf("show --json of a member's copy: %v\n%s", err, out)
	}
}

func TestFederationCommandErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fed")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad member", []string{"federation", "init", "--dir", dir, "--name", "x", "--member", "xa:XA:society:https://a:1"}, "is not a member id"},
		{"bad role and country", []string{"federation", "init", "--dir", dir, "--name", "x", "--member", "XA-RC:xa:friend:https://a:1"}, "is not society, delegation or coordinator"},
		{"host of no member", []string{"federation", "init", "--dir", dir, "--name", "x", "--member", "XA-RC:XA:society:https://a:1", "--host", "XB-RC=b"}, "no such --member"},
		{"duplicate", []string{"federation", "init", "--dir", dir, "--name", "x", "--member", "XA-RC:XA:society:https://a:1", "--member", "XA-RC:XA:society:https://b:1"}, "given twice"},
		{"missing flags", []string{"federation", "init", "--dir", dir}, "required flag"},
		{"no federation", []string{"federation", "suspend", "--dir", dir, "--member", "XA-RC"}, "anchor"},
		{"show nothing", []string{"federation", "show"}, "give --dir"},
		{"bad not-before", []string{"federation", "rotate-key", "--dir", dir, "--member", "XA-RC", "--not-before", "soon"}, "neither an RFC 3339 time nor a duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runFederationCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want an error containing %q\n%s", tc.args, err, tc.want, out)
			}
		})
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused init created the directory")
	}
}

func TestParseTimeOrOffset(t *testing.T) {
	now := fedTestNow()
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"10m", now.Add(10 * 60e9).Format("2006-01-02T15:04:05Z07:00"), true},
		{"+1h", now.Add(3600e9).Format("2006-01-02T15:04:05Z07:00"), true},
		{"2030-01-02T03:04:05Z", "2030-01-02T03:04:05Z", true},
		{"soon", "", false},
	} {
		got, err := parseTimeOrOffset(tc.in, now)
		if (err == nil) != tc.ok || (tc.ok && got.Format("2006-01-02T15:04:05Z07:00") != tc.want) {
			t.Errorf("parseTimeOrOffset(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func fedTestNow() time.Time { return time.Now() }
