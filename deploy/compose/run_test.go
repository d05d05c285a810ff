package compose

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/familylinks/flx/deploy/internal/runtest"
)

// This file plays the Compose file without a container engine: it runs the
// real flx binary with each service's command, environment and volume
// layout, mapping container paths to a temporary directory and the
// listeners to free loopback ports. It checks that the init service's
// arguments are accepted, that a second init is refused (why init sits in a
// profile), that each node starts from its member folder with its
// environment and passes the service's health check, and that it stops
// cleanly on SIGTERM within stop_grace_period.

// hostPath maps a container path under a volume mount to the host
// directory standing in for the volume.
func hostPath(t *testing.T, s types.ServiceConfig, volumes string, p string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeVolume || (p != v.Target && !strings.HasPrefix(p, v.Target+"/")) {
			continue
		}
		src := filepath.Join(volumes, v.Source)
		if v.Volume != nil && v.Volume.Subpath != "" {
			src = filepath.Join(src, filepath.FromSlash(v.Volume.Subpath))
		}
		return filepath.Join(src, strings.TrimPrefix(p, v.Target))
	}
	t.Fatalf("%s: %s is not on a volume", s.Name, p)
	return ""
}

func TestComposeRunsWithTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs flx; skipped with -short")
	}
	flx := runtest.BuildFlx(t)
	p := mustLoad(t, "init")
	volumes := t.TempDir()
	for name := range p.Volumes {
		if err := os.MkdirAll(filepath.Join(volumes, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}

	// The one-shot: its exact arguments, with container paths mapped.
	initSvc, err := p.GetService("init")
	if err != nil {
		t.Fatal(err)
	}
	args := make([]string, len(initSvc.Command))
	for i, a := range initSvc.Command {
		if strings.HasPrefix(a, "/") {
			a = hostPath(t, initSvc, volumes, a)
		}
		args[i] = a
	}
	run := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, flx, args...)
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("init service: flx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if out, err := run(); err == nil {
		t.Errorf("a second init succeeded; the compose file relies on it refusing (init is in a profile for that reason):\n%s", out)
	}

	for _, m := range members {
		t.Run(m.service, func(t *testing.T) {
			s, err := p.GetService(m.service)
			if err != nil {
				t.Fatal(err)
			}
			// The node's command, config path mapped into its member folder.
			nodeArgs := make([]string, len(s.Command))
			for i, a := range s.Command {
				if strings.HasPrefix(a, "/etc/flx/") {
					a = hostPath(t, s, volumes, a)
					if _, err := os.Stat(a); err != nil {
						t.Fatalf("the node's config is not where init put it: %v", err)
					}
				}
				nodeArgs[i] = a
			}
			// Its environment, with the listeners on free loopback ports and
			// the embedded database instead of the member's PostgreSQL
			// container (the DSN's shape is checked in TestNodes).
			fedAddr, localAddr := runtest.FreePort(t), runtest.FreePort(t)
			var env []string
			for k, v := range s.Environment {
				switch k {
				case "FLX_FEDERATION_LISTEN":
					env = append(env, k+"="+fedAddr)
				case "FLX_LOCAL_API_LISTEN":
					env = append(env, k+"="+localAddr)
				case "FLX_STORE_DSN":
				default:
					if v != nil {
						env = append(env, k+"="+*v)
					}
				}
			}
			cmd := exec.Command(flx, nodeArgs...)
			cmd.Env = env
			node := runtest.Start(t, cmd)

			// The service's health check, pointed at the mapped port.
			hc := []string(s.HealthCheck.Test)
			if len(hc) < 2 || hc[0] != "CMD" || hc[1] != "/flx" {
				t.Fatalf("healthcheck %v", hc)
			}
			hcArgs := append(append([]string(nil), hc[2:]...), "--url", "http://"+localAddr+"/healthz")
			deadline := time.Now().Add(time.Duration(*s.HealthCheck.StartPeriod) + 30*time.Second)
			last := node.WaitUntil(t, deadline, "before becoming healthy", func() error {
				c := exec.Command(flx, hcArgs...)
				c.Env = []string{}
				out, err := c.CombinedOutput()
				if err != nil {
					return fmt.Errorf("%w: %s", err, out)
				}
				return nil
			})
			if last != nil {
				t.Fatalf("flx %s never passed: %v\nnode output:\n%s", strings.Join(hcArgs, " "), last, node.Logs())
			}
			ready := exec.Command(flx, "healthcheck", "--url", "http://"+localAddr+"/readyz")
			if out, err := ready.CombinedOutput(); err != nil {
				t.Errorf("/readyz: %v %s", err, out)
			}

			// docker compose stop: SIGTERM, then SIGKILL after stop_grace_period.
			grace := time.Duration(*s.StopGracePeriod)
			node.Stop(t, grace, "stop_grace_period "+grace.String())
			if strings.Contains(node.Logs(), `"level":"ERROR"`) {
				t.Errorf("node logged errors:\n%s", node.Logs())
			}
			if !strings.Contains(node.Logs(), `"msg":"`) {
				t.Errorf("logs are not JSON (FLX_LOG_FORMAT=json):\n%s", node.Logs())
			}
		})
	}
}
