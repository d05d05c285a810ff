// Command build-image builds the FLX container image without a container
// engine: it compiles node/cmd/flx statically for linux, assembles the
// single-layer image (package deploy/image) and writes an OCI layout
// directory and/or a docker-save tarball.
//
//	go run ./deploy/image/cmd/build-image -oci-layout out/flx-oci -tarball out/flx.tar -tag flx:dev
//	docker load -i out/flx.tar                        # where an engine exists
//	skopeo copy oci:out/flx-oci:flx:dev docker://registry.example.org/flx:1.0.0
//
// It must never import node/store, policy or conformance (nor any FLX
// package but deploy/image): it packages the binary, it does not link it.
package main
