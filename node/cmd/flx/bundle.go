package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/federation/keyfile"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/node/trust"
	"github.com/familylinks/flx/policy"
)

// bundleCmd is `flx bundle export|import`: carried bundles for members
// without network (SPEC.md §16), on the node's own database (the node may be
// running: rows are leased, and its inbox processor picks up what an import
// stored).
func bundleCmd() *cobra.Command {
	root := &cobra.Command{Use: "bundle", Short: "Carried bundles for members without network"}
	var cfgPath, to, out, in, ret string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the envelopes queued for a member to a bundle file, signed and encrypted to it",
		Long: `Packs the envelopes queued for --to (the oldest not yet receipted of each case) into a
bundle file signed by this member and encrypted to the recipient's key from the
manifest (enc_jwks): a lost file discloses nothing. The envelopes stay queued
until the recipient's receipts come back (flx bundle import of its return bundle).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" || out == "" {
				return errors.New("bundle export: --to and --out are required")
			}
			return withOfflineNode(cmd.Context(), cfgPath, func(n *node.Node) error {
				exp, err := n.ExportBundle(cmd.Context(), to)
				if err != nil {
					return fmt.Errorf("bundle export: %w", err)
				}
				if err := keyfile.WriteNew(out, exp.File, 0o600); err != nil {
					return fmt.Errorf("bundle export: %w", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bundle %s for %s: %d envelopes written to %s\n", exp.JTI, to, exp.Envelopes, out)
				return nil
			})
		},
	}
	export.Flags().StringVar(&cfgPath, "config", os.Getenv("FLX_CONFIG"), "node configuration file (env FLX_CONFIG)")
	export.Flags().StringVar(&to, "to", "", "recipient member id")
	export.Flags().StringVar(&out, "out", "", "bundle file to write (must not exist)")
	imp := &cobra.Command{
		Use:   "import",
		Short: "Import a bundle addressed to this member, and write the return bundle of receipts",
		Long: `Opens a bundle file addressed to this member, checks every envelope as if its
exporter had sent it over the federation API (at the bundle's time), stores what
passes exactly once, and records the receipts a bundle carries for this
member's own envelopes. With --return, writes the receipts and refusals for
the exporter to a bundle file to carry back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return errors.New("bundle import: --in is required")
			}
			file, err := os.ReadFile(in)
			if err != nil {
				return fmt.Errorf("bundle import: %w", err)
			}
			return withOfflineNode(cmd.Context(), cfgPath, func(n *node.Node) error {
				res, err := n.ImportBundle(cmd.Context(), file)
				if err != nil {
					return fmt.Errorf("bundle import: %w", err)
				}
				if err := n.ProcessInbox(cmd.Context()); err != nil {
					return fmt.Errorf("bundle import: processing: %w", err)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "bundle %s from %s: %d stored, %d duplicates, %d refused, %d receipts recorded, %d unmatched\n",
					res.JTI, res.From, res.Stored, res.Duplicates, res.Refused, res.Receipts, res.Unmatched)
				switch {
				case res.Return == nil:
				case ret == "":
					fmt.Fprintf(w, "receipts for %s are not written: give --return FILE (importing again writes them)\n", res.From)
				default:
					if err := keyfile.WriteNew(ret, res.Return, 0o600); err != nil {
						return fmt.Errorf("bundle import: %w", err)
					}
					fmt.Fprintf(w, "return bundle for %s written to %s\n", res.From, ret)
				}
				return nil
			})
		},
	}
	imp.Flags().StringVar(&cfgPath, "config", os.Getenv("FLX_CONFIG"), "node configuration file (env FLX_CONFIG)")
	imp.Flags().StringVar(&in, "in", "", "bundle file to import")
	imp.Flags().StringVar(&ret, "return", "", "file to write the return bundle (receipts) to (must not exist)")
	root.AddCommand(export, imp)
	return root
}

// loadBundleKeys reads the bundle encryption key; a missing file means none
// (the node then cannot open bundles).
func loadBundleKeys(path string, log *slog.Logger) ([]*jose.EncPrivateKey, error) {
	k, err := jose.LoadEncKey(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no bundle encryption key: carried bundles cannot be imported", "path", path)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("bundle key: %w", err)
	}
	return []*jose.EncPrivateKey{k}, nil
}

// withOfflineNode builds the node of a configuration without its listeners
// or background loops, runs fn, and closes the store.
func withOfflineNode(ctx context.Context, cfgPath string, fn func(*node.Node) error) error {
	if cfgPath == "" {
		return errors.New("--config (or FLX_CONFIG) is required")
	}
	cfg, err := config.Load(cfgPath, os.LookupEnv)
	if err != nil {
		return err
	}
	if err := cfg.Verify(); err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, cfg.Store.DSN)
	if err != nil {
		return err
	}
	defer st.Close()
	anchorJWK, err := os.ReadFile(cfg.Federation.TrustAnchor)
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	anchor, err := jose.ParsePublicJWK(anchorJWK)
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	tr, err := trust.New(ctx, trust.Options{Anchor: anchor, Source: cfg.Federation.Manifest, Store: st, Logger: log, Skew: cfg.Federation.ClockSkew})
	if err != nil {
		return err
	}
	signer, err := jose.LoadPrivateKey(cfg.Federation.SigningKey)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(cfg.Federation.TLSCert, cfg.Federation.TLSKey)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	rules, err := policy.Load(cfg.Policy.Rules)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	keys, err := loadBundleKeys(cfg.Coordination.BundleKey, log)
	if err != nil {
		return err
	}
	n, err := node.New(node.Options{
		Self: cfg.Member, Store: st, Trust: tr, Signer: signer, SignerFor: keyRing(cfg, tr, signer, log),
		Policy: policy.New(rules), TLS: cert, EnvelopeTTL: cfg.Federation.EnvelopeTTL, Skew: cfg.Federation.ClockSkew,
		Logger: log, Routes: cfg.Coordination.Routes, BundleKeys: keys, Stats: statsOptions(cfg.Coordination),
	})
	if err != nil {
		return err
	}
	return fn(n)
}
