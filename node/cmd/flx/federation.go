package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/spf13/cobra"
)

// federationCmd groups the federation administration commands (files only;
// see package fedadmin).
func federationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federation",
		Short: "Administer a federation: trust anchor, CA, members and the signed manifest",
		Long: `Administer a federation held in a directory (--dir OUT): the trust anchor
key that signs the manifest (OUT/anchor/anchor.jwk: keep it offline), the
development CA (OUT/ca/), the signed manifest (OUT/manifest.jws) and one
folder per member (OUT/members/<ID>/) to copy to that member's server.

Every change re-signs the manifest with a higher version and copies it to
each member folder's data/trust/manifest.jws; running nodes pick it up at
their next refresh (federation.manifest_refresh).`,
	}
	cmd.AddCommand(fedInitCmd(), fedAddMemberCmd(), fedRotateKeyCmd(), fedSuspendCmd(), fedRenewCmd(), fedShowCmd())
	return cmd
}

// resignFlags are the flags of every command that re-signs the manifest.
type resignFlags struct {
	dir              string
	anchorKey        string
	manifestValidity time.Duration
}

func (f *resignFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.dir, "dir", "", "federation directory (made by flx federation init)")
	cmd.Flags().StringVar(&f.anchorKey, "anchor-key", "", "trust anchor private key, if kept outside the directory (default DIR/anchor/anchor.jwk)")
	cmd.Flags().DurationVar(&f.manifestValidity, "manifest-validity", 0, "validity of the new manifest (default: as at init, 720h)")
	_ = cmd.MarkFlagRequired("dir")
}

func (f *resignFlags) open(extra ...fedadmin.Option) (*fedadmin.Admin, error) {
	opts := append([]fedadmin.Option{fedadmin.WithManifestValidity(f.manifestValidity)}, extra...)
	if f.anchorKey != "" {
		opts = append(opts, fedadmin.WithAnchorKey(f.anchorKey))
	}
	return fedadmin.Open(f.dir, opts...)
}

func fedInitCmd() *cobra.Command {
	var (
		dir, name, alg                      string
		members, hosts                      []string
		validity, caValidity, manifestValid time.Duration
		force                               bool
	)
	cmd := &cobra.Command{
		Use:   "init --dir OUT --name NAME --member ID:COUNTRY:ROLE:ENDPOINT ... [--host ID=hostname]",
		Short: "Create a federation: trust anchor, CA, members' keys, certificates, configs and the signed manifest",
		Long: `Create a federation in OUT:

  OUT/anchor/anchor.jwk       trust anchor private key (0600): keep it offline
  OUT/anchor/anchor.pub.jwk   its public key, pinned by every node
  OUT/ca/                     development CA (ca.crt, ca.key 0600)
  OUT/manifest.jws            the signed manifest, version 1
  OUT/federation.json         settings later commands reuse
  OUT/members/<ID>/           one folder per member, to copy to its server:
      config.yaml  policy.yaml  tokens.txt (bearer tokens, 0600)
      data/tls/cert.pem, key.pem (0600)
      data/keys/signing.jwk, bundle.jwk (0600: signing key, bundle encryption key)
      data/trust/anchor.jwk, manifest.jws

Each --member is ID:COUNTRY:ROLE:ENDPOINT, e.g. XA-RC:XA:society:https://xa-rc:8443
(ROLE is society, delegation or coordinator). A member's certificate names
its endpoint host, localhost, 127.0.0.1 and ::1, plus any --host ID=hostname
(repeat the flag or separate with commas).

OUT must be missing or empty; --force replaces a federation made by init
(destroying its trust anchor key).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			specs := make([]fedadmin.MemberSpec, 0, len(members))
			for _, s := range members {
				spec, err := fedadmin.ParseMemberSpec(s)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				specs = append(specs, spec)
			}
			hostMap, err := fedadmin.ParseHosts(hosts)
			if err != nil {
				errs = append(errs, err)
			} else if len(errs) == 0 {
				errs = append(errs, fedadmin.AttachHosts(specs, hostMap))
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("federation init: %w", err)
			}
			a, ch, err := fedadmin.Init(dir, fedadmin.InitConfig{
				Name: name, Members: specs, CertValidity: validity, CAValidity: caValidity,
				ManifestValidity: manifestValid, Alg: jose.Alg(alg), Force: force,
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			m := ch.Manifest
			fmt.Fprintf(w, "Federation %q created in %s (manifest version %d, expires %s).\n", m.Federation, a.Dir(), m.Version, m.ExpiresAt.Format(time.RFC3339))
			fmt.Fprintf(w, "Trust anchor private key: %s (keep it offline; every later change needs it).\n", filepath.Join(a.Dir(), filepath.FromSlash(fedadmin.AnchorKeyFile)))
			fmt.Fprintln(w, "Members:")
			for _, mb := range m.Members {
				fmt.Fprintf(w, "  %-10s %s  %-11s %s\n", mb.ID, mb.Country, mb.Role, mb.Endpoint)
				fmt.Fprintf(w, "             folder %s, bearer tokens in %s\n", fedadmin.MemberDir(a.Dir(), mb.ID), fedadmin.MemberPath(a.Dir(), mb.ID, fedadmin.MemberTokensFile))
			}
			fmt.Fprintf(w, "Start a node with: flx serve --config %s\n", fedadmin.MemberPath(a.Dir(), m.Members[0].ID, fedadmin.MemberConfigFile))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory to create the federation in")
	f.StringVar(&name, "name", "", "federation name")
	f.StringArrayVar(&members, "member", nil, "member as ID:COUNTRY:ROLE:ENDPOINT (repeat)")
	f.StringArrayVar(&hosts, "host", nil, "extra certificate host name as ID=hostname (repeat, or comma-separated)")
	f.DurationVar(&validity, "validity", fedadmin.DefaultCertValidity, "validity of member TLS certificates")
	f.DurationVar(&caValidity, "ca-validity", fedadmin.DefaultCAValidity, "validity of the development CA")
	f.DurationVar(&manifestValid, "manifest-validity", fedadmin.DefaultManifestValidity, "time from a manifest's issue to its expiry (renew before it)")
	f.StringVar(&alg, "alg", string(jose.EdDSA), "algorithm of the anchor and signing keys: EdDSA or ES256")
	f.BoolVar(&force, "force", false, "replace a federation already in --dir (destroys its trust anchor key)")
	for _, n := range []string{"dir", "name", "member"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

func fedAddMemberCmd() *cobra.Command {
	var (
		rf       resignFlags
		member   string
		hosts    []string
		validity time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add-member --dir OUT --member ID:COUNTRY:ROLE:ENDPOINT [--host ID=hostname]",
		Short: "Add a member: its keys, certificate, config, policy and tokens; re-sign the manifest",
		Long: `Add a member to the federation in OUT: create OUT/members/<ID>/ as init does
(config.yaml, policy.yaml, tokens.txt, data/ with its certificate, keys and
trust files), then sign a manifest listing it with version+1 and copy it to
every member folder.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := fedadmin.ParseMemberSpec(member)
			if err != nil {
				return fmt.Errorf("federation add-member: %w", err)
			}
			hostMap, err := fedadmin.ParseHosts(hosts)
			if err == nil {
				specs := []fedadmin.MemberSpec{spec}
				err = fedadmin.AttachHosts(specs, hostMap)
				spec = specs[0]
			}
			if err != nil {
				return fmt.Errorf("federation add-member: %w", err)
			}
			a, err := rf.open(fedadmin.WithCertValidity(validity))
			if err != nil {
				return err
			}
			ch, err := a.AddMember(spec)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Member %s added: folder %s, bearer tokens in %s.\n", spec.ID, fedadmin.MemberDir(a.Dir(), spec.ID), fedadmin.MemberPath(a.Dir(), spec.ID, fedadmin.MemberTokensFile))
			printChange(w, ch)
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&member, "member", "", "the new member as ID:COUNTRY:ROLE:ENDPOINT")
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "extra certificate host name as ID=hostname (repeat, or comma-separated)")
	cmd.Flags().DurationVar(&validity, "validity", 0, "validity of its TLS certificate (default: as at init)")
	_ = cmd.MarkFlagRequired("member")
	return cmd
}

func fedRotateKeyCmd() *cobra.Command {
	var (
		rf        resignFlags
		member    string
		overlap   time.Duration
		notBefore string
		alg       string
	)
	cmd := &cobra.Command{
		Use:   "rotate-key --dir OUT --member ID [--overlap 72h] [--not-before TIME]",
		Short: "Give a member a new signing key, keeping the old one valid for an overlap",
		Long: `Give a member a new signing key and re-sign the manifest with version+1.

The manifest then lists the new key with nbf = --not-before (default now)
and the current key with exp = nbf + --overlap. In the member's folder the
new private key becomes data/keys/signing.jwk and the previous one is kept
as data/keys/signing.<kid>.jwk (0600) until its exp.

The node signs with the new key once its nbf has passed (before that, with
the previous key); peers keep verifying envelopes signed with the previous
key until its exp. Peers that fetch the manifest on a refresh interval learn
the new key only at their next refresh: give --not-before a margin (e.g.
+10m) when nodes do not read this directory directly. Keys that had already
expired are removed from the manifest and their files deleted.

--not-before takes an RFC 3339 time or a duration from now (e.g. 10m).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ro := fedadmin.RotateOptions{Overlap: overlap, Alg: jose.Alg(alg)}
			if notBefore != "" {
				var err error
				if ro.NotBefore, err = parseTimeOrOffset(notBefore, time.Now()); err != nil {
					return fmt.Errorf("federation rotate-key: --not-before: %w", err)
				}
			}
			a, err := rf.open()
			if err != nil {
				return err
			}
			r, err := a.RotateKey(member, ro)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Member %s: new signing key %s valid from %s; previous key %s valid until %s.\n",
				member, r.NewKID, r.NotBefore.Format(time.RFC3339), r.OldKID, r.OldExpires.Format(time.RFC3339))
			if len(r.Dropped) > 0 {
				fmt.Fprintf(w, "Expired keys removed: %s.\n", strings.Join(r.Dropped, ", "))
			}
			printChange(w, r.Change)
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&member, "member", "", "member id")
	cmd.Flags().DurationVar(&overlap, "overlap", fedadmin.DefaultOverlap, "how long after the new key's nbf the previous key stays valid")
	cmd.Flags().StringVar(&notBefore, "not-before", "", "when the new key becomes valid: RFC 3339 time or a duration from now (default now)")
	cmd.Flags().StringVar(&alg, "alg", "", "algorithm of the new key: EdDSA or ES256 (default: the current key's)")
	_ = cmd.MarkFlagRequired("member")
	return cmd
}

func parseTimeOrOffset(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "+")); err == nil {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func fedSuspendCmd() *cobra.Command {
	var (
		rf        resignFlags
		member    string
		reinstate bool
	)
	cmd := &cobra.Command{
		Use:   "suspend --dir OUT --member ID [--reinstate]",
		Short: "Suspend a member (or reinstate it) and re-sign the manifest",
		Long: `Set a member's status to suspended (or, with --reinstate, back to active)
and re-sign the manifest with version+1. Nodes refuse everything from a
suspended member (suspended_member) and send nothing to it, from their next
manifest refresh.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := rf.open()
			if err != nil {
				return err
			}
			st := federation.StatusSuspended
			if reinstate {
				st = federation.StatusActive
			}
			ch, err := a.SetStatus(member, st)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Member %s is now %s.\n", member, st)
			printChange(w, ch)
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&member, "member", "", "member id")
	cmd.Flags().BoolVar(&reinstate, "reinstate", false, "make a suspended member active again")
	_ = cmd.MarkFlagRequired("member")
	return cmd
}

func fedRenewCmd() *cobra.Command {
	var rf resignFlags
	cmd := &cobra.Command{
		Use:   "renew --dir OUT",
		Short: "Re-sign the manifest unchanged with a new expiry (run it regularly)",
		Long: `Re-sign the manifest with version+1, issued now and a new expiry, without any
other change. Nodes refuse an expired manifest: renew well before expires_at
(e.g. weekly for the 30-day default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := rf.open()
			if err != nil {
				return err
			}
			ch, err := a.Renew()
			if err != nil {
				return err
			}
			printChange(cmd.OutOrStdout(), ch)
			return nil
		},
	}
	rf.add(cmd)
	return cmd
}

func fedShowCmd() *cobra.Command {
	var (
		dir, manifest, anchor string
		asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "show (--dir OUT | --manifest FILE --anchor FILE)",
		Short: "Verify and print a manifest: version, expiry, members, keys, status",
		Long: `Verify a manifest with the trust anchor's public key and print it: version,
expiry, CA, and each member with status, endpoint, TLS pins and signing keys
(kid, alg, nbf, exp). With --dir it reads OUT/manifest.jws and
OUT/anchor/anchor.pub.jwk; --manifest and --anchor name other files (e.g. a
node's data/trust/manifest.jws and anchor.jwk). --json prints the manifest's
content as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if manifest == "" && dir != "" {
				manifest = filepath.Join(dir, fedadmin.ManifestFile)
			}
			if anchor == "" && dir != "" {
				anchor = filepath.Join(dir, filepath.FromSlash(fedadmin.AnchorPubFile))
			}
			if manifest == "" || anchor == "" {
				return errors.New("federation show: give --dir, or --manifest and --anchor")
			}
			now := time.Now()
			m, expired, err := fedadmin.LoadManifest(manifest, anchor, now)
			if err != nil {
				return fmt.Errorf("federation show: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			return fedadmin.WriteSummary(cmd.OutOrStdout(), m, expired, now)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "federation directory")
	cmd.Flags().StringVar(&manifest, "manifest", "", "manifest file (default DIR/manifest.jws)")
	cmd.Flags().StringVar(&anchor, "anchor", "", "trust anchor public key file (default DIR/anchor/anchor.pub.jwk)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest content as JSON")
	return cmd
}

// printChange reports a re-signed manifest and where it went.
func printChange(w io.Writer, ch *fedadmin.Change) {
	if ch == nil || ch.Manifest == nil {
		return
	}
	fmt.Fprintf(w, "Manifest version %d signed, expires %s.\n", ch.Manifest.Version, ch.Manifest.ExpiresAt.Format(time.RFC3339))
	if len(ch.Distributed) > 0 {
		fmt.Fprintf(w, "Copied to the member folders of %s.\n", strings.Join(ch.Distributed, ", "))
	}
	if len(ch.Missing) > 0 {
		fmt.Fprintf(w, "No folder here for %s: give them the new manifest.jws.\n", strings.Join(ch.Missing, ", "))
	}
}
