package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "flx",
		Short:         "Family Links Exchange node",
		Long:          "flx runs a Family Links Exchange node: signed, policy-checked exchange of tracing cases between Red Cross and Red Crescent Societies over mutually authenticated HTTPS.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(versionCmd(), healthcheckCmd(), federationCmd(), serveCmd(), demoCmd(), policyCmd(), auditCmd(), benchCmd(), caseCmd(), matchCmd(), conformanceCmd(), bundleCmd(), tokenCmd(), reviewCmd())
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintln(cmd.OutOrStdout(), "flx", v)
			return nil
		},
	}
}

func healthcheckCmd() *cobra.Command {
	url := "http://127.0.0.1:8080/healthz"
	timeout := 5 * time.Second
	cacert := ""
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the node's health endpoint answers 200 (for container health checks)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := &http.Client{Timeout: timeout}
			if cacert != "" {
				pem, err := os.ReadFile(cacert)
				if err != nil {
					return fmt.Errorf("healthcheck: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("healthcheck: no certificate in %s", cacert)
				}
				c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			}
			resp, err := c.Get(url)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", url, "health URL to probe")
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "time limit")
	cmd.Flags().StringVar(&cacert, "cacert", "", "CA certificate (PEM) to trust for an https URL (a local API served with its own certificate)")
	return cmd
}
