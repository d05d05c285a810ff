package helm

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/familylinks/flx/deploy/internal/runtest"
)

// This file plays the rendered chart without a cluster: the ConfigMap and
// Secret are written where the pod would mount them (under a temporary
// root), and the real flx binary runs with the container's args and
// environment. The node must come up from the chart's config.yaml, answer
// the probes' paths, and stop on SIGTERM within the grace period.

func TestChartRunsWithTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs flx; skipped with -short")
	}
	flx := runtest.BuildFlx(t)

	// Real trust material for member XA-RC, as the federation operator
	// would hand it over.
	fed := runtest.InitFederation(t, flx, "chart-test")
	m := filepath.Join(fed, "members", "XA-RC")
	vals := values(
		set("keys", map[string]any{
			"tlsCert":     runtest.ReadFile(t, filepath.Join(m, "data", "tls", "cert.pem")),
			"tlsKey":      runtest.ReadFile(t, filepath.Join(m, "data", "tls", "key.pem")),
			"signingKey":  runtest.ReadFile(t, filepath.Join(m, "data", "keys", "signing.jwk")),
			"bundleKey":   runtest.ReadFile(t, filepath.Join(m, "data", "keys", "bundle.jwk")),
			"matchSecret": testMatchSecret,
		}),
		set("trust", map[string]any{
			"anchor":   runtest.ReadFile(t, filepath.Join(m, "data", "trust", "anchor.jwk")),
			"manifest": runtest.ReadFile(t, filepath.Join(m, "data", "trust", "manifest.jws")),
		}),
		set("policy.rules", runtest.ReadFile(t, filepath.Join(m, "policy.yaml"))),
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
	localAddr, fedAddr := runtest.FreePort(t), runtest.FreePort(t)
	env := []string{"FLX_LOCAL_API_LISTEN=" + localAddr, "FLX_FEDERATION_LISTEN=" + fedAddr, "GOMEMLIMIT=536870912"}
	for _, e := range c.Env {
		if e.Value != "" {
			env = append(env, e.Name+"="+e.Value)
		}
	}

	cmd := exec.Command(flx, args...)
	cmd.Env = env
	node := runtest.Start(t, cmd)

	client := &http.Client{Timeout: 5 * time.Second}
	probe := func(p *corev1.Probe) error {
		return runtest.GetOK(client, "http://"+localAddr+p.HTTPGet.Path)
	}
	// The startup probe's budget: failureThreshold x periodSeconds.
	budget := time.Duration(c.StartupProbe.FailureThreshold*c.StartupProbe.PeriodSeconds) * time.Second
	last := node.WaitUntil(t, time.Now().Add(budget), "on start", func() error { return probe(c.StartupProbe) })
	if last != nil {
		t.Fatalf("startup probe %s never passed: %v\n%s", c.StartupProbe.HTTPGet.Path, last, node.Logs())
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if err := probe(p); err != nil {
			t.Errorf("%s probe %s: %v", name, p.HTTPGet.Path, err)
		}
	}
	if strings.Contains(node.Logs(), "no bundle encryption key") {
		t.Errorf("keys.bundleKey did not reach the node (it could not import carried bundles):\n%s", node.Logs())
	}
	if !strings.Contains(node.Logs(), "cross-border matching on") {
		t.Errorf("keys.matchSecret did not reach the node (it could not match across borders):\n%s", node.Logs())
	}
	if _, err := os.Stat(filepath.Join(mapPath("/var/lib/flx"), "flx.db")); err != nil {
		t.Errorf("the SQLite store is not in the data volume: %v", err)
	}

	// Pod termination: SIGTERM, SIGKILL after terminationGracePeriodSeconds.
	node.Stop(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, "terminationGracePeriodSeconds")
	if !strings.Contains(node.Logs(), `"msg":"`) {
		t.Errorf("logs are not JSON (config log.format json):\n%s", node.Logs())
	}
}
