package main

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/fedadmin"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

//go:embed demodata/*.json
var demoData embed.FS

const demoCase = "XA-RC:DEMO-0001"

type demoMember struct {
	id, country string
	role        federation.Role
	about       string
}

var demoMembers = []demoMember{
	{"XA-RC", "XA", federation.RoleSociety, "Red Cross of XA: the family's Society"},
	{"XB-RC", "XB", federation.RoleSociety, "Red Cross of XB: where the son is detained"},
	{"ICRC-CTA", "XC", federation.RoleCoordinator, "ICRC Central Tracing Agency: coordinates"},
}

func demoCmd() *cobra.Command {
	var dir string
	var once, keep, verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-member federation on loopback and play a tracing scenario",
		Long: `Start a local federation of three nodes (XA-RC, XB-RC, ICRC-CTA) on the
embedded SQLite store in a temporary folder, and play a scenario: a mother in
XA asks XA-RC to trace her son detained in XB; the case goes to XB-RC and the
ICRC with the policy's redactions; XB-RC answers "located"; a Red Cross
message and a recorded video-message reference travel back; the mother
withdraws her consent and both peers erase and confirm. The timeline is
printed as it happens. Then the nodes stay up, with their local API URLs and
tokens printed, until Ctrl-C (--once exits after the scenario).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), demoOptions{dir: dir, once: once, keep: keep, verbose: verbose})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "folder for the federation and databases (default: a new temporary folder, removed at exit)")
	cmd.Flags().BoolVar(&once, "once", false, "exit after the scenario")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary folder at exit")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "also print the nodes' logs")
	return cmd
}

type demoOptions struct {
	dir                 string
	once, keep, verbose bool
}

// freePort reserves a loopback port (released again at once: good enough
// for a demo on one machine).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type timeline struct {
	w     io.Writer
	start time.Time
}

func (t *timeline) say(who, format string, args ...any) {
	fmt.Fprintf(t.w, "[%6.2fs] %-9s %s\n", time.Since(t.start).Seconds(), who, fmt.Sprintf(format, args...))
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) (err error) {
	tl := &timeline{w: out, start: time.Now()}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flx-demo-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	fmt.Fprintf(out, "FLX demo: a three-member federation on loopback, embedded SQLite stores in %s\n\n", dir)

	// 1. The federation: trust anchor, CA, keys, certificates, signed manifest.
	fedDir := filepath.Join(dir, "federation")
	var specs []fedadmin.MemberSpec
	fedAddrs := map[string]string{}
	for _, m := range demoMembers {
		addr, err := freePort()
		if err != nil {
			return err
		}
		fedAddrs[m.id] = addr
		specs = append(specs, fedadmin.MemberSpec{ID: m.id, Name: m.about, Country: m.country, Role: m.role, Endpoint: "https://" + addr})
	}
	if _, _, err := fedadmin.Init(fedDir, fedadmin.InitConfig{Name: "FLX demo federation", Members: specs}); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tl.say("anchor", "federation created: trust anchor, development CA, a signing key and TLS certificate per member, manifest v1 signed")

	// 2. Start the three nodes.
	logOut := io.Discard
	if o.verbose {
		logOut = out
	}
	nodes := map[string]*runningNode{}
	tokens := map[string]map[string]string{}
	defer func() {
		for _, rn := range nodes {
			rn.Stop()
		}
		for _, rn := range nodes {
			rn.Wait()
		}
	}()
	for _, m := range demoMembers {
		mdir := fedadmin.MemberDir(fedDir, m.id)
		cfg, err := config.Load(filepath.Join(mdir, fedadmin.MemberConfigFile), func(string) (string, bool) { return "", false })
		if err != nil {
			return err
		}
		cfg.Federation.Listen = fedAddrs[m.id]
		if cfg.LocalAPI.Listen, err = freePort(); err != nil {
			return err
		}
		cfg.Delivery.PollInterval = 200 * time.Millisecond
		// XA-RC reaches XB-RC through the ICRC (a route of its own
		// configuration): the case travels signed by XA-RC inside ICRC-CTA's
		// relay envelope. Statistics are sent by the scenario, for every
		// month that is over.
		if m.id == "XA-RC" {
			cfg.Coordination.Routes = map[string]string{"XB-RC": "ICRC-CTA"}
		}
		cfg.Coordination.StatsEvery, cfg.Coordination.StatsSettle = 0, time.Second
		log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", m.id)
		rn, err := startNode(ctx, cfg, log)
		if err != nil {
			return fmt.Errorf("demo: start %s: %w", m.id, err)
		}
		nodes[m.id] = rn
		if tokens[m.id], err = readTokens(filepath.Join(mdir, fedadmin.MemberTokensFile)); err != nil {
			return err
		}
		tl.say(m.id, "node up: federation API https://%s (mTLS), local API http://%s", rn.FedAddr, rn.LocalAddr)
	}
	if err := playScenario(ctx, tl, nodes); err != nil {
		return err
	}

	if o.once {
		fmt.Fprintf(out, "\nWithout --once the federation stays up, and these are what you would poke it with (this run's ports and tokens):\n")
	} else {
		fmt.Fprintf(out, "\nThe federation stays up. Poke it (tokens are also in %s/members/<ID>/tokens.txt):\n", fedDir)
	}
	for _, m := range demoMembers {
		rn := nodes[m.id]
		fmt.Fprintf(out, "\n  %s — %s\n    local API  http://%s   (OpenAPI: /api/v1/openapi.json, metrics: /metrics)\n", m.id, m.about, rn.LocalAddr)
		fmt.Fprintf(out, "    console    http://%s/console/   (sign in with a token below)\n", rn.LocalAddr)
		for _, role := range []string{"caseworker", "operator", "auditor"} {
			fmt.Fprintf(out, "    %-10s token %s\n", role, tokens[m.id][role])
		}
	}
	xa := nodes["XA-RC"]
	fmt.Fprintf(out, "\n  For example:\n    curl -s -H 'Authorization: Bearer %s' http://%s/api/v1/cases/%s\n    curl -s -H 'Authorization: Bearer %s' http://%s/api/v1/audit/verify\n",
		tokens["XA-RC"]["caseworker"], xa.LocalAddr, url.PathEscape(demoCase), tokens["XA-RC"]["auditor"], xa.LocalAddr)
	tryCase, err := writeTryCase(fedDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
  Next, with the flx case commands (they talk to a node's local API; in another terminal, build flx first with
  go build -o flx ./node/cmd/flx and write ./flx, or write go run ./node/cmd/flx instead of flx):
    export FLX_API=http://%s FLX_TOKEN=%s
    flx case thread %s            # what happened to the demo case: versions, deliveries, withdrawal
    flx case create %s   # a case of your own (%s)
    flx case check %s --to XB-RC  # what the policy would send
    flx case forward %s --to XB-RC
    flx case search 'Illya Testov'       # another spelling of the son's name (Ілля Тестов)
    FLX_API=http://%s FLX_TOKEN=%s flx case inbox   # what XB-RC received
`, xa.LocalAddr, tokens["XA-RC"]["caseworker"], demoCase, tryCase, tryCaseID, tryCaseID, tryCaseID,
		nodes["XB-RC"].LocalAddr, tokens["XB-RC"]["caseworker"])
	if o.once {
		if o.dir == "" && !o.keep {
			fmt.Fprintf(out, "\n--once: stopping. These nodes, ports and tokens end now, and %s is removed (keep it with --keep).\n", dir)
		} else {
			fmt.Fprintf(out, "\n--once: stopping. These nodes, ports and tokens end now; the files stay in %s.\n", dir)
		}
		return nil
	}
	fmt.Fprintln(out, "\nCtrl-C to stop.")
	<-ctx.Done()
	return nil
}

// readTokens reads tokens.txt ("role name token" lines) into role -> token.
func readTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 {
			out[fields[0]] = fields[2]
		}
	}
	return out, sc.Err()
}

func demoDoc(name string) []byte {
	b, err := demoData.ReadFile("demodata/" + name + ".json")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return b
}

// waitDelivered waits until every outbox row of the case at n is delivered.
func waitDelivered(ctx context.Context, st store.Store, caseID string, want int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := st.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Limit: 1000})
		if err != nil {
			return err
		}
		done := 0
		for _, r := range rows {
			if r.State == store.Delivered {
				done++
			}
		}
		if done >= want {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("demo: case %s: fewer than %d deliveries after 30s", caseID, want)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitProcessed waits until member n has processed count inbox rows of kind for the case.
func waitProcessed(ctx context.Context, st store.Store, caseID, kind string, count int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rows, err := st.ListInbox(ctx, store.InboxFilter{CaseID: caseID, Kind: kind, State: "processed", Limit: 1000})
		if err != nil {
			return err
		}
		if len(rows) >= count {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("demo: %s of %s not processed after 30s", kind, caseID)
}

func playScenario(ctx context.Context, tl *timeline, nodes map[string]*runningNode) error {
	xa, xb, cta := nodes["XA-RC"].Node, nodes["XB-RC"].Node, nodes["ICRC-CTA"].Node
	cw := node.Actor{Name: "caseworker", Role: "caseworker"}
	fmt.Fprintln(tl.w)

	if _, err := xa.CreateCase(ctx, cw, demoDoc("case")); err != nil {
		return fmt.Errorf("demo: create case: %w", err)
	}
	tl.say("XA-RC", "a mother in XA asks XA-RC to trace her son, detained in XB: case %s created (tracing_request, v1)", demoCase)

	for _, to := range []string{"XB-RC", "ICRC-CTA"} {
		res, err := xa.Forward(ctx, cw, demoCase, to)
		if err != nil {
			return fmt.Errorf("demo: forward to %s: %w", to, err)
		}
		tl.say("XA-RC", "policy for %s: %s, %d field(s) removed before sending %s", to, res.Decision.Effect, len(res.Decision.Redactions), res.Kind)
		for _, f := range res.Decision.Fired {
			tl.say("", "  %-24s %s", f.RuleID, f.Reason)
		}
		if len(res.Decision.Redactions) > 0 {
			tl.say("", "  removed: %s", strings.Join(res.Decision.Redactions, ", "))
		}
		if to == "XB-RC" {
			tl.say("XA-RC", "XA-RC reaches XB-RC through ICRC-CTA: the envelope it signed for XB-RC travels unchanged inside a relay.forward")
		}
	}
	if err := waitDelivered(ctx, nodes["XA-RC"].Store, demoCase, 2); err != nil {
		return err
	}
	tl.say("XA-RC", "both envelopes delivered over mTLS; signed receipts verified and stored")
	if err := showRelay(ctx, tl, nodes); err != nil {
		return err
	}
	for id, n := range map[string]*node.Node{"XB-RC": xb, "ICRC-CTA": cta} {
		if err := waitProcessed(ctx, nodes[id].Store, demoCase, string(federation.KindCaseCreate), 1); err != nil {
			return err
		}
		v, err := n.GetCase(ctx, demoCase)
		if err != nil {
			return err
		}
		c, err := schema.ParseCase(v.Document)
		if err != nil {
			return err
		}
		tl.say(id, "received %s: %d person(s), detention details %s, sensitive data %s", demoCase, len(c.Persons), presence(c.Detention != nil), presence(hasSensitive(c)))
	}

	if _, err := xb.Respond(ctx, cw, demoCase, demoDoc("response")); err != nil {
		return fmt.Errorf("demo: response: %w", err)
	}
	tl.say("XB-RC", "answers: located (the son was visited and agreed that his mother be told)")
	for _, m := range []struct{ doc, what string }{{"rcm", "a Red Cross message from the son"}, {"video", "a recorded video message (reference: sha256, video/mp4, 14 MiB, 48 s)"}} {
		if _, err := xb.SendMessage(ctx, cw, demoCase, "XA-RC", demoDoc(m.doc)); err != nil {
			return fmt.Errorf("demo: message %s: %w", m.doc, err)
		}
		tl.say("XB-RC", "sends %s", m.what)
	}
	if err := waitProcessed(ctx, nodes["XA-RC"].Store, demoCase, string(federation.KindMessageDeliver), 2); err != nil {
		return err
	}
	if err := waitProcessed(ctx, nodes["XA-RC"].Store, demoCase, string(federation.KindCaseResponse), 1); err != nil {
		return err
	}
	tl.say("XA-RC", "inbox: the response and both messages received, verified and stored once each")
	if err := showStats(ctx, tl, nodes); err != nil {
		return err
	}

	wr, err := xa.Withdraw(ctx, cw, demoCase, schema.WithdrawalReason("consent_withdrawn"))
	if err != nil {
		return fmt.Errorf("demo: withdraw: %w", err)
	}
	tl.say("XA-RC", "the mother withdraws her consent: case erased here (tombstone kept), case.withdraw sent to %s", strings.Join(wr.SentTo, " and "))
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := nodes["XA-RC"].Store.ListRecipients(ctx, demoCase)
		if err != nil {
			return err
		}
		confirmed := 0
		for _, r := range rs {
			if !r.WithdrawalConfirmedAt.IsZero() {
				confirmed++
			}
		}
		if confirmed == len(wr.SentTo) {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("demo: erasure confirmations missing after 30s")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	for _, id := range []string{"XB-RC", "ICRC-CTA"} {
		c, err := nodes[id].Store.GetCase(ctx, demoCase)
		if err != nil {
			return err
		}
		tl.say(id, "erased the case (document gone: %v, reason %s) and confirmed to XA-RC", c.Document == nil, c.EraseReason)
	}
	tl.say("XA-RC", "both erasures confirmed")
	for _, m := range demoMembers {
		v, err := nodes[m.id].Store.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		tl.say(m.id, "audit log: %d entries, hash chain intact: %v", v.Rows, v.OK())
	}
	return nil
}

func presence(b bool) string {
	if b {
		return "present"
	}
	return "removed"
}

func hasSensitive(c *schema.Case) bool {
	for _, p := range c.Persons {
		if p.Sensitive != nil {
			return true
		}
	}
	return false
}

// tryCaseID is the case the demo's hints invite a newcomer to create.
const tryCaseID = "XA-RC:TRY-0001"

// writeTryCase writes the demo case document as a new case, tryCaseID at
// version 1, into dir for the hints; it returns the file's path.
func writeTryCase(dir string) (string, error) {
	var doc map[string]any
	if err := json.Unmarshal(demoDoc("case"), &doc); err != nil {
		return "", fmt.Errorf("demo: try case: %w", err)
	}
	doc["case_id"], doc["version"] = tryCaseID, 1
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", fmt.Errorf("demo: try case: %w", err)
	}
	p := filepath.Join(dir, "try-case.json")
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("demo: try case: %w", err)
	}
	return p, nil
}
