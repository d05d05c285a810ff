package helm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// This file plays the rendered chart without a cluster: the ConfigMap and
// Secret are written where the pod would mount them (under a temporary
// root), and the real flx binary runs with the container's args and
// environment. The node must come up from the chart's config.yaml, answer
// the probes' paths, and stop on SIGTERM within the grace period.

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

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestChartRunsWithTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs flx; skipped with -short")
	}
	flx := buildFlx(t)

	// Real trust material for member XA-RC, as the federation operator
	// would hand it over.
	fed := filepath.Join(t.TempDir(), "federation")
	initCmd := exec.Command(flx, "federation", "init", "--dir", fed, "--name", "chart-test",
		"--member", "XA-RC:XA:society:https://flx.xa-rc.example:8443",
		"--member", "ICRC-CTA:XC:coordinator:https://flx.icrc-cta.example:8443")
	initCmd.Env = []string{}
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("flx federation init: %v\n%s", err, out)
	}
	m := filepath.Join(fed, "members", "XA-RC")
	vals := values(
		set("keys", map[string]any{
			"tlsCert":    readFile(t, filepath.Join(m, "data", "tls", "cert.pem")),
			"tlsKey":     readFile(t, filepath.Join(m, "data", "tls", "key.pem")),
			"signingKey": readFile(t, filepath.Join(m, "data", "keys", "signing.jwk")),
		}),
		set("trust", map[string]any{
			"anchor":   readFile(t, filepath.Join(m, "data", "trust", "anchor.jwk")),
			"manifest": readFile(t, filepath.Join(m, "data", "trust", "manifest.jws")),
		}),
		set("policy.rules", readFile(t, filepath.Join(m, "policy.yaml"))),
	)
	o := mustRender(t, vals)
	d, _ := checkCommon(t, o, 1)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]

	// Materialise the pod's volumes under root, with the modes the kubelet
	// gives them: ConfigMap files defaultMode, Secret files defaultMode plus
	// group read (fsGroup is set).
	root := t.TempDir()
	mapPath := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	materialise := func(vm corev1.VolumeMount) {
		dir := mapPath(vm.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		v := vols[vm.Name]
		var files map[string]string
		var mode os.FileMode
		switch {
		case v.ConfigMap != nil:
			files, mode = o.configMaps[v.ConfigMap.Name].Data, os.FileMode(*v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			files, mode = map[string]string{}, os.FileMode(*v.Secret.DefaultMode)|0o440
			for k, b := range o.secrets[v.Secret.SecretName].Data {
				files[k] = string(b)
			}
		}
		for name, content := range files {
			if name == "config.yaml" {
				for _, mp := range []string{"/etc/flx/config", "/etc/flx/keys", "/var/lib/flx"} {
					content = strings.ReplaceAll(content, mp, mapPath(mp))
				}
			}
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The keys init container: what its shell command does (the test has
	// no busybox): copy every file of the Secret mount into the keys
	// volume, mode 0400.
	for _, ic := range pod.InitContainers {
		if ic.Name != "keys" || len(ic.VolumeMounts) != 2 {
			t.Fatalf("init container %s: the test does not know how to play it", ic.Name)
		}
		for _, vm := range ic.VolumeMounts {
			materialise(vm)
		}
		src, dst := mapPath(ic.VolumeMounts[0].MountPath), mapPath(ic.VolumeMounts[1].MountPath)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o400); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mountPaths []string
	for _, vm := range c.VolumeMounts {
		mountPaths = append(mountPaths, vm.MountPath)
		materialise(vm)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		for _, mp := range mountPaths {
			if strings.HasPrefix(a, mp+"/") {
				a = mapPath(a)
				break
			}
		}
		args[i] = a
	}
	localAddr, fedAddr := freePort(t), freePort(t)
	env := []string{"FLX_LOCAL_API_LISTEN=" + localAddr, "FLX_FEDERATION_LISTEN=" + fedAddr, "GOMEMLIMIT=536870912"}
	for _, e := range c.Env {
		if e.Value != "" {
			env = append(env, e.Name+"="+e.Value)
		}
	}

	var logs syncBuffer
	cmd := exec.Command(flx, args...)
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

	client := &http.Client{Timeout: 5 * time.Second}
	probe := func(p *corev1.Probe) error {
		resp, err := client.Get("http://" + localAddr + p.HTTPGet.Path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	// The startup probe's budget: failureThreshold x periodSeconds.
	budget := time.Duration(c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds) * time.Second
	deadline := time.Now().Add(budget)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			exited = true
			t.Fatalf("node exited on start: %v\n%s", err, logs.String())
		default:
		}
		if last = probe(c.StartupProbe); last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != nil {
		t.Fatalf("startup probe %s never passed: %v\n%s", c.StartupProbe.HTTPGet.Path, last, logs.String())
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if err := probe(p); err != nil {
			t.Errorf("%s probe %s: %v", name, p.HTTPGet.Path, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mapPath("/var/lib/flx"), "flx.db")); err != nil {
		t.Errorf("the SQLite store is not in the data volume: %v", err)
	}

	// Pod termination: SIGTERM, SIGKILL after terminationGracePeriodSeconds.
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
	case <-time.After(time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second):
		t.Errorf("node did not stop within terminationGracePeriodSeconds\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"`) {
		t.Errorf("logs are not JSON (config log.format json):\n%s", logs.String())
	}
}
