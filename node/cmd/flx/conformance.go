package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/conformance"
	"github.com/familylinks/flx/federation/jose"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/policy"
)

// conformanceCmd is `flx conformance`: the black-box suite of package
// conformance, plus the glue that turns a conformance federation into a
// configuration folder for this project's node.
func conformanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Prove a node speaks FLX correctly: set up a conformance federation, run the suite, verify reports",
		Long: `The conformance suite (conformance/SPEC.md) drives a candidate node from outside, as
a federation peer would. "init" writes a throwaway conformance federation and the
candidate's node folder; start the candidate with it (flx serve --config
DIR/candidate/config.yaml for this project's node), then "run" the checks against it.`,
	}
	cmd.AddCommand(conformanceInitCmd(), conformanceRunCmd(), conformanceVerifyCmd(), conformanceListCmd())
	return cmd
}

func conformanceInitCmd() *cobra.Command {
	var dir, cand, testerListen, localAPI, accepts, candJWK string
	var witness, pullOnly bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a conformance federation (anchor, CA, manifest, tester identities) and the candidate's node folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("conformance init: --dir is required")
			}
			spec, err := conformance.ParseCandidate(cand)
			if err != nil {
				return err
			}
			kinds, err := conformance.ParseAccepts(accepts)
			if err != nil {
				return err
			}
			var jwk []byte
			if candJWK != "" {
				if jwk, err = os.ReadFile(candJWK); err != nil {
					return fmt.Errorf("conformance init: --candidate-jwk: %w", err)
				}
			}
			res, err := conformance.Init(dir, conformance.InitOptions{Candidate: spec, CandidateLocalAPI: localAPI, TesterListen: testerListen, Accepts: kinds,
				RequestTimeout: conformanceRequestTimeout, PullInterval: conformancePullInterval, Witness: witness, PullOnly: pullOnly,
				AuditHeadEvery: witnessEvery(witness), CandidateJWK: jwk})
			if err != nil {
				return err
			}
			if err := writeCandidateNode(res, witness); err != nil {
				return fmt.Errorf("conformance init: candidate folder: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "conformance federation written to %s\n", dir)
			fmt.Fprintf(out, "  candidate %s at %s (local API %s)\n", spec.ID, spec.Endpoint, res.Settings.CandidateLocalAPI)
			fmt.Fprintf(out, "  tester %s listens on %s\n", conformance.MemberTester, res.Settings.TesterListen)
			if candJWK != "" {
				fmt.Fprintf(out, "  the candidate's key is the one of %s: put its private JWK at %s\n", candJWK, filepath.Join(res.CandidateDir, "data", "keys", "signing.jwk"))
			}
			fmt.Fprintf(out, "start the candidate:  flx serve --config %s\n", filepath.Join(res.CandidateDir, "config.yaml"))
			fmt.Fprintf(out, "then run the suite:   flx conformance run --dir %s\n", dir)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "conformance directory to create (must not exist or be empty)")
	fl.StringVar(&cand, "candidate", "XA-RC:XA:society:https://127.0.0.1:18443", "the node under test, ID:COUNTRY:ROLE:ENDPOINT")
	fl.StringVar(&testerListen, "tester-listen", "127.0.0.1:18444", "address of the tester's own listener (XD-TESTER's endpoint; the next four ports are XD-PEER's, XD-SUSPENDED's, XD-REMOTE's and XD-PULL's)")
	fl.StringVar(&localAPI, "candidate-local-api", "127.0.0.1:18080", "where the candidate's local API (trigger calls) listens")
	fl.BoolVar(&pullOnly, "pull-only", false, "list the candidate as pull_only: it pulls what the tester queues for it (FLX-PUL-005)")
	fl.BoolVar(&witness, "witness", false, "make XD-TESTER the witness of the candidate's audit heads (FLX-WIT-001): start the run right after the candidate, which sends its head at start")
	fl.StringVar(&candJWK, "candidate-jwk", "", "the public JWK of the candidate's own signing key, published instead of one init generates (checked against FLX-KEY-002: exactly kty, crv, x, y for EC, kid, alg, use \"sig\", optional nbf and exp, no private member)")
	fl.StringVar(&accepts, "accepts", "", "the kinds the candidate accepts, comma-separated (default: every case kind); the suite checks that the others are refused")
	return cmd
}

// witnessConfig names XD-TESTER as the candidate's audit witness (init
// --witness): the node sends it its audit head at start, and again every
// conformanceAuditHeadEvery when it changed (FLX-WIT-001).
func witnessConfig(witness bool) string {
	if !witness {
		return ""
	}
	return "  # XD-TESTER witnesses the audit heads (init --witness; FLX-WIT-001), sent when\n" +
		"  # they changed this often (shortest allowed; declared to the tester).\n" +
		"  audit_witnesses: [" + conformance.MemberTester + "]\n" +
		"  audit_head_every: " + conformanceAuditHeadEvery.String() + "\n"
}

// conformanceAuditHeadEvery is the audit head interval init gives a
// candidate set up with --witness and declares to the tester (the shortest
// this node allows): the check of a changed head waits that long.
const conformanceAuditHeadEvery = time.Minute

// witnessEvery is the audit head interval declared to the tester: none
// without --witness.
func witnessEvery(witness bool) time.Duration {
	if !witness {
		return 0
	}
	return conformanceAuditHeadEvery
}

// conformanceRequestTimeout is the delivery request timeout init gives the
// candidate (delivery.request_timeout) and declares to the tester: the
// check of FLX-DLV-007 waits that long, not 120 s, for a hung attempt to
// be abandoned.
const conformanceRequestTimeout = 5 * time.Second

// conformancePullInterval is the pull interval init gives the candidate
// (coordination.pull_interval) and declares to the tester: the check of
// FLX-PUL-008 waits that long, not 5 minutes, for the next pull.
const conformancePullInterval = time.Second

var (
	policyMemberLine  = regexp.MustCompile(`(?m)^member:.*$`)
	policyCountryLine = regexp.MustCompile(`(?m)^country:.*$`)
)

// writeCandidateNode writes config.yaml, policy.yaml and tokens.txt so that
// `flx serve --config <candidate>/config.yaml` runs this project's node as
// the candidate.
func writeCandidateNode(res *conformance.InitResult, witness bool) error {
	s := res.Settings
	listen := s.CandidateListen
	if host, port, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			listen = net.JoinHostPort("0.0.0.0", port)
		}
	}
	rules := policy.ExampleRules()
	rules = policyMemberLine.ReplaceAllLiteral(rules, []byte("member: "+s.Candidate.ID))
	rules = policyCountryLine.ReplaceAllLiteral(rules, []byte("country: "+s.Candidate.Country))
	if _, err := policy.Parse(rules, "policy.yaml"); err != nil {
		return err
	}
	rules = append([]byte("# Data-protection rules of the candidate for the conformance run: FLX's strict\n# defaults. The tester's cases carry consent to transfers to its members.\n#\n"), rules...)
	cfg := fmt.Sprintf(`# Node configuration of conformance candidate %s, written by "flx conformance init".
# Run it with: flx serve --config <this file>
member: %s
data_dir: data

federation:
  listen: %s
  tls_cert: tls/cert.pem
  tls_key: tls/key.pem
  signing_key: keys/signing.jwk
  trust_anchor: trust/anchor.jwk
  manifest: trust/manifest.jws
  # Re-read every second (default 5m), so that the suite's manifest mode
  # (flx conformance run --manifest-file) sees each manifest it writes
  # adopted or refused within seconds.
  manifest_refresh: 1s
  # A body that stops arriving is answered 408 after this long (FLX-BAT-006);
  # shortened from the default 60s so that the conformance check is quick.
  read_timeout: 5s

delivery:
  # One attempt is abandoned after this long (FLX-DLV-007 allows up to 120s);
  # shortened from the default 30s and declared to the tester (settings.json),
  # so that the check of a peer that never answers is quick.
  request_timeout: %s

coordination:
  # Pulled envelopes are offered again after this long (FLX-PUL-003);
  # shortened from the default 2m so that the conformance check is quick.
  pull_lease: 3s
  # A pull_only candidate (init --pull-only) pulls this often (FLX-PUL-005);
  # shortened from the default 1m.
  pull_interval: %s
%s
match:
  # A matching secret of the candidate's own (match.secret_file, 0600), so
  # that it can send match queries (FLX-MAT-006's optional trigger call).
  secret_file: match-secret.json

local_api:
  listen: %s
  # The tester's trigger token (tokens.txt); only its SHA-256 is here.
  tokens:
    - name: conformance-tester
      role: caseworker
      sha256: %s

policy:
  rules: ../policy.yaml
`, s.Candidate.ID, s.Candidate.ID, listen, s.RequestTimeout(), s.PullInterval(), witnessConfig(witness), s.CandidateLocalAPI, res.TriggerTokenSHA256)
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		return err
	}
	c.Resolve(res.CandidateDir)
	if err := c.Verify(); err != nil {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	sj := fmt.Sprintf(`{"kid": "conformance-1", "key": %q}`+"\n", base64.StdEncoding.EncodeToString(secret))
	if err := os.WriteFile(filepath.Join(res.CandidateDir, "data", "match-secret.json"), []byte(sj), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(res.CandidateDir, "policy.yaml"), rules, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(res.CandidateDir, "tokens.txt"), []byte("caseworker conformance-tester "+res.TriggerToken+"\n"), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(res.CandidateDir, "config.yaml"), []byte(cfg), 0o644)
}

func conformanceRunCmd() *cobra.Command {
	var (
		dir, target, triggerURL, triggerToken, out, junit, jsonPath, signWith string
		only                                                                  []string
		slow, noOutbound                                                      bool
		quiet                                                                 time.Duration
		manifestFile                                                          string
		manifestRefresh                                                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the conformance checks against a candidate node and write the table, JSON, JUnit XML and signed reports",
		Long: `Runs every check (or those selected with --only: check ids, requirement ids,
prefixes such as FLX-KEY, or check function names such as
checkReplaySameJTIOtherBytes) and prints a table. Writes report.txt, report.json,
report.junit.xml and report.jws (the JSON signed by the tester) into --out.
Exit status: 0 pass, 1 a check failed, 2 incomplete (a check could not run).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("conformance run: --dir is required")
			}
			id, err := conformance.Load(dir)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("trigger-url") && !noOutbound {
				triggerURL = "http://" + id.Settings.CandidateLocalAPI
			}
			if noOutbound {
				triggerURL = ""
			}
			var sel []string
			for _, o := range only {
				sel = append(sel, strings.Split(o, ",")...)
			}
			rep, err := conformance.Run(cmd.Context(), conformance.Config{
				Dir: dir, Target: target, TriggerURL: triggerURL, TriggerToken: triggerToken,
				Only: sel, Slow: slow, Quiet: quiet, Log: cmd.ErrOrStderr(),
				ManifestFile: manifestFile, ManifestRefresh: manifestRefresh,
			})
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(dir, "report")
			}
			if err := writeReports(rep, id, out, junit, jsonPath, signWith); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reports in %s\n", out)
			if code := rep.ExitCode(); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "conformance directory made by flx conformance init")
	fl.StringVar(&target, "target", "", "the candidate's federation URL (default: its endpoint in the conformance manifest)")
	fl.StringVar(&triggerURL, "trigger-url", "", "base URL of the candidate's trigger calls, SPEC.md §12 (default: http://<candidate local API from init>)")
	fl.StringVar(&triggerToken, "trigger-token", "", "bearer token for the trigger calls (default: the one init wrote)")
	fl.BoolVar(&noOutbound, "no-outbound", false, "skip the outbound checks (the candidate offers no trigger calls)")
	fl.StringSliceVar(&only, "only", nil, "run only these checks (ids, requirement ids, prefixes or check function names; comma-separated or repeated)")
	fl.BoolVar(&slow, "slow", false, "also run the checks that wait minutes")
	fl.DurationVar(&quiet, "quiet", 8*time.Second, "how long to watch for something that must not arrive")
	fl.StringVar(&manifestFile, "manifest-file", "", "enable manifest mode: the file the candidate reads its manifest from, which the tester overwrites (this node as init sets it up: DIR/candidate/data/trust/manifest.jws)")
	fl.DurationVar(&manifestRefresh, "manifest-refresh", time.Second, "how often the candidate re-reads its manifest file (init configures this node with 1s)")
	fl.StringVar(&out, "out", "", "folder for the reports (default DIR/report)")
	fl.StringVar(&junit, "junit", "", "also write the JUnit XML here")
	fl.StringVar(&jsonPath, "json", "", "also write the JSON report here")
	fl.StringVar(&signWith, "sign-with", "", "private JWK that signs report.jws (default: the tester's key in DIR/tester/keys)")
	return cmd
}

func writeReports(rep *conformance.Report, id *conformance.Identity, out, junit, jsonPath, signWith string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	ju, err := rep.JUnit()
	if err != nil {
		return err
	}
	var tbl strings.Builder
	if err := rep.WriteTable(&tbl); err != nil {
		return err
	}
	key := id.SigningKey()
	if signWith != "" {
		if key, err = jose.LoadPrivateKey(signWith); err != nil {
			return err
		}
	}
	signed, err := conformance.SignReport(js, key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join(out, "report.json"): js, filepath.Join(out, "report.junit.xml"): ju,
		filepath.Join(out, "report.txt"): []byte(tbl.String()), filepath.Join(out, "report.jws"): append(signed, '\n'),
	}
	if junit != "" {
		files[junit] = ju
	}
	if jsonPath != "" {
		files[jsonPath] = js
	}
	for p, b := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func conformanceVerifyCmd() *cobra.Command {
	var report, keyPath string
	cmd := &cobra.Command{
		Use:   "verify-report",
		Short: "Verify a signed conformance report (report.jws) and print its summary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if report == "" || keyPath == "" {
				return errors.New("verify-report: --report and --key are required")
			}
			signed, err := os.ReadFile(report)
			if err != nil {
				return err
			}
			kb, err := os.ReadFile(keyPath)
			if err != nil {
				return err
			}
			key, err := jose.ParsePublicJWK(kb)
			if err != nil {
				return fmt.Errorf("verify-report: key: %w", err)
			}
			rep, _, err := conformance.VerifyReport(signed, key)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "signature OK (tester %s, key %s)\n", rep.Tester.Member, key.KID())
			fmt.Fprintf(w, "candidate %s at %s\nsuite %s (revision %s), spec %s, manifest %s v%d\nrun %s .. %s, modes %v\n",
				rep.Target.Member, rep.Target.Endpoint, rep.SuiteVersion, rep.SuiteRevision, rep.Spec, rep.Manifest.Federation, rep.Manifest.Version,
				rep.StartedAt.Format(time.RFC3339), rep.FinishedAt.Format(time.RFC3339), rep.Modes)
			s := rep.Summary
			fmt.Fprintf(w, "%d pass, %d fail, %d warn, %d skip, %d error, %d not checked: verdict %s\n",
				s[conformance.StatusPass], s[conformance.StatusFail], s[conformance.StatusWarn], s[conformance.StatusSkip],
				s[conformance.StatusError], s[conformance.StatusNotChecked], rep.Verdict)
			return nil
		},
	}
	cmd.Flags().StringVar(&report, "report", "", "signed report (report.jws)")
	cmd.Flags().StringVar(&keyPath, "key", "", "the tester's public JWK (DIR/tester/keys/tester-ed25519.pub.jwk)")
	return cmd
}

func conformanceListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registered checks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, c := range conformance.Checks() {
				fmt.Fprintf(cmd.OutOrStdout(), "%-46s %-8s %-36s %s\n", c.ID, c.Mode, c.Name, c.Title)
			}
			return nil
		},
	}
}
