package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/familylinks/flx/deploy/internal/runtest"
)

// fakeOptions returns options with a stand-in binary: enough to check the
// layout and the config without compiling flx.
func fakeOptions(t *testing.T) Options {
	t.Helper()
	return Options{
		Binary:  []byte("\x7fELF stand-in"),
		CACerts: []byte("-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n"),
		Version: "1.2.3",
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func assemble(t *testing.T, o Options) v1.Image {
	t.Helper()
	img, err := Assemble(o)
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return img
}

// checkImage asserts what every FLX image must satisfy: exec-form
// entrypoint, non-root user, health check without a shell, no shell or
// other executable but /flx in the layer, writable mount points owned by
// the user. It returns the layer's headers.
func checkImage(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile: %v", err)
	}
	c := cf.Config
	checks := []struct {
		name string
		ok   bool
	}{
		{"os linux", cf.OS == "linux"},
		{"entrypoint [/flx]", reflect.DeepEqual(c.Entrypoint, []string{"/flx"})},
		{"cmd serve --config /etc/flx/config.yaml", reflect.DeepEqual(c.Cmd, []string{"serve", "--config", "/etc/flx/config.yaml"})},
		{"user 65532:65532", c.User == "65532:65532"},
		{"user not root", !strings.HasPrefix(c.User, "0") && c.User != "" && c.User != "root"},
		{"workdir /var/lib/flx", c.WorkingDir == "/var/lib/flx"},
		{"healthcheck exec form", c.Healthcheck != nil && reflect.DeepEqual(c.Healthcheck.Test, []string{"CMD", "/flx", "healthcheck"})},
		{"healthcheck timing", c.Healthcheck != nil && c.Healthcheck.Interval == 30*time.Second && c.Healthcheck.Timeout == 5*time.Second && c.Healthcheck.Retries == 3},
		{"no shell form anywhere", c.Shell == nil && !slices.Contains(c.Healthcheck.Test, "CMD-SHELL")},
		{"env FLX_LOG_FORMAT=json", slices.Contains(c.Env, "FLX_LOG_FORMAT=json")},
		{"no FLX_DATA_DIR (it would override the config's data_dir)", !hasPrefix(c.Env, "FLX_DATA_DIR=")},
		{"ports 8443 and 8080", len(c.ExposedPorts) == 2 && has(c.ExposedPorts, "8443/tcp") && has(c.ExposedPorts, "8080/tcp")},
		{"stop signal SIGTERM", c.StopSignal == "SIGTERM"},
		{"no anonymous volumes", len(c.Volumes) == 0},
		{"label title", c.Labels["org.opencontainers.image.title"] == "flx"},
		{"label source", c.Labels["org.opencontainers.image.source"] == DefaultSource},
		{"label version", c.Labels["org.opencontainers.image.version"] != ""},
		{"label created", c.Labels["org.opencontainers.image.created"] != ""},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("image config: %s: got %+v", ck.name, c)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer, got %d (%v)", len(layers), err)
	}
	hdrs, names, err := ListLayer(img)
	if err != nil {
		t.Fatalf("ListLayer: %v", err)
	}
	for _, n := range names {
		h := hdrs[n]
		base := filepath.Base(strings.TrimSuffix(n, "/"))
		switch {
		case base == "sh" || base == "bash" || base == "busybox" || base == "ash":
			t.Errorf("layer has a shell: %s", n)
		case strings.HasPrefix(n, "/bin/") || strings.HasPrefix(n, "/usr/bin/") || strings.HasPrefix(n, "/sbin/"):
			t.Errorf("layer has %s: the image ships /flx only", n)
		case h.Typeflag == tar.TypeReg && h.Mode&0o111 != 0 && n != "/flx":
			t.Errorf("layer has another executable: %s (mode %o)", n, h.Mode)
		case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
			t.Errorf("layer has a link: %s", n)
		case h.Mode&(0o4000|0o2000) != 0:
			t.Errorf("layer has a setuid/setgid entry: %s", n)
		}
	}
	want := []struct {
		name     string
		mode     int64
		uid, gid int
	}{
		{"/flx", 0o755, 0, 0},
		{"/etc/passwd", 0o644, 0, 0},
		{"/etc/group", 0o644, 0, 0},
		{"/etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0},
		{"/etc/flx/", 0o755, 0, 0},
		{"/tmp/", 0o1777, 0, 0},
		{"/var/lib/flx/", 0o700, UID, GID},
		{"/home/nonroot/", 0o700, UID, GID},
	}
	for _, w := range want {
		h, ok := hdrs[w.name]
		if !ok {
			t.Errorf("layer lacks %s; has %v", w.name, names)
			continue
		}
		if h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", w.name, h.Mode, h.Uid, h.Gid, w.mode, w.uid, w.gid)
		}
	}
	passwd, err := ExtractFile(img, "/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(passwd, []byte("nonroot:x:65532:65532:")) {
		t.Errorf("/etc/passwd lacks the nonroot user:\n%s", passwd)
	}
	if bytes.Contains(passwd, []byte("/bin/sh")) || bytes.Contains(passwd, []byte("/bin/bash")) {
		t.Errorf("/etc/passwd names a login shell:\n%s", passwd)
	}
	return hdrs
}

// checkOCI asserts OCI media types for the manifest, config and layer.
func checkOCI(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("manifest %q, config %q: want OCI media types", m.MediaType, m.Config.MediaType)
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type %q, want %q", l.MediaType, types.OCILayer)
		}
	}
	if m.Annotations["org.opencontainers.image.title"] != "flx" {
		t.Errorf("manifest annotations %v lack the title", m.Annotations)
	}
}

func hasPrefix(list []string, p string) bool {
	for _, v := range list {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func has(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

func TestAssembleLayoutAndConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		arch   string
	}{
		{"amd64 default", func(*Options) {}, "amd64"},
		{"arm64", func(o *Options) { o.GOARCH = "arm64" }, "arm64"},
		{"zero time and version", func(o *Options) { o.Created = time.Time{}; o.Version = "" }, "amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := fakeOptions(t)
			tc.modify(&o)
			img := assemble(t, o)
			checkImage(t, img)
			checkOCI(t, img)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != tc.arch {
				t.Errorf("architecture %q, want %q", cf.Architecture, tc.arch)
			}
			got, err := ExtractFile(img, "/flx")
			if err != nil || !bytes.Equal(got, o.Binary) {
				t.Errorf("/flx = %q (%v), want the binary", got, err)
			}
		})
	}
}

func TestAssembleRefuses(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Options)
		want   string
	}{
		{"no binary", func(o *Options) { o.Binary = nil }, "no flx binary"},
		{"no CA bundle", func(o *Options) { o.CACerts = nil }, "no CA certificates"},
		{"unknown arch", func(o *Options) { o.GOARCH = "mips" }, "unsupported GOARCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := fakeOptions(t)
			tc.modify(&o)
			_, err := Assemble(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Assemble error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAssembleIsReproducible(t *testing.T) {
	digest := func(o Options) v1.Hash {
		t.Helper()
		d, err := assemble(t, o).Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	o := fakeOptions(t)
	a, b := digest(o), digest(o)
	if a != b {
		t.Fatalf("same inputs, different digests: %s %s", a, b)
	}
	o.Version = "1.2.4"
	if c := digest(o); c == a {
		t.Fatalf("a different version gave the same digest %s", c)
	}
}

func TestCheckStatic(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		goarch string
		want   string // "" = accepted
	}{
		{"not an ELF file", notELF, "amd64", "bad magic"},
		{"missing file", filepath.Join(dir, "nope"), "amd64", "no such file"},
		{"unknown arch", notELF, "mips", "unsupported GOARCH"},
	}
	// A dynamically linked system binary, where the host has one.
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		if _, err := os.Stat("/bin/ls"); err == nil {
			tests = append(tests,
				struct{ name, path, goarch, want string }{"dynamic /bin/ls", "/bin/ls", "amd64", "dynamically linked"},
				struct{ name, path, goarch, want string }{"wrong machine", "/bin/ls", "arm64", "want EM_AARCH64"},
			)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStatic(tc.path, tc.goarch)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckStatic: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckStatic error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBuildImage is the engine-free image build end to end: compile flx,
// assemble the image, write an OCI layout and a docker tarball, read both
// back and check the config, the layer and the binary (static, runs).
func TestBuildImage(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the flx binary; skipped with -short")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("runs the linux/amd64 binary; host is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no host CA bundle to package (%v): install ca-certificates", err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			t.Skipf("no go command in PATH or $GOROOT/bin to build flx with")
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "flx")
	var buildLog bytes.Buffer
	const version = "0.0.0-imagetest"
	// Not at the same time as another test process's build of flx (the
	// compiled packages are the same; only the link differs).
	err = runtest.BuildLocked(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		return BuildBinary(ctx, BuildOptions{ModuleDir: runtest.ModuleRoot(t), Version: version, GoCmd: goCmd, Stderr: &buildLog}, bin)
	})
	if err != nil {
		t.Fatalf("BuildBinary: %v\n%s", err, buildLog.String())
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img := assemble(t, Options{Binary: data, CACerts: certs, Version: version, Revision: "test"})
	layoutDir := filepath.Join(dir, "oci")
	tarPath := filepath.Join(dir, "flx.tar")
	if err := WriteLayout(layoutDir, "flx:test", img); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarball(tarPath, "flx:test", img); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	// Read back from the OCI layout, as skopeo or podman would.
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatalf("read layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index: %d manifests (%v)", len(im.Manifests), err)
	}
	if ref := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != "flx:test" {
		t.Errorf("layout ref.name %q", ref)
	}
	fromLayout, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	// And from the docker tarball, as docker load would.
	tag, err := name.NewTag("flx:test")
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatalf("read tarball: %v", err)
	}
	for _, tc := range []struct {
		name string
		img  v1.Image
	}{{"oci layout", fromLayout}, {"docker tarball", fromTar}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "oci layout" {
				// docker-save tarballs carry no manifest: only the layout
				// keeps the OCI manifest and its digest.
				checkOCI(t, tc.img)
				if d, err := tc.img.Digest(); err != nil || d != want {
					t.Errorf("digest %s (%v), want %s", d, err, want)
				}
			}
			checkImage(t, tc.img)
			raw, err := tc.img.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			var generic map[string]any
			if err := json.Unmarshal(raw, &generic); err != nil {
				t.Fatalf("config is not JSON: %v", err)
			}
			flx, err := ExtractFile(tc.img, "/flx")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "flx")
			if err := os.WriteFile(out, flx, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := CheckStatic(out, "amd64"); err != nil {
				t.Fatalf("packaged binary: %v", err)
			}
			cmd := exec.CommandContext(t.Context(), out, "version")
			cmd.Env = []string{} // nothing from the host, as in the container
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("flx version: %v\n%s", err, got)
			}
			if !strings.Contains(string(got), version) {
				t.Errorf("flx version printed %q, want it to name %s", got, version)
			}
		})
	}
}

// TestDockerfileMatchesBuilder keeps the Dockerfile (engine path) and the Go
// builder (tested path) in step.
func TestDockerfileMatchesBuilder(t *testing.T) {
	instr := dockerfile(t, "Dockerfile")
	js := func(v []string) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), `","`, `", "`)
	}
	last := func(kw string) string {
		t.Helper()
		v := instr[kw]
		if len(v) == 0 {
			t.Fatalf("Dockerfile has no %s", kw)
		}
		return v[len(v)-1]
	}
	froms := instr["FROM"]
	tests := []struct {
		name, got, want string
	}{
		{"ENTRYPOINT", last("ENTRYPOINT"), js(Entrypoint)},
		{"CMD", last("CMD"), js(Cmd)},
		{"USER", last("USER"), User},
		{"WORKDIR (final stage)", last("WORKDIR"), DataDir},
		{"STOPSIGNAL", last("STOPSIGNAL"), "SIGTERM"},
		{"HEALTHCHECK", last("HEALTHCHECK"), "--interval=30s --timeout=5s --start-period=30s --retries=3 CMD " + js(HealthTest[1:])},
		{"ENV", last("ENV"), "FLX_LOG_FORMAT=json"},
		{"EXPOSE", last("EXPOSE"), "8443/tcp 8080/tcp"},
		{"final base", froms[len(froms)-1], "gcr.io/distroless/static-debian12:nonroot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("Dockerfile %s = %q, builder has %q", tc.name, tc.got, tc.want)
			}
		})
	}
	run := strings.Join(instr["RUN"], "\n")
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "-trimpath", "-tags " + BuildTags, `-ldflags "-s -w -buildid= -X main.version=${VERSION}"`, DefaultPackage} {
		if !strings.Contains(run, want) {
			t.Errorf("Dockerfile build step lacks %q:\n%s", want, run)
		}
	}
	args := strings.Join(BuildArgs(BuildOptions{}, "/out/flx"), " ")
	for _, want := range []string{"-trimpath", "-tags " + BuildTags, "-s -w -buildid= -X main.version=dev", DefaultPackage} {
		if !strings.Contains(args, want) {
			t.Errorf("BuildArgs %q lacks %q", args, want)
		}
	}
	// Every test build of flx uses the image's flags (one build cache).
	if got := strings.Join(runtest.ReleaseFlags, " "); !strings.Contains(args, got) {
		t.Errorf("runtest.ReleaseFlags %q are not the image's build flags %q", got, args)
	}
}

// dockerfile returns each instruction's arguments by keyword, in order,
// with line continuations joined and comments dropped.
func dockerfile(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		full := strings.Join(strings.Fields(cur.String()), " ")
		cur.Reset()
		if full == "" {
			continue
		}
		kw, rest, _ := strings.Cut(full, " ")
		out[strings.ToUpper(kw)] = append(out[strings.ToUpper(kw)], rest)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
