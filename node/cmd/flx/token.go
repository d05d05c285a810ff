package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/store"
)

// tokenCmd is `flx token create|list|revoke`: personal local API tokens,
// managed in the node's database (--config, like `flx audit verify`), so
// that whoever runs the node's host can make the first admin token. The
// node may be running: it looks tokens up in the database on every
// request, so a new token works and a revoked one is refused at once. The
// local API offers the same to the admin role (/api/v1/tokens).
func tokenCmd() *cobra.Command {
	root := &cobra.Command{Use: "token", Short: "Personal local API tokens (per person, with an expiry, revocable)"}
	var cfgPath, person, role string
	var expires time.Duration
	var asJSON bool
	open := func(cmd *cobra.Command) (store.Store, error) {
		if cfgPath == "" {
			return nil, errors.New("token: --config (or FLX_CONFIG) is required")
		}
		cfg, err := config.Load(cfgPath, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		return store.Open(cmd.Context(), cfg.Store.DSN)
	}
	create := &cobra.Command{
		Use:   "create --person NAME --role ROLE [--expires 2160h]",
		Short: "Create a token for a person; the secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ct, err := node.CreateToken(cmd.Context(), st, cliActor(), node.NewToken{Person: person, Role: role, TTL: expires}, time.Time{})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"id": ct.ID, "person": ct.Person, "role": ct.Role,
					"expires_at": ct.ExpiresAt, "secret": ct.Secret})
			}
			fmt.Fprintf(out, "token %s for %s (%s), expires %s\n", ct.ID, ct.Person, ct.Role, ct.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintf(out, "secret (shown once, only its SHA-256 is kept): %s\n", ct.Secret)
			return nil
		},
	}
	create.Flags().StringVar(&person, "person", "", "who holds the token (account name; the audit actor)")
	create.Flags().StringVar(&role, "role", "", "caseworker, operator, auditor or admin")
	create.Flags().DurationVar(&expires, "expires", node.DefaultTokenTTL, "lifetime (at most 8784h)")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	create.MarkFlagRequired("person")
	create.MarkFlagRequired("role")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPERSON\tROLE\tEXPIRES\tSTATE")
			for _, t := range ts {
				state := "active"
				switch {
				case !t.RevokedAt.IsZero():
					state = "revoked " + t.RevokedAt.Format(time.RFC3339) + " by " + t.RevokedBy
				case !t.ActiveAt(now):
					state = "expired"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Person, t.Role, t.ExpiresAt.Format(time.RFC3339), state)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: refused from the node's next request",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			t, err := node.RevokeToken(cmd.Context(), st, cliActor(), args[0], time.Time{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s of %s revoked\n", t.ID, t.Person)
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		c.Flags().StringVar(&cfgPath, "config", os.Getenv("FLX_CONFIG"), "node configuration file (env FLX_CONFIG)")
		root.AddCommand(c)
	}
	return root
}

// cliActor names who ran a database-side admin command in the audit log:
// the operating system account.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}
