package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed layout. The Dockerfile next to this file uses the same
// values; TestDockerfileMatchesBuilder keeps them in step.
const (
	// UID and GID of the non-root user the node runs as (distroless "nonroot").
	UID = 65532
	GID = 65532
	// UserName is that user's name in /etc/passwd.
	UserName = "nonroot"
	// User is the image config's User field.
	User = "65532:65532"
	// BinaryPath is where the flx binary sits in the image.
	BinaryPath = "/flx"
	// ConfigPath is the config file the default command reads; mount the
	// config (and keys) at /etc/flx.
	ConfigPath = "/etc/flx/config.yaml"
	// DataDir is the working directory and the conventional data_dir mount
	// point (owned by the non-root user).
	DataDir = "/var/lib/flx"
	// CACertsPath is the CA bundle Go's crypto/x509 reads on Linux.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultSource is the org.opencontainers.image.source label.
	DefaultSource = "https://github.com/familylinks/flx"
)

// Entrypoint, Cmd and HealthTest are the image's exec-form commands: no
// shell is needed to start or probe the node.
var (
	Entrypoint = []string{BinaryPath}
	Cmd        = []string{"serve", "--config", ConfigPath}
	HealthTest = []string{"CMD", BinaryPath, "healthcheck"}
)

// Health check timing, shared by the image config and the Dockerfile.
const (
	HealthInterval    = 30 * time.Second
	HealthTimeout     = 5 * time.Second
	HealthStartPeriod = 30 * time.Second
	HealthRetries     = 3
)

// Options describe one image (one platform).
type Options struct {
	// Binary is the static linux flx executable (see BuildBinary).
	Binary []byte
	// GOARCH is the binary's architecture: amd64 (default) or arm64.
	GOARCH string
	// CACerts is the PEM bundle installed at CACertsPath (required: the node
	// may fetch the manifest over https).
	CACerts []byte
	// Version, Revision and Source fill the org.opencontainers.image.* labels.
	Version  string
	Revision string
	Source   string
	// Created is the image and file timestamp. The zero value means the Unix
	// epoch, so the same inputs always give the same digest.
	Created time.Time
}

// File is one entry of the image's single layer.
type File struct {
	Name     string // path without the leading slash; directories end in "/"
	Mode     int64  // permission bits (and setuid/sticky bits)
	UID, GID int
	Data     []byte // nil for directories
}

// Files returns the layer's content in the order it is written.
func Files(o Options) []File {
	dir := func(name string, mode int64, uid, gid int) File {
		return File{Name: name, Mode: mode, UID: uid, GID: gid}
	}
	file := func(name string, mode int64, data []byte) File {
		return File{Name: name, Mode: mode, Data: data}
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", UserName, UID, GID, UserName, UserName)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, GID)
	return []File{
		dir("etc/", 0o755, 0, 0),
		file("etc/group", 0o644, []byte(group)),
		file("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		file("etc/passwd", 0o644, []byte(passwd)),
		dir("etc/flx/", 0o755, 0, 0),
		dir("etc/ssl/", 0o755, 0, 0),
		dir("etc/ssl/certs/", 0o755, 0, 0),
		file(strings.TrimPrefix(CACertsPath, "/"), 0o644, o.CACerts),
		file(strings.TrimPrefix(BinaryPath, "/"), 0o755, o.Binary),
		dir("home/", 0o755, 0, 0),
		dir("home/"+UserName+"/", 0o700, UID, GID),
		dir("tmp/", 0o1777, 0, 0),
		dir("var/", 0o755, 0, 0),
		dir("var/lib/", 0o755, 0, 0),
		dir(strings.TrimPrefix(DataDir, "/")+"/", 0o700, UID, GID),
	}
}

// LayerTar returns the uncompressed tar of the layer, byte-for-byte
// reproducible for the same options.
func LayerTar(o Options) ([]byte, error) {
	if len(o.Binary) == 0 {
		return nil, errors.New("image: no flx binary")
	}
	if len(o.CACerts) == 0 {
		return nil, errors.New("image: no CA certificates")
	}
	mtime := created(o)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range Files(o) {
		hdr := &tar.Header{
			Name:    f.Name,
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if strings.HasSuffix(f.Name, "/") {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("image: tar %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("image: tar %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: tar: %w", err)
	}
	return buf.Bytes(), nil
}

func created(o Options) time.Time {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return o.Created.UTC()
}

func arch(o Options) string {
	if o.GOARCH == "" {
		return "amd64"
	}
	return o.GOARCH
}

// Labels returns the org.opencontainers.image.* labels (also set as
// manifest annotations).
func Labels(o Options) map[string]string {
	version := o.Version
	if version == "" {
		version = "dev"
	}
	source := o.Source
	if source == "" {
		source = DefaultSource
	}
	l := map[string]string{
		"org.opencontainers.image.title":       "flx",
		"org.opencontainers.image.description": "Family Links Exchange node: signed, policy-checked exchange of tracing cases between Red Cross and Red Crescent Societies",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.source":      source,
		"org.opencontainers.image.created":     created(o).Format(time.RFC3339),
		"org.opencontainers.image.base.name":   "scratch",
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// Config returns the image's runtime configuration.
func Config(o Options) v1.Config {
	return v1.Config{
		Entrypoint: append([]string(nil), Entrypoint...),
		Cmd:        append([]string(nil), Cmd...),
		User:       User,
		WorkingDir: DataDir,
		Env: []string{
			"PATH=/",
			"SSL_CERT_FILE=" + CACertsPath,
			"FLX_LOG_FORMAT=json",
		},
		ExposedPorts: map[string]struct{}{"8443/tcp": {}, "8080/tcp": {}},
		Labels:       Labels(o),
		StopSignal:   "SIGTERM",
		Healthcheck: &v1.HealthConfig{
			Test:        append([]string(nil), HealthTest...),
			Interval:    HealthInterval,
			Timeout:     HealthTimeout,
			StartPeriod: HealthStartPeriod,
			Retries:     HealthRetries,
		},
	}
}

// Assemble returns the single-layer OCI image for o.
func Assemble(o Options) (v1.Image, error) {
	switch arch(o) {
	case "amd64", "arm64":
	default:
		return nil, fmt.Errorf("image: unsupported GOARCH %q (want amd64 or arm64)", o.GOARCH)
	}
	tarBytes, err := LayerTar(o)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	when := v1.Time{Time: created(o)}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   when,
			CreatedBy: "deploy/image: static flx binary, CA certificates, passwd/group for " + User,
			Comment:   "built without a container engine (go-containerregistry)",
		},
		MediaType: types.OCILayer,
	})
	if err != nil {
		return nil, fmt.Errorf("image: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = arch(o)
	cf.OS = "linux"
	if cf.Architecture == "arm64" {
		cf.Variant = "v8"
	}
	cf.Created = when
	cf.Author = "FLX project"
	cf.Config = Config(o)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: set config: %w", err)
	}
	img, ok := mutate.Annotations(img, Labels(o)).(v1.Image)
	if !ok {
		return nil, errors.New("image: annotations: not an image")
	}
	return img, nil
}

// Platform returns the platform descriptor of an assembled image.
func Platform(img v1.Image) (*v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, nil
}

// eachEntry calls fn with every entry of the image's layers, lowest layer
// first: its name (cleaned, without the leading slash), its header and a
// reader of its content. It stops at the first error.
func eachEntry(img v1.Image, fn func(name string, h *tar.Header, r io.Reader) error) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				err = fn(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), h, tr)
			}
			if err != nil {
				rc.Close()
				return err
			}
		}
		rc.Close()
	}
	return nil
}

// ListLayer returns the names of the entries in the image's layers (with a
// leading slash, directories ending in "/"), sorted, and their headers.
func ListLayer(img v1.Image) (map[string]*tar.Header, []string, error) {
	hdrs := map[string]*tar.Header{}
	err := eachEntry(img, func(name string, h *tar.Header, _ io.Reader) error {
		name = "/" + name
		if h.Typeflag == tar.TypeDir && name != "/" {
			name += "/"
		}
		hdrs[name] = h
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(hdrs))
	for n := range hdrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return hdrs, names, nil
}

// ExtractFile returns the content of one regular file of the image's layers.
func ExtractFile(img v1.Image, name string) ([]byte, error) {
	want := strings.TrimPrefix(path.Clean("/"+name), "/")
	var found []byte
	err := eachEntry(img, func(n string, h *tar.Header, r io.Reader) error {
		if n != want || h.Typeflag != tar.TypeReg {
			return nil
		}
		var err error
		found, err = io.ReadAll(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("image: %s: %w", name, os.ErrNotExist)
	}
	return found, nil
}
