package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// This file plays the Compose file without a container engine: it runs the
// real flx binary with each service's command, environment and volume
// layout, mapping container paths to a temporary directory and the
// listeners to free loopback ports. It checks that the init service's
// arguments are accepted, that a second init is refused (why init sits in a
// profile), that each node starts from its member folder with its
// environment and passes the service's health check, and that it stops
// cleanly on SIGTERM within stop_grace_period.

// syncBuffer collects a process's output while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func buildFlx(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH to build flx with")
	}
	bin := filepath.Join(t.TempDir(), "flx")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./node/cmd/flx")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./node/cmd/flx: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

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
	flx := buildFlx(t)
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
			fedAddr, localAddr := freePort(t), freePort(t)
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
			var logs syncBuffer
			cmd := exec.Command(flx, nodeArgs...)
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			exited := false
			t.Cleanup(func() {
				if !exited {
					_ = cmd.Process.Kill()
					<-done
				}
			})

			// The service's health check, pointed at the mapped port.
			hc := []string(s.HealthCheck.Test)
			if len(hc) < 2 || hc[0] != "CMD" || hc[1] != "/flx" {
				t.Fatalf("healthcheck %v", hc)
			}
			hcArgs := append(append([]string(nil), hc[2:]...), "--url", "http://"+localAddr+"/healthz")
			deadline := time.Now().Add(time.Duration(*s.HealthCheck.StartPeriod) + 30*time.Second)
			var last error
			for time.Now().Before(deadline) {
				select {
				case err := <-done:
					exited = true
					t.Fatalf("node exited before becoming healthy: %v\n%s", err, logs.String())
				default:
				}
				c := exec.Command(flx, hcArgs...)
				c.Env = []string{}
				var out []byte
				if out, last = c.CombinedOutput(); last == nil {
					break
				}
				last = fmt.Errorf("%w: %s", last, out)
				time.Sleep(200 * time.Millisecond)
			}
			if last != nil {
				t.Fatalf("flx %s never passed: %v\nnode output:\n%s", strings.Join(hcArgs, " "), last, logs.String())
			}
			ready := exec.Command(flx, "healthcheck", "--url", "http://"+localAddr+"/readyz")
			if out, err := ready.CombinedOutput(); err != nil {
				t.Errorf("/readyz: %v %s", err, out)
			}

			// docker compose stop: SIGTERM, then SIGKILL after stop_grace_period.
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				exited = true
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Errorf("node exited with %v on SIGTERM\n%s", err, logs.String())
				}
			case <-time.After(time.Duration(*s.StopGracePeriod)):
				t.Errorf("node did not stop within stop_grace_period %s\n%s", time.Duration(*s.StopGracePeriod), logs.String())
			}
			if strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("node logged errors:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), `"msg":"`) {
				t.Errorf("logs are not JSON (FLX_LOG_FORMAT=json):\n%s", logs.String())
			}
		})
	}
}
