package helm

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/familylinks/flx/node/config"
)

const (
	chartDir  = "flx"
	release   = "xa-rc"
	namespace = "flx"
	// Test stand-ins: the chart only carries them.
	testCert    = "-----BEGIN CERTIFICATE-----\nTUlJQ2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
	testKey     = "-----BEGIN PRIVATE KEY-----\nTUlJS2V5\n-----END PRIVATE KEY-----\n"
	testJWK     = `{"kty":"OKP","crv":"Ed25519","kid":"xa-rc-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`
	testAnchor  = `{"kty":"OKP","crv":"Ed25519","kid":"anchor-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	testManifst = "eyJhbGciOiJFZERTQSJ9.eyJ2ZXJzaW9uIjoxfQ.c2ln"
	testDSN     = "postgres://flx:secret@db.flx.svc:5432/flx?sslmode=verify-full"
	// A matching secret of the test: 32 bytes of 7.
	testMatchSecret = `{"kid": "2026-1", "key": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}`
)

// values builds chart values: a SQLite single-replica node with the keys
// given inline, changed by the modifiers.
func values(mods ...func(map[string]any)) map[string]any {
	v := map[string]any{
		"member": "XA-RC",
		"policy": map[string]any{"country": "XA"},
		"keys": map[string]any{
			"tlsCert":    testCert,
			"tlsKey":     testKey,
			"signingKey": testJWK,
		},
		"trust": map[string]any{
			"anchor":   testAnchor,
			"manifest": testManifst,
		},
		"persistence": map[string]any{"enabled": true},
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

// set assigns a dotted path, creating maps on the way.
func set(p string, val any) func(map[string]any) {
	return func(v map[string]any) {
		parts := strings.Split(p, ".")
		m := v
		for _, k := range parts[:len(parts)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = val
	}
}

func del(p string) func(map[string]any) {
	return func(v map[string]any) {
		parts := strings.Split(p, ".")
		m := v
		for _, k := range parts[:len(parts)-1] {
			m, _ = m[k].(map[string]any)
			if m == nil {
				return
			}
		}
		delete(m, parts[len(parts)-1])
	}
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render renders the chart as `helm install xa-rc -n flx` would: values
// coalesced with values.yaml and validated against values.schema.json,
// templates rendered by Helm's engine in strict mode.
func render(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: release, Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.Render(ch, rv)
}

// objects holds the strictly decoded objects of one render.
type objects struct {
	deployments  []*appsv1.Deployment
	services     map[string]*corev1.Service
	secrets      map[string]*corev1.Secret
	configMaps   map[string]*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	accounts     []*corev1.ServiceAccount
	pvcs         []*corev1.PersistentVolumeClaim
	netpols      []*networkingv1.NetworkPolicy
	kinds        []string
	notes        string
	namesByKinds map[string]bool
}

// decode splits every rendered manifest into documents and decodes each
// into its Kubernetes API type with unknown fields rejected.
func decode(t *testing.T, rendered map[string]string) *objects {
	t.Helper()
	o := &objects{
		services:     map[string]*corev1.Service{},
		secrets:      map[string]*corev1.Secret{},
		configMaps:   map[string]*corev1.ConfigMap{},
		namesByKinds: map[string]bool{},
	}
	for _, file := range slices.Sorted(maps.Keys(rendered)) {
		content := rendered[file]
		switch {
		case strings.HasSuffix(file, "NOTES.txt"):
			o.notes = content
			continue
		case strings.HasPrefix(path.Base(file), "_"):
			continue
		}
		for i, doc := range splitDocs(content) {
			var meta struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s #%d: not YAML: %v\n%s", file, i, err, doc)
			}
			where := fmt.Sprintf("%s #%d (%s %s)", file, i, meta.Kind, meta.Metadata.Name)
			if meta.Metadata.Name == "" || meta.Metadata.Namespace != namespace {
				t.Errorf("%s: name %q namespace %q", where, meta.Metadata.Name, meta.Metadata.Namespace)
			}
			key := meta.Kind + "/" + meta.Metadata.Name
			if o.namesByKinds[key] {
				t.Errorf("%s: duplicate object", where)
			}
			o.namesByKinds[key] = true
			o.kinds = append(o.kinds, meta.Kind)
			var obj any
			wantAPI := "v1"
			switch meta.Kind {
			case "Deployment":
				d := &appsv1.Deployment{}
				o.deployments, obj, wantAPI = append(o.deployments, d), d, "apps/v1"
			case "Service":
				s := &corev1.Service{}
				o.services[meta.Metadata.Name], obj = s, s
			case "Secret":
				s := &corev1.Secret{}
				o.secrets[meta.Metadata.Name], obj = s, s
			case "ConfigMap":
				c := &corev1.ConfigMap{}
				o.configMaps[meta.Metadata.Name], obj = c, c
			case "PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				o.pdbs, obj, wantAPI = append(o.pdbs, p), p, "policy/v1"
			case "ServiceAccount":
				s := &corev1.ServiceAccount{}
				o.accounts, obj = append(o.accounts, s), s
			case "PersistentVolumeClaim":
				p := &corev1.PersistentVolumeClaim{}
				o.pvcs, obj = append(o.pvcs, p), p
			case "NetworkPolicy":
				n := &networkingv1.NetworkPolicy{}
				o.netpols, obj, wantAPI = append(o.netpols, n), n, "networking.k8s.io/v1"
			default:
				t.Fatalf("%s: kind the test does not know", where)
			}
			if meta.APIVersion != wantAPI {
				t.Errorf("%s: apiVersion %q, want %q", where, meta.APIVersion, wantAPI)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s: does not decode strictly into the Kubernetes type: %v\n%s", where, err, doc)
			}
		}
	}
	return o
}

// splitDocs splits a multi-document YAML stream, dropping empty documents
// (comments only, or whitespace).
func splitDocs(s string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+s, "\n---") {
		var meaningful bool
		for _, line := range strings.Split(d, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, d)
		}
	}
	return docs
}

func mustRender(t *testing.T, vals map[string]any) *objects {
	t.Helper()
	out, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return decode(t, out)
}

// checkCommon asserts what every successful render must satisfy.
func checkCommon(t *testing.T, o *objects, replicas int32) (*appsv1.Deployment, *config.Config) {
	t.Helper()
	if len(o.deployments) != 1 {
		t.Fatalf("%d Deployments", len(o.deployments))
	}
	d := o.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, replicas)
	}
	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels
	if !matches(d.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, podLabels)
	}
	// Pod security.
	psc := pod.SecurityContext
	if psc == nil || !isTrue(psc.RunAsNonRoot) || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || psc.FSGroup == nil {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, non-zero user, fsGroup, RuntimeDefault seccomp", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("service account token is mounted; the node never calls the API server")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("host namespaces")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("terminationGracePeriodSeconds %v: want longer than one delivery attempt (30s)", pod.TerminationGracePeriodSeconds)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/familylinks/flx:0.1.0" && !strings.Contains(c.Image, "@sha256:") {
		t.Errorf("image %q", c.Image)
	}
	if !reflect.DeepEqual(c.Args, []string{"serve", "--config", "/etc/flx/config/config.yaml"}) || len(c.Command) != 0 {
		t.Errorf("command %v args %v: want the image entrypoint with serve --config", c.Command, c.Args)
	}
	sc := c.SecurityContext
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		!isTrue(sc.RunAsNonRoot) || (sc.Privileged != nil && *sc.Privileged) || sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v: want read-only root, no escalation, drop ALL, RuntimeDefault", sc)
	}
	// Resources.
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu/memory requests and a memory limit", c.Resources)
	}
	// Ports and probes.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(ports, map[string]int32{"federation": 8443, "local-api": 8080}) {
		t.Errorf("container ports %v", ports)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/healthz"},
		{"readiness", c.ReadinessProbe, "/readyz"},
		{"startup", c.StartupProbe, "/healthz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe missing or not httpGet: %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("local-api") {
			t.Errorf("%s probe %s on %v, want %s on local-api", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
		if p.probe.TimeoutSeconds < 1 || p.probe.PeriodSeconds < 1 || p.probe.FailureThreshold < 1 {
			t.Errorf("%s probe timing %+v", p.name, p.probe)
		}
	}
	// Environment: only node/config variables (and GOMEMLIMIT).
	known := map[string]bool{"GOMEMLIMIT": true}
	for _, n := range config.EnvNames() {
		known[n] = true
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("env %s is not a node/config variable", e.Name)
		}
		env[e.Name] = e
	}
	if e, ok := env["GOMEMLIMIT"]; !ok || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT not taken from limits.memory: %+v", e)
	}
	if e, ok := env["FLX_STORE_DSN"]; ok && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
		t.Errorf("FLX_STORE_DSN must come from a Secret, got %+v", e)
	}
	// Volumes: the writable ones are the data dir and /tmp only.
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		if _, ok := vols[m.Name]; !ok {
			t.Errorf("mount %s of undeclared volume %s", m.MountPath, m.Name)
		}
		writable := m.MountPath == "/var/lib/flx" || m.MountPath == "/tmp"
		if m.ReadOnly == writable {
			t.Errorf("mount %s readOnly=%v", m.MountPath, m.ReadOnly)
		}
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath: ConfigMap/Secret updates would not reach the pod", m.MountPath)
		}
	}
	for a := range mounts {
		for b := range mounts {
			if a != b && strings.HasPrefix(a, b+"/") {
				t.Errorf("mount %s is nested in %s", a, b)
			}
		}
	}
	if tmp := vols["tmp"]; tmp.EmptyDir == nil || tmp.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("/tmp volume %+v: want an in-memory emptyDir", tmp)
	}
	checkKeys(t, pod, mounts["/etc/flx/keys"], vols)
	// Rolling on config change.
	for _, a := range []string{"checksum/config", "checksum/keys"} {
		if len(d.Spec.Template.Annotations[a]) != 64 {
			t.Errorf("pod annotation %s = %q", a, d.Spec.Template.Annotations[a])
		}
	}

	// Services select the pods and target the named ports.
	fed, local := o.services[release+"-flx-federation"], o.services[release+"-flx"]
	if fed == nil || local == nil {
		t.Fatalf("services %v", slices.Sorted(maps.Keys(o.services)))
	}
	for _, s := range []struct {
		svc    *corev1.Service
		port   int32
		target string
	}{{fed, 8443, "federation"}, {local, 8080, "local-api"}} {
		if !matches(s.svc.Spec.Selector, podLabels) {
			t.Errorf("service %s selector %v does not select the pods", s.svc.Name, s.svc.Spec.Selector)
		}
		if len(s.svc.Spec.Ports) != 1 || s.svc.Spec.Ports[0].Port != s.port || s.svc.Spec.Ports[0].TargetPort != intstr.FromString(s.target) {
			t.Errorf("service %s ports %+v, want %d -> %s only", s.svc.Name, s.svc.Spec.Ports, s.port, s.target)
		}
	}
	if local.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("local API service type %s", local.Spec.Type)
	}
	// PodDisruptionBudget.
	if len(o.pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets", len(o.pdbs))
	}
	pdb := o.pdbs[0]
	if pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, podLabels) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
	if replicas > 1 {
		if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(replicas) || pdb.Spec.MaxUnavailable != nil {
			t.Errorf("PDB %+v: want 1 <= minAvailable < replicas", pdb.Spec)
		}
	} else if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB %+v: one replica must not block drains (maxUnavailable 1)", pdb.Spec)
	}
	// Service account.
	if len(o.accounts) == 1 {
		if sa := o.accounts[0]; sa.Name != pod.ServiceAccountName || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("service account %s (pod uses %s) automount %v", sa.Name, pod.ServiceAccountName, sa.AutomountServiceAccountToken)
		}
	}

	// The config file parses the way the node reads it (unknown fields are
	// errors) and verifies, and every file it names is mounted.
	cm := o.configMaps[release+"-flx"]
	if cm == nil {
		t.Fatalf("configmaps %v", slices.Sorted(maps.Keys(o.configMaps)))
	}
	cfg, err := config.Parse([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	lookup := func(name string) (string, bool) {
		if _, ok := env[name]; ok && name == "FLX_STORE_DSN" {
			return testDSN, true // the Secret's content, checked elsewhere
		}
		return "", false
	}
	if err := cfg.ApplyEnv(lookup); err != nil {
		t.Fatal(err)
	}
	cfg.Resolve("/etc/flx/config")
	if err := cfg.Verify(); err != nil {
		t.Errorf("config.yaml does not verify: %v\n%s", err, cm.Data["config.yaml"])
	}
	if cfg.Federation.Listen != "0.0.0.0:8443" || cfg.LocalAPI.Listen != "0.0.0.0:8080" || cfg.DataDir != "/var/lib/flx" {
		t.Errorf("listeners %s %s data_dir %s", cfg.Federation.Listen, cfg.LocalAPI.Listen, cfg.DataDir)
	}
	files := map[string]string{
		"federation.tls_cert":     cfg.Federation.TLSCert,
		"federation.tls_key":      cfg.Federation.TLSKey,
		"federation.signing_key":  cfg.Federation.SigningKey,
		"federation.trust_anchor": cfg.Federation.TrustAnchor,
		"policy.rules":            cfg.Policy.Rules,
	}
	if cfg.Match.SecretFile != "" {
		files["match.secret_file"] = cfg.Match.SecretFile
	}
	if !strings.HasPrefix(cfg.Federation.Manifest, "https://") {
		files["federation.manifest"] = cfg.Federation.Manifest
	}
	// The bundle key is optional (keys.bundleKey, or bundle.jwk in an
	// existing Secret): the node looks for it beside the other keys.
	if filepath.Dir(cfg.Coordination.BundleKey) != filepath.Dir(cfg.Federation.SigningKey) || filepath.Base(cfg.Coordination.BundleKey) != "bundle.jwk" {
		t.Errorf("coordination.bundle_key %s is not bundle.jwk beside the signing key %s", cfg.Coordination.BundleKey, cfg.Federation.SigningKey)
	}
	for field, p := range files {
		if !mounted(t, p, pod, mounts, vols, o) {
			t.Errorf("%s = %s is not a file in any mounted volume", field, p)
		}
	}
	// The policy file names this member.
	var pol map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["policy.yaml"]), &pol); err != nil || pol["schema"] != "flx/policy/v1" || pol["member"] != cfg.Member {
		t.Errorf("policy.yaml %v (%v): want schema flx/policy/v1 and member %s", pol, err, cfg.Member)
	}
	if !strings.Contains(o.notes, cfg.Member) {
		t.Errorf("NOTES.txt does not name the member:\n%s", o.notes)
	}
	return d, &cfg
}

// checkKeys asserts how the keys reach the node: either the Secret itself
// (keys.copy.enabled=false) or, by default, an in-memory copy made by a
// hardened init container that reads the Secret.
func checkKeys(t *testing.T, pod corev1.PodSpec, m corev1.VolumeMount, vols map[string]corev1.Volume) {
	t.Helper()
	v := vols[m.Name]
	privateSecret := func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.DefaultMode != nil && *v.Secret.DefaultMode&0o007 == 0 && len(v.Secret.Items) == 0
	}
	if v.Secret != nil {
		if !privateSecret(v) || len(pod.InitContainers) != 0 {
			t.Errorf("keys volume %+v: want a Secret not readable by others, every key mounted", v)
		}
		return
	}
	if v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Fatalf("keys volume %+v: want the Secret or an in-memory emptyDir", v)
	}
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Name != "keys" {
		t.Fatalf("init containers %+v: want the keys copy", pod.InitContainers)
	}
	ic := pod.InitContainers[0]
	sc := ic.SecurityContext
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || !isTrue(sc.RunAsNonRoot) || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("keys init container securityContext %+v: want it as locked down as the node", sc)
	}
	if ic.Resources.Limits.Memory().IsZero() {
		t.Errorf("keys init container has no memory limit")
	}
	var src, dst *corev1.VolumeMount
	for i, im := range ic.VolumeMounts {
		switch {
		case im.Name == m.Name && im.MountPath == m.MountPath && !im.ReadOnly:
			dst = &ic.VolumeMounts[i]
		case privateSecret(vols[im.Name]) && im.ReadOnly:
			src = &ic.VolumeMounts[i]
		default:
			t.Errorf("keys init container mounts %+v", im)
		}
	}
	if src == nil || dst == nil {
		t.Fatalf("keys init container mounts %+v: want the Secret read-only and the keys volume", ic.VolumeMounts)
	}
	script := strings.Join(ic.Command, " ")
	for _, want := range []string{src.MountPath + "/*", "cp ", "chmod 0400 " + dst.MountPath + "/*", "umask 077"} {
		if !strings.Contains(script, want) {
			t.Errorf("keys init container command %q lacks %q", script, want)
		}
	}
}

// keysSource returns the Secret volume that feeds the keys volume.
func keysSource(pod corev1.PodSpec, vols map[string]corev1.Volume) (corev1.Volume, bool) {
	for _, ic := range pod.InitContainers {
		for _, im := range ic.VolumeMounts {
			if v := vols[im.Name]; v.Secret != nil {
				return v, true
			}
		}
	}
	return corev1.Volume{}, false
}

// mounted reports whether file p is provided by a mounted ConfigMap or
// Secret (rendered by the chart or existing), directly or through the keys
// copy.
func mounted(t *testing.T, p string, pod corev1.PodSpec, mounts map[string]corev1.VolumeMount, vols map[string]corev1.Volume, o *objects) bool {
	t.Helper()
	m, ok := mounts[filepath.Dir(p)]
	if !ok {
		return false
	}
	v := vols[m.Name]
	if v.EmptyDir != nil {
		if v, ok = keysSource(pod, vols); !ok {
			return false
		}
	}
	base := filepath.Base(p)
	switch {
	case v.ConfigMap != nil:
		cm := o.configMaps[v.ConfigMap.Name]
		_, ok := cm.Data[base]
		return cm != nil && ok
	case v.Secret != nil:
		if len(v.Secret.Items) != 0 {
			t.Errorf("secret volume %s lists items: a previous signing key (signing.<kid>.jwk) would not be mounted", m.Name)
		}
		if s := o.secrets[v.Secret.SecretName]; s != nil {
			_, ok := s.Data[base]
			return ok
		}
		// An existing Secret: its keys are documented in values.yaml.
		return base == "tls.crt" || base == "tls.key" || base == "signing.jwk" || base == "bundle.jwk" || base == "match-secret.json"
	}
	return false
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func isTrue(b *bool) bool { return b != nil && *b }

func findEnv(d *appsv1.Deployment, name string) *corev1.EnvVar {
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return &e
		}
	}
	return nil
}

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		values   map[string]any
		replicas int32
		check    func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config)
	}{
		{
			name:     "defaults: SQLite, one replica, keys inline",
			values:   values(),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("strategy %s: SQLite has one writer, want Recreate", d.Spec.Strategy.Type)
				}
				if findEnv(d, "FLX_STORE_DSN") != nil || !strings.HasPrefix(cfg.Store.DSN, "sqlite:/var/lib/flx/") {
					t.Errorf("store %q: want the embedded SQLite in the data volume", cfg.Store.DSN)
				}
				if len(o.pvcs) != 1 || o.pvcs[0].Annotations["helm.sh/resource-policy"] != "keep" {
					t.Errorf("PVCs %+v: want one, kept on uninstall", o.pvcs)
				}
				if data := d.Spec.Template.Spec.Volumes; !hasPVC(data, release+"-flx-data") {
					t.Errorf("data volume is not the PVC")
				}
				ks := o.secrets[release+"-flx-keys"]
				if ks == nil || string(ks.Data["signing.jwk"]) != testJWK || string(ks.Data["tls.key"]) != testKey || string(ks.Data["tls.crt"]) != testCert {
					t.Errorf("keys Secret %+v", ks)
				}
				if len(o.secrets) != 1 {
					t.Errorf("secrets %v, want the keys only", slices.Sorted(maps.Keys(o.secrets)))
				}
				if o.configMaps[release+"-flx"].Data["manifest.jws"] != testManifst {
					t.Errorf("manifest not in the ConfigMap")
				}
				if len(o.netpols) != 0 {
					t.Errorf("NetworkPolicy rendered while disabled")
				}
				if cfg.Match.SecretFile != "" {
					t.Errorf("match.secret_file %q without a matching secret: the node would not start", cfg.Match.SecretFile)
				}
			},
		},
		{
			name:     "matching secret given inline",
			values:   values(set("keys.matchSecret", testMatchSecret), set("config.match.threshold", 0.2)),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				if string(o.secrets[release+"-flx-keys"].Data["match-secret.json"]) != testMatchSecret {
					t.Errorf("keys Secret has no match-secret.json")
				}
				if filepath.Base(cfg.Match.SecretFile) != "match-secret.json" || filepath.Dir(cfg.Match.SecretFile) != filepath.Dir(cfg.Federation.SigningKey) {
					t.Errorf("match.secret_file %q: want match-secret.json beside the signing key %s", cfg.Match.SecretFile, cfg.Federation.SigningKey)
				}
				if cfg.Match.Threshold != 0.2 || !cfg.Match.Enabled {
					t.Errorf("config.match (threshold %v, enabled %v) lost beside the chart's secret_file", cfg.Match.Threshold, cfg.Match.Enabled)
				}
			},
		},
		{
			name:     "matching secret in an existing Secret",
			values:   values(set("keys", map[string]any{"existingSecret": "xa-rc-keys", "matchSecretInExistingSecret": true})),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				if filepath.Base(cfg.Match.SecretFile) != "match-secret.json" || filepath.Dir(cfg.Match.SecretFile) != filepath.Dir(cfg.Federation.SigningKey) {
					t.Errorf("match.secret_file %q: want match-secret.json beside the signing key %s", cfg.Match.SecretFile, cfg.Federation.SigningKey)
				}
			},
		},
		{
			name: "three replicas sharing PostgreSQL, existing Secrets",
			values: values(
				set("replicaCount", 3),
				set("store.existingSecret", "xa-rc-db"),
				set("keys", map[string]any{"existingSecret": "xa-rc-keys"}),
				set("persistence.enabled", false),
			),
			replicas: 3,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				s := d.Spec.Strategy
				if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil ||
					s.RollingUpdate.MaxUnavailable == nil || s.RollingUpdate.MaxUnavailable.IntValue() != 0 {
					t.Errorf("strategy %+v: want a rolling update that never lowers capacity", s)
				}
				e := findEnv(d, "FLX_STORE_DSN")
				if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "xa-rc-db" || e.ValueFrom.SecretKeyRef.Key != "dsn" {
					t.Errorf("FLX_STORE_DSN %+v: want secretKeyRef xa-rc-db/dsn", e)
				}
				if len(o.secrets) != 0 {
					t.Errorf("chart made Secrets %v although both are existing", slices.Sorted(maps.Keys(o.secrets)))
				}
				for _, v := range d.Spec.Template.Spec.Volumes {
					if v.Secret != nil && v.Secret.SecretName != "xa-rc-keys" {
						t.Errorf("secret volume %+v: want the existing Secret", v)
					}
					if v.Name == "data" && v.EmptyDir == nil {
						t.Errorf("data volume %+v: want a per-pod emptyDir (the store is shared PostgreSQL)", v)
					}
				}
				if len(o.pvcs) != 0 {
					t.Errorf("a PVC for a PostgreSQL node")
				}
				if !strings.HasPrefix(cfg.Store.DSN, "postgres://") {
					t.Errorf("store %q", cfg.Store.DSN)
				}
			},
		},
		{
			name: "PostgreSQL DSN in values, manifest URL, public federation port, network policy",
			values: values(
				set("store.dsn", testDSN),
				set("persistence.enabled", false),
				set("trust", map[string]any{"anchor": testAnchor, "manifestURL": "https://federation.example.org/manifest.jws"}),
				set("service.federation.type", "LoadBalancer"),
				set("service.federation.loadBalancerSourceRanges", []any{"192.0.2.0/24"}),
				set("networkPolicy", map[string]any{"enabled": true, "localAPIFrom": []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "casework"}}}}}),
				set("image.digest", "sha256:"+strings.Repeat("ab", 32)),
				set("config.local_api.tokens", []any{map[string]any{"name": "ops", "role": "operator", "sha256": strings.Repeat("0f", 32)}}),
			),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				st := o.secrets[release+"-flx-store"]
				if st == nil || string(st.Data["dsn"]) != testDSN {
					t.Errorf("store Secret %+v", st)
				}
				if cfg.Federation.Manifest != "https://federation.example.org/manifest.jws" {
					t.Errorf("manifest %q", cfg.Federation.Manifest)
				}
				if _, ok := o.configMaps[release+"-flx"].Data["manifest.jws"]; ok {
					t.Errorf("manifest.jws rendered although a URL is given")
				}
				fed := o.services[release+"-flx-federation"]
				if fed.Spec.Type != corev1.ServiceTypeLoadBalancer || !reflect.DeepEqual(fed.Spec.LoadBalancerSourceRanges, []string{"192.0.2.0/24"}) {
					t.Errorf("federation service %+v", fed.Spec)
				}
				if len(o.netpols) != 1 || len(o.netpols[0].Spec.Ingress) != 2 {
					t.Fatalf("network policies %+v", o.netpols)
				}
				if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/familylinks/flx@sha256:"+strings.Repeat("ab", 32) {
					t.Errorf("image %q: want pinned by digest", img)
				}
				if len(cfg.LocalAPI.Tokens) != 1 || cfg.LocalAPI.Tokens[0].Role != "operator" {
					t.Errorf("tokens %+v", cfg.LocalAPI.Tokens)
				}
			},
		},
		{
			name:     "keys mounted directly (keys.copy.enabled=false)",
			values:   values(set("keys.copy", map[string]any{"enabled": false})),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				if len(d.Spec.Template.Spec.InitContainers) != 0 {
					t.Errorf("init containers without the copy: %+v", d.Spec.Template.Spec.InitContainers)
				}
			},
		},
		{
			name:     "own policy file",
			values:   values(set("policy", map[string]any{"rules": "schema: flx/policy/v1\nversion: \"xa-7\"\nmember: XA-RC\ncountry: XA\n"})),
			replicas: 1,
			check: func(t *testing.T, o *objects, d *appsv1.Deployment, cfg *config.Config) {
				if !strings.Contains(o.configMaps[release+"-flx"].Data["policy.yaml"], `version: "xa-7"`) {
					t.Errorf("policy.yaml is not the given file")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := mustRender(t, tc.values)
			d, cfg := checkCommon(t, o, tc.replicas)
			tc.check(t, o, d, cfg)
		})
	}
}

func hasPVC(vols []corev1.Volume, claim string) bool {
	for _, v := range vols {
		if v.Name == "data" && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// TestRenderRefuses: the chart fails with a message that says what to set.
func TestRenderRefuses(t *testing.T) {
	postgres := set("store.existingSecret", "xa-rc-db")
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"two replicas on SQLite", values(set("replicaCount", 2)), "replicaCount=2 needs PostgreSQL"},
		{"three replicas on SQLite without persistence", values(set("replicaCount", 3), set("persistence.enabled", false)), "replicaCount=3 needs PostgreSQL"},
		{"SQLite without a data volume", values(set("persistence.enabled", false)), "persistent data volume"},
		{"no member", values(del("member")), "is not a member id"},
		{"bad member id", values(set("member", "xa rc")), "is not a member id"},
		{"no keys", values(del("keys")), "keys are missing"},
		{"partial keys", values(del("keys.signingKey")), "keys are missing"},
		{"matching secret inline beside an existing Secret", values(set("keys", map[string]any{"existingSecret": "xa-rc-keys", "matchSecret": testMatchSecret})), "keys.matchSecretInExistingSecret=true instead"},
		{"matching secret in a Secret the chart creates", values(set("keys.matchSecretInExistingSecret", true)), "needs keys.existingSecret"},
		{"no trust anchor", values(del("trust.anchor")), "trust.anchor is required"},
		{"no manifest", values(del("trust.manifest")), "manifest is missing"},
		{"plain-http manifest URL", values(set("trust.manifestURL", "http://federation.example.org/m.jws")), "must be an https:// URL"},
		{"no policy country", values(del("policy.country")), "policy.country is required"},
		{"DSN and existing Secret", values(postgres, set("store.dsn", testDSN)), "not both"},
		{"non-postgres DSN", values(set("store.dsn", "mysql://x")), "must be a postgres:// URL"},
		// values.schema.json
		{"misspelt top-level value", values(set("replicas", 3)), "replicas"},
		{"misspelt nested value", values(set("podDisruptionBudget.minAvailble", 1)), "minAvailble"},
		{"store in config (the chart owns it)", values(set("config.store", map[string]any{"dsn": "sqlite:x"})), "store"},
		{"bad token hash", values(set("config.local_api.tokens", []any{map[string]any{"name": "a", "role": "operator", "sha256": "secret"}})), "sha256"},
		{"bad token role", values(set("config.local_api.tokens", []any{map[string]any{"name": "a", "role": "admin", "sha256": strings.Repeat("0f", 32)}})), "role"},
		{"bad duration", values(set("config.delivery.lease", "2 minutes")), "lease"},
		{"zero replicas", values(set("replicaCount", 0)), "replicaCount"},
		{"matching secret file in config (the chart owns it)", values(set("config.match.secret_file", "/x.json")), "secret_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestLint runs Helm's own linter (chart metadata, templates, values schema,
// Kubernetes object names) over the chart with working values.
func TestLint(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
	}{
		{"sqlite", values()},
		{"postgres replicas", values(set("replicaCount", 3), set("store.existingSecret", "db"), set("persistence.enabled", false))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := lint.All(chartDir, tc.values, namespace, false)
			var buf bytes.Buffer
			for _, m := range l.Messages {
				fmt.Fprintf(&buf, "  %s\n", m)
			}
			if l.HighestSeverity >= support.WarningSev {
				t.Errorf("helm lint:\n%s", buf.String())
			} else if buf.Len() > 0 {
				t.Logf("helm lint (info):\n%s", buf.String())
			}
		})
	}
}
