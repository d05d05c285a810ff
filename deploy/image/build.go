package image

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultPackage is the flx command, relative to the module root.
const DefaultPackage = "./node/cmd/flx"

// BuildTags are the Go build tags of the image's binary: the pure-Go
// resolver and user lookup (no libc) and embedded time zone data (the image
// has no /usr/share/zoneinfo).
const BuildTags = "netgo,osusergo,timetzdata"

// BuildOptions describe one `go build` of the flx binary.
type BuildOptions struct {
	// ModuleDir is the directory holding go.mod (required).
	ModuleDir string
	// Package is the main package to build; default DefaultPackage.
	Package string
	// GOARCH is amd64 (default) or arm64; GOOS is always linux.
	GOARCH string
	// Version is stamped into the binary (main.version); default "dev".
	Version string
	// GoCmd is the go command; default "go" from PATH.
	GoCmd string
	// Stderr receives the compiler's output; default os.Stderr.
	Stderr io.Writer
}

// BuildArgs returns the `go build` arguments (after "go") for o, writing to out.
func BuildArgs(o BuildOptions, out string) []string {
	pkg := o.Package
	if pkg == "" {
		pkg = DefaultPackage
	}
	version := o.Version
	if version == "" {
		version = "dev"
	}
	return []string{
		"build", "-trimpath", "-tags", BuildTags,
		"-ldflags", "-s -w -buildid= -X main.version=" + version,
		"-o", out, pkg,
	}
}

// BuildBinary compiles the flx binary statically for linux into out and
// checks that it is static.
func BuildBinary(ctx context.Context, o BuildOptions, out string) error {
	if o.ModuleDir == "" {
		return errors.New("image: build: ModuleDir is required")
	}
	goarch := o.GOARCH
	if goarch == "" {
		goarch = "amd64"
	}
	goCmd := o.GoCmd
	if goCmd == "" {
		goCmd = "go"
	}
	stderr := o.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("image: build: %w", err)
	}
	pkg := o.Package
	if pkg == "" {
		pkg = DefaultPackage
	}
	cmd := exec.CommandContext(ctx, goCmd, BuildArgs(o, abs)...)
	cmd.Dir = o.ModuleDir
	// Later entries win: the build is always static, for linux.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	cmd.Stdout = stderr
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: go build %s for linux/%s: %w", pkg, goarch, err)
	}
	return CheckStatic(abs, goarch)
}

// CheckStatic returns an error unless path is a statically linked linux ELF
// executable for goarch: no program interpreter (PT_INTERP) and no shared
// library (DT_NEEDED). A dynamic binary would not start on a scratch base.
func CheckStatic(path, goarch string) error {
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if want == elf.EM_NONE {
		return fmt.Errorf("image: unsupported GOARCH %q", goarch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("image: %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("image: %s is for %s, want %s", path, f.Machine, want)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("image: %s is %s, not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("image: %s is dynamically linked (has a program interpreter)", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("image: %s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("image: %s needs shared libraries %v", path, libs)
	}
	return nil
}

// WriteLayout writes images (one per platform) to an OCI image layout
// directory, tagged ref via the org.opencontainers.image.ref.name
// annotation. One image is added as is; several become one image index.
func WriteLayout(dir, ref string, imgs ...v1.Image) error {
	if len(imgs) == 0 {
		return errors.New("image: layout: no image")
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("image: layout %s: %w", dir, err)
	}
	annotations := map[string]string{"org.opencontainers.image.ref.name": ref}
	if len(imgs) == 1 {
		if err := p.AppendImage(imgs[0], layout.WithAnnotations(annotations)); err != nil {
			return fmt.Errorf("image: layout %s: %w", dir, err)
		}
		return nil
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		plat, err := Platform(img)
		if err != nil {
			return fmt.Errorf("image: layout: %w", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(annotations)); err != nil {
		return fmt.Errorf("image: layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes img as a `docker save`-format tarball tagged tag, for
// `docker load -i` or `podman load -i`.
func WriteTarball(path, tag string, img v1.Image) error {
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image: tag %q: %w", tag, err)
	}
	if err := tarball.WriteToFile(path, t, img); err != nil {
		return fmt.Errorf("image: tarball %s: %w", path, err)
	}
	return nil
}
