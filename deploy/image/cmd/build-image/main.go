package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/familylinks/flx/deploy/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build-image", flag.ContinueOnError)
	var (
		module   = fs.String("module", "", "module root holding go.mod (default: found from the working directory)")
		archs    = fs.String("arch", "amd64", "comma-separated GOARCH list: amd64, arm64 (several only with -oci-layout)")
		version  = fs.String("version", "dev", "version stamped into the binary and the labels")
		revision = fs.String("revision", "", "source revision label (e.g. the git commit)")
		source   = fs.String("source", image.DefaultSource, "source repository label")
		createdF = fs.String("created", "", "image timestamp, RFC 3339 (default: $SOURCE_DATE_EPOCH, else the Unix epoch, for reproducible digests)")
		caCerts  = fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install in the image")
		layoutD  = fs.String("oci-layout", "", "write an OCI image layout directory here")
		tarPath  = fs.String("tarball", "", "write a docker-save tarball here (one -arch only)")
		tag      = fs.String("tag", "flx:dev", "image reference recorded in the outputs")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *layoutD == "" && *tarPath == "" {
		return errors.New("give -oci-layout DIR and/or -tarball FILE")
	}
	arches := strings.Split(*archs, ",")
	if *tarPath != "" && len(arches) != 1 {
		return errors.New("-tarball holds one platform: give one -arch")
	}
	created, err := parseCreated(*createdF, os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	root := *module
	if root == "" {
		if root, err = moduleRoot(ctx); err != nil {
			return err
		}
	}
	certs, err := os.ReadFile(*caCerts)
	if err != nil {
		return fmt.Errorf("CA bundle: %w (install ca-certificates or pass -ca-certs)", err)
	}
	tmp, err := os.MkdirTemp("", "flx-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var imgs []v1.Image
	for _, goarch := range arches {
		bin := filepath.Join(tmp, "flx-"+goarch)
		fmt.Fprintf(os.Stderr, "build-image: go build linux/%s\n", goarch)
		if err := image.BuildBinary(ctx, image.BuildOptions{ModuleDir: root, GOARCH: goarch, Version: *version}, bin); err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		img, err := image.Assemble(image.Options{
			Binary: data, GOARCH: goarch, CACerts: certs,
			Version: *version, Revision: *revision, Source: *source, Created: created,
		})
		if err != nil {
			return err
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "build-image: linux/%s image %s\n", goarch, d)
		imgs = append(imgs, img)
	}
	if *layoutD != "" {
		if err := image.WriteLayout(*layoutD, *tag, imgs...); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "build-image: wrote OCI layout %s (ref %s)\n", *layoutD, *tag)
	}
	if *tarPath != "" {
		if err := image.WriteTarball(*tarPath, *tag, imgs[0]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "build-image: wrote %s (docker load -i %s)\n", *tarPath, *tarPath)
	}
	return nil
}

func parseCreated(flagValue, epoch string) (time.Time, error) {
	switch {
	case flagValue != "":
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("-created: %w", err)
		}
		return t, nil
	case epoch != "":
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
		}
		return time.Unix(s, 0).UTC(), nil
	}
	return time.Time{}, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run from the repository or pass -module")
	}
	return filepath.Dir(gomod), nil
}
