package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// The data-protection officer's paths: what an outside reviewer tries
// after the policy corpus (policy/adversarial_test.go) and the canary test
// (canary_test.go) pass. Each scenario plants unique canaries, sends them
// along one outgoing path of a real federation of three nodes, and looks
// for every canary in everything each member holds (its store: cases,
// versions, inbox and outbox envelopes, the SQLite files as bytes and
// base64), in every node's log output and in its metrics. A canary that
// must not reach a member is a leak; a control that must arrive and does
// not is a failure too, so the test cannot pass by sending nothing.

// dpoFed is a federation of XA-RC, XB-RC and ICRC-CTA on SQLite, with the
// logs and metrics of every node captured.
type dpoFed struct {
	nodes map[string]*nodetest.Node
	dsn   map[string]string
	logs  *lockedBuffer
	mets  map[string]*node.Metrics
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDPO starts the three members; tune changes the federation before it
// is signed (relay_via, pull_only), tuneNode a node's options.
func startDPO(t *testing.T, tune func(f *fedtest.Federation), tuneNode func(id string, o *nodetest.Options)) *dpoFed {
	t.Helper()
	f := fedtest.New(t, threeMembers...)
	if tune != nil {
		tune(f)
	}
	lns := map[string]net.Listener{}
	for id := range f.Members {
		lns[id] = nodetest.Listen(t, f.Member(t, id))
	}
	f.Sign(t)
	df := &dpoFed{nodes: map[string]*nodetest.Node{}, dsn: map[string]string{}, logs: &lockedBuffer{}, mets: map[string]*node.Metrics{}}
	for id := range f.Members {
		df.dsn[id] = nodetest.DSN(t, nodetest.SQLite)
		df.mets[id] = node.NewMetrics(prometheus.NewRegistry())
		o := nodetest.Options{
			Dialect: nodetest.SQLite, DSN: df.dsn[id], Metrics: df.mets[id],
			Logger: slog.New(slog.NewJSONHandler(df.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id),
			Tune: func(o *node.Options) {
				o.RelayWait = 30 * time.Second
				o.PullInterval = 100 * time.Millisecond
			},
		}
		if tuneNode != nil {
			tuneNode(id, &o)
		}
		df.nodes[id] = nodetest.Start(t, f, id, lns[id], o)
	}
	return df
}

// holds reports where member holds value (empty: nowhere): its cases and
// versions, inbox and outbox envelopes (and the bodies inside them, relay
// chains included), and its SQLite files.
func (df *dpoFed) holds(t *testing.T, member, value string) string {
	t.Helper()
	ctx := context.Background()
	st := df.nodes[member].Store
	var where []string
	add := func(what string, b []byte) {
		if b != nil && containsForms(b, value) {
			where = append(where, what)
		}
	}
	cs, err := st.ListCases(ctx, store.CaseFilter{IncludeErased: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Cases {
		full, err := st.GetCase(ctx, c.ID)
		if err == nil {
			add("case "+c.ID, full.Document)
		}
		vs, _ := st.ListCaseVersions(ctx, c.ID)
		for _, v := range vs {
			add(fmt.Sprintf("version %d of %s", v.Version, c.ID), v.Document)
		}
	}
	for _, r := range allInbox(t, st, store.InboxFilter{IncludeEnvelope: true}) {
		add(fmt.Sprintf("inbox %d (%s)", r.ID, r.Kind), r.Envelope)
	}
	for _, r := range allOutbox(t, st, store.OutboxFilter{IncludeEnvelope: true}) {
		add(fmt.Sprintf("outbox %d (%s to %s)", r.ID, r.Kind, r.Destination), r.Envelope)
	}
	if f := inFiles(t, strings.TrimPrefix(df.dsn[member], "sqlite:"), value); f != "" {
		where = append(where, "files: "+f)
	}
	return strings.Join(where, "; ")
}

// containsForms reports whether b holds value as written, or inside one or
// two levels of base64url (a JWS payload, a relay chain's inner token).
func containsForms(b []byte, value string) bool {
	if bytes.Contains(b, []byte(value)) {
		return true
	}
	var walk func(b []byte, depth int) bool
	walk = func(b []byte, depth int) bool {
		if depth == 0 {
			return false
		}
		for _, part := range bytes.FieldsFunc(b, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			if len(part) < 16 {
				continue
			}
			dec, err := base64.RawURLEncoding.DecodeString(string(part))
			if err != nil {
				continue
			}
			if bytes.Contains(dec, []byte(value)) || walk(dec, depth-1) {
				return true
			}
		}
		return false
	}
	return walk(b, 3)
}

// inLogsOrMetrics reports whether value is in any node's log output or in
// the text exposition of any node's metrics.
func (df *dpoFed) inLogsOrMetrics(t *testing.T, value string) string {
	t.Helper()
	var where []string
	if strings.Contains(df.logs.String(), value) {
		where = append(where, "logs")
	}
	for id, m := range df.mets {
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, mf := range mfs {
			b.WriteString(mf.GetName())
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					b.WriteString(" " + l.GetName() + "=" + l.GetValue())
				}
			}
			b.WriteByte('\n')
		}
		if strings.Contains(b.String(), value) {
			where = append(where, "metrics of "+id)
		}
	}
	return strings.Join(where, ", ")
}

// dpoCase is the demo case with canaries at the given pointers (values
// from canaryValue), changed by edit.
func dpoCase(t *testing.T, caseID, tag string, ptrs []string, edit func(m map[string]any)) ([]byte, map[string]string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(readTestdata(t, "case.json"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["case_id"] = caseID
	vals := map[string]string{}
	for _, p := range ptrs {
		vals[p] = canaryValue(0, tag+caseID, p)
		setPointer(t, doc, p, vals[p])
	}
	if edit != nil {
		edit(doc)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b, vals
}

// TestDPORelayHoldsOnlyWhatItMay: a member reached through the coordinator
// (relay_via) gets a case the coordinator may not hold, because the
// person fears the coordinator's country or the consent names the
// recipient alone. The relay carries the origin's envelope in the clear,
// so it holds what it carries: the origin must judge the route's relays as
// destinations too, and refuse (fail closed) what a relay may not hold.
func TestDPORelayHoldsOnlyWhatItMay(t *testing.T) {
	ctx := context.Background()
	df := startDPO(t, func(f *fedtest.Federation) {
		f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
	}, nil)
	xa := df.nodes["XA-RC"]
	tag := strings.ToUpper(federation.NewJTI()[:6])
	ptrs := []string{"/persons/0/names/1/value", "/persons/0/address/address_line", "/notes/0/text"}
	for _, sc := range []struct {
		name string
		edit func(m map[string]any)
	}{
		{"feared-relay-country", func(m map[string]any) {
			p := m["persons"].([]any)[1].(map[string]any)
			p["feared_countries"] = []any{"XC"}
		}},
		{"consent-names-recipient-only", func(m map[string]any) {
			c := m["consents"].([]any)[0].(map[string]any)
			c["scope"] = map[string]any{"uses": []any{"tracing", "transfer"}, "members": []any{"XB-RC"}}
		}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			caseID := "XA-RC:DPO-RELAY-" + strings.ToUpper(sc.name[:4])
			doc, vals := dpoCase(t, caseID, tag, ptrs, sc.edit)
			if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
				t.Fatal(err)
			}
			res, err := xa.Forward(ctx, cw, caseID, "XB-RC")
			t.Logf("forward: %s %v", res.State, err)
			if res.State == "queued" {
				waitProcessed(t, df.nodes["XB-RC"].Store, caseID, string(federation.KindCaseCreate), 1)
			}
			time.Sleep(200 * time.Millisecond)
			for p, v := range vals {
				if w := df.holds(t, "ICRC-CTA", v); w != "" {
					t.Errorf("LEAK: the relay ICRC-CTA holds %s (%s) in %s", p, v, w)
				}
				if w := df.inLogsOrMetrics(t, v); w != "" {
					t.Errorf("LEAK: %s in %s", p, w)
				}
			}
		})
	}
}
