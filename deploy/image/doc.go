// Package image builds the FLX container image without a container engine:
// it compiles the flx binary statically (CGO_ENABLED=0, -trimpath) for
// linux, checks that the result really is static, and assembles a
// single-layer OCI image on an empty (scratch) base with go-containerregistry.
// The layer holds the binary, CA certificates, /etc/passwd and /etc/group
// entries for the non-root user 65532, and writable mount points; no shell
// and no package manager. The image is written as an OCI layout directory
// (for skopeo, crane, oras, podman) or a docker-save tarball (docker load).
//
// deploy/image/Dockerfile is the equivalent recipe for sites that build with
// a Docker engine; the tests keep the two in step.
//
// Package image packages the binary: it must never import node/store,
// policy or conformance (nor any other FLX package); it runs `go build` on
// node/cmd/flx as a separate process.
package image
