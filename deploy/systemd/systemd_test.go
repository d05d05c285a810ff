package systemd

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node/config"
)

// unit is a parsed unit file: section -> key -> values in order (a key may
// repeat; an empty assignment resets the list, as systemd does).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			t.Fatalf("%s:%d: line continuations are not used here", path, n)
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a key=value in a section: %q", path, n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if val == "" && key != "CapabilityBoundingSet" && key != "AmbientCapabilities" {
			u[section][key] = nil
			continue
		}
		u[section][key] = append(u[section][key], val)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) get(section, key string) ([]string, bool) {
	v, ok := u[section][key]
	return v, ok
}

func TestUnitHardening(t *testing.T) {
	u := parseUnit(t, "flx.service")
	is := func(want string) func([]string) bool {
		return func(v []string) bool { return len(v) == 1 && v[0] == want }
	}
	has := func(want ...string) func([]string) bool {
		return func(v []string) bool {
			for _, w := range want {
				found := false
				for _, x := range v {
					for _, f := range strings.Fields(x) {
						found = found || f == w
					}
				}
				if !found {
					return false
				}
			}
			return true
		}
	}
	yes := is("yes")
	tests := []struct {
		section, key string
		ok           func([]string) bool
		why          string
	}{
		{"Service", "User", is("flx"), "a dedicated unprivileged user"},
		{"Service", "Group", is("flx"), "its own group"},
		{"Service", "Type", is("exec"), "start failures surface (the binary has no sd_notify)"},
		{"Service", "NoNewPrivileges", yes, "no setuid escalation"},
		{"Service", "ProtectSystem", is("strict"), "the whole file system read-only"},
		{"Service", "ProtectHome", yes, "no access to /home"},
		{"Service", "PrivateTmp", yes, "own /tmp"},
		{"Service", "PrivateDevices", yes, "no device nodes"},
		{"Service", "PrivateUsers", yes, "user namespace"},
		{"Service", "ProtectKernelTunables", yes, ""},
		{"Service", "ProtectKernelModules", yes, ""},
		{"Service", "ProtectKernelLogs", yes, ""},
		{"Service", "ProtectControlGroups", yes, ""},
		{"Service", "ProtectClock", yes, ""},
		{"Service", "ProtectHostname", yes, ""},
		{"Service", "ProtectProc", is("invisible"), "other processes hidden"},
		{"Service", "CapabilityBoundingSet", is(""), "no capabilities at all (ports are above 1024)"},
		{"Service", "AmbientCapabilities", is(""), "no ambient capabilities"},
		{"Service", "RestrictAddressFamilies", func(v []string) bool {
			return has("AF_INET", "AF_INET6", "AF_UNIX")(v) && len(strings.Fields(strings.Join(v, " "))) == 3
		}, "IP and the local PostgreSQL socket only"},
		{"Service", "RestrictNamespaces", yes, ""},
		{"Service", "RestrictRealtime", yes, ""},
		{"Service", "RestrictSUIDSGID", yes, ""},
		{"Service", "LockPersonality", yes, ""},
		{"Service", "MemoryDenyWriteExecute", yes, "Go needs no W+X memory"},
		{"Service", "SystemCallArchitectures", is("native"), ""},
		{"Service", "SystemCallFilter", has("@system-service", "~@privileged", "@resources"), "allow-list, minus privileged calls"},
		{"Service", "UMask", is("0077"), "files the node writes are private"},
		{"Service", "StateDirectory", is("flx"), "/var/lib/flx, the only writable place"},
		{"Service", "StateDirectoryMode", is("0700"), ""},
		{"Service", "ConfigurationDirectory", is("flx"), "/etc/flx"},
		{"Service", "Restart", is("on-failure"), ""},
		{"Service", "KillSignal", is("SIGTERM"), "graceful shutdown"},
		{"Service", "TimeoutStopSec", func(v []string) bool {
			d, err := time.ParseDuration(strings.Join(v, ""))
			return err == nil && d > 30*time.Second
		}, "longer than one delivery attempt (request_timeout 30s)"},
		{"Service", "EnvironmentFile", is("-/etc/flx/flx.env"), "optional secrets file"},
		{"Unit", "After", has("network-online.target"), ""},
		{"Unit", "Wants", has("network-online.target"), ""},
		{"Install", "WantedBy", is("multi-user.target"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.section+"/"+tc.key, func(t *testing.T) {
			v, ok := u.get(tc.section, tc.key)
			if !ok || !tc.ok(v) {
				t.Errorf("[%s] %s = %q (present %v): want it for %s", tc.section, tc.key, v, ok, tc.why)
			}
		})
	}
	// DynamicUser would give the key files a different owner at each start;
	// LoadCredential= hands files over with an ACL, which the node's check
	// (no group or other access to a private key) refuses.
	for _, forbidden := range []string{"DynamicUser", "LoadCredential", "PermissionsStartOnly", "RootDirectoryStartOnly"} {
		if _, ok := u.get("Service", forbidden); ok {
			t.Errorf("[Service] %s is set", forbidden)
		}
	}
}

// TestUnitRunsTheContract: ExecStart is `flx serve --config PATH` and every
// FLX_* variable is one node/config reads.
func TestUnitRunsTheContract(t *testing.T) {
	u := parseUnit(t, "flx.service")
	execStart, _ := u.get("Service", "ExecStart")
	if len(execStart) != 1 {
		t.Fatalf("ExecStart %q", execStart)
	}
	if got := strings.Fields(execStart[0]); strings.Join(got, " ") != "/usr/local/bin/flx serve --config /etc/flx/config.yaml" {
		t.Errorf("ExecStart %q", execStart[0])
	}
	known := map[string]bool{}
	for _, n := range config.EnvNames() {
		known[n] = true
	}
	env, _ := u.get("Service", "Environment")
	got := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if !known[k] {
			t.Errorf("Environment %s is not a node/config variable", k)
		}
		got[k] = v
	}
	want := map[string]string{"FLX_LOG_FORMAT": "json"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Environment %s=%q, want %q", k, got[k], v)
		}
	}
}

// TestExampleConfig: the example /etc/flx/config.yaml parses strictly the
// way the node reads it and verifies with the unit's overrides applied.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data)
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	env := map[string]string{"FLX_LOG_FORMAT": "json"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	c.Resolve("/etc/flx")
	if err := c.Verify(); err != nil {
		t.Fatalf("config.yaml does not verify: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"data_dir is the StateDirectory", c.DataDir == "/var/lib/flx"},
		{"SQLite (when used) in the StateDirectory", c.Store.DSN == "sqlite:/var/lib/flx/flx.db"},
		{"private keys in /etc/flx/private", c.Federation.TLSKey == "/etc/flx/private/tls.key" && c.Federation.SigningKey == "/etc/flx/private/signing.jwk"},
		{"local API on loopback", strings.HasPrefix(c.LocalAPI.Listen, "127.0.0.1:")},
		{"read-only material under /etc/flx", strings.HasPrefix(c.Federation.TLSCert, "/etc/flx/") && strings.HasPrefix(c.Federation.TrustAnchor, "/etc/flx/") && strings.HasPrefix(c.Policy.Rules, "/etc/flx/")},
		{"json logs for the journal", c.Log.Format == "json"},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("%s: %+v", ck.name, c)
		}
	}
}

// runTool runs a systemd tool, skipping the test where it is not installed.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed here (apt-get install systemd); the Go checks above still ran", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// stagedUnit copies flx.service into a temporary directory with ExecStart
// pointing at a stand-in executable: systemd-analyze verify checks that the
// binary exists, and /usr/local/bin/flx is not installed on a build machine.
func stagedUnit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "flx")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("flx.service")
	if err != nil {
		t.Fatal(err)
	}
	staged := strings.Replace(string(data), "ExecStart=/usr/local/bin/flx ", "ExecStart="+bin+" ", 1)
	if staged == string(data) {
		t.Fatal("ExecStart not found")
	}
	p := filepath.Join(dir, "flx.service")
	if err := os.WriteFile(p, []byte(staged), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdAnalyzeVerify(t *testing.T) {
	p := stagedUnit(t)
	out, err := runTool(t, "systemd-analyze", "verify", "--man=no", p)
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "flx.service") {
			t.Errorf("systemd-analyze verify warns: %s", line)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for flx\.service: ([0-9.]+)`)

// TestSystemdAnalyzeSecurity: systemd's own exposure score for the unit
// (0 = fully locked down, 10 = unprotected) stays at or below 2.0 ("OK").
func TestSystemdAnalyzeSecurity(t *testing.T) {
	p := stagedUnit(t)
	out, err := runTool(t, "systemd-analyze", "security", "--offline=yes", "--threshold=20", "--no-pager", p)
	if strings.Contains(out, "Unknown option") || strings.Contains(out, "unrecognized option") {
		t.Skipf("this systemd-analyze has no offline security review: %s", out)
	}
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 or failure: %v\n%s", err, out)
	}
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

func TestSysusers(t *testing.T) {
	abs, err := filepath.Abs("flx.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runTool(t, "systemd-sysusers", "--root="+root, "--dry-run", abs)
	if err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Creating user 'flx'") || strings.Contains(out, "rror") {
		t.Errorf("systemd-sysusers did not plan the flx user:\n%s", out)
	}
}
