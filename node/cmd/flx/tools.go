package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
)

// policyCmd is `flx policy check`: a dry run of the Society's rules on a
// document for a destination, offline.
func policyCmd() *cobra.Command {
	root := &cobra.Command{Use: "policy", Short: "Data-protection policy tools"}
	var rules, doc, to, manifest, anchor, kind string
	var asJSON bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Evaluate the rules on a document for a destination member (nothing is sent)",
		Long: `Evaluate a rules file on a case (or response, message, withdrawal) document
for a destination, and print the decision: effect, every rule that fired
with its reason, and the fields that would be removed. With --manifest and
--anchor the destination's country, role and status come from the verified
federation manifest; otherwise the destination is unknown and denied.
Exit status: 0 allow, 1 deny, 2 bad input, 3 needs review.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := policy.CheckRequest{RulesPath: rules, CasePath: doc, To: to, Kind: kind}
			if manifest != "" {
				m, err := loadVerifiedManifest(manifest, anchor)
				if err != nil {
					return err
				}
				req.Lookup = func(id string) (policy.Destination, bool) {
					mb, ok := m.Member(id)
					if !ok {
						return policy.Destination{}, false
					}
					d := policy.Destination{Member: mb.ID, Country: mb.Country, Role: string(mb.Role), Active: mb.Status == federation.StatusActive}
					for _, k := range mb.Accepts {
						d.Accepts = append(d.Accepts, string(k))
					}
					return d, true
				}
			}
			res, err := policy.Check(cmd.Context(), req)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "flx policy check:", err)
				return exitError{policy.ExitUsage}
			}
			if asJSON {
				b, _ := json.MarshalIndent(res, "", "  ")
				fmt.Fprintln(cmd.OutOrStdout(), string(b))
			} else {
				fmt.Fprint(cmd.OutOrStdout(), res.Text())
			}
			if c := res.ExitCode(); c != 0 {
				return exitError{c}
			}
			return nil
		},
	}
	f := check.Flags()
	f.StringVar(&rules, "rules", "", "rules file (YAML)")
	f.StringVar(&doc, "case", "", "document to check (JSON)")
	f.StringVar(&to, "to", "", "destination member id")
	f.StringVar(&manifest, "manifest", "", "signed federation manifest, to describe the destination")
	f.StringVar(&anchor, "anchor", "", "trust anchor public key (JWK) that signs the manifest")
	f.StringVar(&kind, "kind", "", "envelope kind (default: from the document)")
	f.BoolVar(&asJSON, "json", false, "print the decision and the redacted document as JSON")
	root.AddCommand(check)
	return root
}

func loadVerifiedManifest(path, anchorPath string) (*federation.Manifest, error) {
	if anchorPath == "" {
		return nil, errors.New("--manifest needs --anchor (the trust anchor public key)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ab, err := os.ReadFile(anchorPath)
	if err != nil {
		return nil, err
	}
	anchor, err := jose.ParsePublicJWK(ab)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	return federation.VerifyManifest(raw, anchor, time.Now(), nil)
}

// auditCmd is `flx audit verify`: recompute the audit log's hash chain in
// the node's database.
func auditCmd() *cobra.Command {
	root := &cobra.Command{Use: "audit", Short: "Audit log tools"}
	var cfgPath, witnessHead string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the hash chain of the node's audit log (exit 1 if it was tampered with)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("audit verify: --config (or FLX_CONFIG) is required")
			}
			cfg, err := config.Load(cfgPath, os.LookupEnv)
			if err != nil {
				return err
			}
			st, err := store.Open(cmd.Context(), cfg.Store.DSN)
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !v.OK() {
				fmt.Fprintf(out, "AUDIT LOG TAMPERED: chain breaks at entry %d: %s (%d entries checked)\n", v.FirstBadSeq, v.Problem, v.Rows)
				return exitError{1}
			}
			fmt.Fprintf(out, "audit log chain intact: %d entries, head %s\n", v.Rows, v.Head)
			return verifyWitnessed(cmd, st, cfg.Member, v.Rows, witnessHead)
		},
	}
	verify.Flags().StringVar(&cfgPath, "config", os.Getenv("FLX_CONFIG"), "node configuration file (env FLX_CONFIG)")
	verify.Flags().StringVar(&witnessHead, "witness-head", "", "JSON of the head a witness holds for this member (GET /api/v1/audit/witnessed?member=ID on the witness); default: the latest head a witness acknowledged, from this node's outbox")
	root.AddCommand(verify)
	return root
}
