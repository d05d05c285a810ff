package compose

import (
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/familylinks/flx/node/config"
)

const testPassword = "0123456789abcdef0123456789abcdef"

// member is one federation member of the demo and its services.
type member struct {
	id, country, role string
	service, db       string
	localPort         string
}

var members = []member{
	{"XA-RC", "XA", "society", "xa-rc", "xa-rc-db", "8081"},
	{"XB-RC", "XB", "society", "xb-rc", "xb-rc-db", "8082"},
	{"ICRC-CTA", "XC", "coordinator", "icrc-cta", "icrc-cta-db", "8083"},
}

// load reads compose.yaml (or content, when given) with the Compose
// specification's loader: schema validation and the consistency checks on.
func load(t *testing.T, content []byte, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	file := types.ConfigFile{Filename: filepath.Join(dir, "compose.yaml")}
	if content != nil {
		file.Content = content
	}
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{file},
		Environment: env,
	}
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.Profiles = profiles
		o.ResolvePaths = true
	})
}

func mustLoad(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	p, err := load(t, nil, map[string]string{"FLX_DB_PASSWORD": testPassword}, profiles...)
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func TestComposeLoads(t *testing.T) {
	tests := []struct {
		name     string
		profiles []string
		enabled  []string
		disabled []string
	}{
		{
			name:     "default: nodes and databases, init disabled",
			enabled:  []string{"icrc-cta", "icrc-cta-db", "xa-rc", "xa-rc-db", "xb-rc", "xb-rc-db"},
			disabled: []string{"init"},
		},
		{
			name:     "init profile: init runs first",
			profiles: []string{"init"},
			enabled:  []string{"icrc-cta", "icrc-cta-db", "init", "xa-rc", "xa-rc-db", "xb-rc", "xb-rc-db"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustLoad(t, tc.profiles...)
			if p.Name != "flx-demo" {
				t.Errorf("project name %q", p.Name)
			}
			if got := p.ServiceNames(); !reflect.DeepEqual(got, tc.enabled) {
				t.Errorf("enabled services %v, want %v", got, tc.enabled)
			}
			if got := p.DisabledServiceNames(); !reflect.DeepEqual(sorted(got), sorted(tc.disabled)) {
				t.Errorf("disabled services %v, want %v", got, tc.disabled)
			}
		})
	}
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestComposeLoaderIsStrict proves the check has teeth: the same loader
// refuses unknown keys, a missing password and a dangling dependency.
func TestComposeLoaderIsStrict(t *testing.T) {
	orig, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLX_DB_PASSWORD": testPassword}
	tests := []struct {
		name    string
		content []byte
		env     map[string]string
		want    string
	}{
		{
			name:    "unknown service key",
			content: []byte(strings.Replace(string(orig), "    hostname: xa-rc\n", "    hostname: xa-rc\n    read_onyl: true\n", 1)),
			env:     env,
			want:    "read_onyl",
		},
		{
			name:    "unknown top-level key",
			content: append(append([]byte(nil), orig...), []byte("\nsecretz: {}\n")...),
			env:     env,
			want:    "secretz",
		},
		{
			name:    "no database password",
			content: orig,
			env:     map[string]string{},
			want:    "FLX_DB_PASSWORD",
		},
		{
			name:    "dependency on a service that does not exist",
			content: []byte(strings.Replace(string(orig), "      xa-rc-db:\n        condition: service_healthy", "      xa-rc-dbx:\n        condition: service_healthy", 1)),
			env:     env,
			want:    "xa-rc-dbx",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.content) == string(orig) && tc.env["FLX_DB_PASSWORD"] != "" {
				t.Fatal("test case did not change the file")
			}
			_, err := load(t, tc.content, tc.env, "init")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load error %v, want one naming %q", err, tc.want)
			}
			if testing.Verbose() {
				t.Logf("refused: %v", err)
			}
		})
	}
}

// checkHardened asserts the container settings every flx service shares.
func checkHardened(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if s.Image != "flx:dev" {
		t.Errorf("%s: image %q, want ${FLX_IMAGE:-flx:dev}", s.Name, s.Image)
	}
	if s.User != "65532:65532" {
		t.Errorf("%s: user %q, want the image's non-root 65532:65532", s.Name, s.User)
	}
	if !s.ReadOnly {
		t.Errorf("%s: root filesystem not read_only", s.Name)
	}
	if !reflect.DeepEqual(s.CapDrop, []string{"ALL"}) || len(s.CapAdd) != 0 {
		t.Errorf("%s: cap_drop %v cap_add %v, want [ALL] and none", s.Name, s.CapDrop, s.CapAdd)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s: security_opt %v lacks no-new-privileges", s.Name, s.SecurityOpt)
	}
	if s.Privileged || s.Pid != "" || s.Ipc != "" {
		t.Errorf("%s: privileged or host namespaces", s.Name)
	}
	var tmp bool
	for _, m := range s.Tmpfs {
		tmp = tmp || strings.HasPrefix(m, "/tmp")
	}
	if !tmp {
		t.Errorf("%s: no tmpfs on /tmp (read-only root)", s.Name)
	}
	if s.Logging == nil || s.Logging.Options["max-size"] == "" {
		t.Errorf("%s: logs not rotated", s.Name)
	}
}

func TestNodes(t *testing.T) {
	p := mustLoad(t, "init")
	flxVars := map[string]bool{}
	for _, n := range config.EnvNames() {
		flxVars[n] = true
	}
	for _, m := range members {
		t.Run(m.id, func(t *testing.T) {
			s, err := p.GetService(m.service)
			if err != nil {
				t.Fatal(err)
			}
			checkHardened(t, s)
			if !reflect.DeepEqual([]string(s.Command), []string{"serve", "--config", "/etc/flx/config.yaml"}) {
				t.Errorf("command %v", s.Command)
			}
			if s.Restart != "unless-stopped" {
				t.Errorf("restart %q", s.Restart)
			}
			// A graceful drain outlasts one delivery attempt (request_timeout, 30s).
			if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= 30*time.Second {
				t.Errorf("stop_grace_period %v, want more than 30s for a graceful drain", s.StopGracePeriod)
			}
			// Health check without a shell.
			if s.HealthCheck == nil || s.HealthCheck.Disable || !reflect.DeepEqual([]string(s.HealthCheck.Test), []string{"CMD", "/flx", "healthcheck"}) {
				t.Errorf("healthcheck %+v, want [CMD /flx healthcheck]", s.HealthCheck)
			}
			// Start order: the federation exists, the database answers.
			deps := map[string]struct {
				cond     string
				required bool
			}{
				"init": {types.ServiceConditionCompletedSuccessfully, false},
				m.db:   {types.ServiceConditionHealthy, true},
			}
			if len(s.DependsOn) != len(deps) {
				t.Errorf("depends_on %v, want %v", s.DependsOn, deps)
			}
			for name, want := range deps {
				got, ok := s.DependsOn[name]
				if !ok || got.Condition != want.cond || got.Required != want.required {
					t.Errorf("depends_on %s = %+v (present %v), want %+v", name, got, ok, want)
				}
			}
			// Environment: only real FLX_* names; listeners reachable in the
			// container; the DSN points at this member's own database.
			for k := range s.Environment {
				if strings.HasPrefix(k, "FLX_") && !flxVars[k] {
					t.Errorf("environment %s is not a node/config variable", k)
				}
			}
			env := func(k string) string {
				if v := s.Environment[k]; v != nil {
					return *v
				}
				return ""
			}
			for k, want := range map[string]string{
				"FLX_FEDERATION_LISTEN": "0.0.0.0:8443",
				"FLX_LOCAL_API_LISTEN":  "0.0.0.0:8080",
				"FLX_LOG_FORMAT":        "json",
			} {
				if env(k) != want {
					t.Errorf("%s=%q, want %q", k, env(k), want)
				}
			}
			dsn, err := url.Parse(env("FLX_STORE_DSN"))
			if err != nil {
				t.Fatalf("FLX_STORE_DSN: %v", err)
			}
			if dsn.Scheme != "postgres" || dsn.Hostname() != m.db || dsn.Query().Get("sslmode") == "" {
				t.Errorf("FLX_STORE_DSN %s: want postgres to %s with an explicit sslmode", dsn.Redacted(), m.db)
			}
			if pw, _ := dsn.User.Password(); pw != testPassword {
				t.Errorf("FLX_STORE_DSN password not taken from FLX_DB_PASSWORD")
			}
			// Published ports: the local API on loopback only; nothing else.
			if len(s.Ports) != 1 {
				t.Errorf("ports %+v, want only the local API", s.Ports)
			}
			for _, port := range s.Ports {
				if ip := net.ParseIP(port.HostIP); ip == nil || !ip.IsLoopback() {
					t.Errorf("port %d published on %q, want 127.0.0.1", port.Target, port.HostIP)
				}
				if port.Target != 8080 || port.Published != m.localPort {
					t.Errorf("port %s->%d, want %s->8080", port.Published, port.Target, m.localPort)
				}
			}
			// Own member folder only (never the anchor key or other members').
			if len(s.Volumes) != 1 {
				t.Fatalf("volumes %+v", s.Volumes)
			}
			v := s.Volumes[0]
			if v.Type != types.VolumeTypeVolume || v.Source != "federation" || v.Target != "/etc/flx" || v.Volume == nil || v.Volume.Subpath != "federation/members/"+m.id {
				t.Errorf("volume %+v, want federation subpath federation/members/%s at /etc/flx", v, m.id)
			}
			if _, ok := s.Networks["federation"]; !ok {
				t.Errorf("not on the federation network")
			}
			if _, ok := s.Networks[m.db]; !ok || len(s.Networks) != 2 {
				t.Errorf("networks %v, want federation and %s", slices.Sorted(maps.Keys(s.Networks)), m.db)
			}
			if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 || s.Deploy.Resources.Limits.Pids == 0 {
				t.Errorf("no memory/pids limits")
			}
		})
	}
}

var memberIDRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,31}$`)

// TestInit checks the one-shot against the CLI contract: `flx federation
// init --dir OUT --name NAME --member ID:COUNTRY:ROLE:ENDPOINT ... --host ID=hostname`.
func TestInit(t *testing.T) {
	p := mustLoad(t, "init")
	s, err := p.GetService("init")
	if err != nil {
		t.Fatal(err)
	}
	checkHardened(t, s)
	if s.Restart != "no" || s.NetworkMode != "none" || !reflect.DeepEqual(s.Profiles, []string{"init"}) || len(s.Ports) != 0 {
		t.Errorf("init: restart %q network_mode %q profiles %v ports %v: want a network-less one-shot in profile init", s.Restart, s.NetworkMode, s.Profiles, s.Ports)
	}
	if s.HealthCheck == nil || !s.HealthCheck.Disable {
		t.Errorf("init: the image's health check should be disabled for a one-shot")
	}
	args := []string(s.Command)
	if len(args) < 2 || args[0] != "federation" || args[1] != "init" {
		t.Fatalf("init command %v", args)
	}
	flags := map[string][]string{}
	for i := 2; i < len(args); i += 2 {
		if !strings.HasPrefix(args[i], "--") || i+1 >= len(args) {
			t.Fatalf("init command %v: want --flag value pairs", args)
		}
		flags[args[i]] = append(flags[args[i]], args[i+1])
	}
	if got := flags["--dir"]; len(got) != 1 || got[0] != "/var/lib/flx/federation" {
		t.Errorf("--dir %v", got)
	}
	if len(s.Volumes) != 1 || s.Volumes[0].Source != "federation" || s.Volumes[0].Target != "/var/lib/flx" {
		t.Errorf("init volumes %+v: want the federation volume at /var/lib/flx", s.Volumes)
	}
	if got := flags["--name"]; len(got) != 1 || got[0] == "" {
		t.Errorf("--name %v", got)
	}
	hosts := map[string]string{}
	for _, h := range flags["--host"] {
		id, host, ok := strings.Cut(h, "=")
		if !ok {
			t.Errorf("--host %q is not ID=hostname", h)
		}
		hosts[id] = host
	}
	got := map[string]member{}
	for _, spec := range flags["--member"] {
		parts := strings.SplitN(spec, ":", 4)
		if len(parts) != 4 {
			t.Errorf("--member %q is not ID:COUNTRY:ROLE:ENDPOINT", spec)
			continue
		}
		got[parts[0]] = member{id: parts[0], country: parts[1], role: parts[2]}
		if !memberIDRE.MatchString(parts[0]) {
			t.Errorf("--member %q: bad member id", spec)
		}
		u, err := url.Parse(parts[3])
		if err != nil || u.Scheme != "https" || u.Port() != "8443" {
			t.Errorf("--member %q: endpoint must be https://host:8443", spec)
			continue
		}
		if hosts[parts[0]] != u.Hostname() {
			t.Errorf("--member %s endpoint host %q but --host gives %q: the certificate would not match", parts[0], u.Hostname(), hosts[parts[0]])
		}
		if _, err := p.GetService(u.Hostname()); err != nil {
			t.Errorf("--member %s endpoint host %q is not a service on the federation network", parts[0], u.Hostname())
		}
	}
	for _, m := range members {
		g, ok := got[m.id]
		if !ok || g.country != m.country || g.role != m.role {
			t.Errorf("member %s: got %+v, want country %s role %s", m.id, g, m.country, m.role)
		}
	}
	if len(got) != len(members) {
		t.Errorf("members %v, want %d", slices.Sorted(maps.Keys(got)), len(members))
	}
}

func TestDatabases(t *testing.T) {
	p := mustLoad(t)
	for _, m := range members {
		t.Run(m.db, func(t *testing.T) {
			s, err := p.GetService(m.db)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s.Image, "postgres:16") {
				t.Errorf("image %q, want postgres:16", s.Image)
			}
			if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Test[0] != "CMD" || s.HealthCheck.Test[1] != "pg_isready" {
				t.Errorf("healthcheck %+v, want pg_isready", s.HealthCheck)
			}
			if len(s.Ports) != 0 {
				t.Errorf("database publishes ports %+v", s.Ports)
			}
			if len(s.Volumes) != 1 || s.Volumes[0].Type != types.VolumeTypeVolume || s.Volumes[0].Target != "/var/lib/postgresql/data" {
				t.Errorf("volumes %+v, want a named volume for the data", s.Volumes)
			}
			if pw := s.Environment["POSTGRES_PASSWORD"]; pw == nil || *pw != testPassword {
				t.Errorf("POSTGRES_PASSWORD not from FLX_DB_PASSWORD")
			}
			if !reflect.DeepEqual(slices.Sorted(maps.Keys(s.Networks)), []string{m.db}) {
				t.Errorf("networks %v, want only %s", slices.Sorted(maps.Keys(s.Networks)), m.db)
			}
			if n := p.Networks[m.db]; !n.Internal {
				t.Errorf("network %s is not internal", m.db)
			}
			if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("security_opt %v", s.SecurityOpt)
			}
		})
	}
	if p.Networks["federation"].Internal {
		t.Error("the federation network must reach peers")
	}
	seen := map[string]string{}
	for _, m := range members {
		s, _ := p.GetService(m.db)
		vol := s.Volumes[0].Source
		if other, dup := seen[vol]; dup {
			t.Errorf("%s and %s share volume %s", m.db, other, vol)
		}
		seen[vol] = m.db
	}
}
