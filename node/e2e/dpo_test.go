package e2e

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
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
	f     *fedtest.Federation
	nodes map[string]*nodetest.Node
	dsn   map[string]string
	logs  *nodetest.SyncBuffer
	mets  map[string]*node.Metrics
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
	df := &dpoFed{f: f, nodes: map[string]*nodetest.Node{}, dsn: map[string]string{}, logs: &nodetest.SyncBuffer{}, mets: map[string]*node.Metrics{}}
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
	return df.snapshot(t, member).find(value)
}

// snapshot is what a member holds, each part with the base64url tokens in
// it decoded (three levels: a JWS payload, a relay chain's inner token) and
// its percent escapes decoded.
type snapshot []struct{ what, text string }

// find looks for value as written and case-folded (a part's text holds
// its lower-case copy too: withFolded).
func (s snapshot) find(value string) string {
	var where []string
	folded := strings.ToLower(value)
	for _, p := range s {
		if strings.Contains(p.text, value) || strings.Contains(p.text, folded) {
			where = append(where, p.what)
		}
	}
	return strings.Join(where, "; ")
}

// snapshot reads everything member holds now.
func (df *dpoFed) snapshot(t *testing.T, member string) snapshot {
	t.Helper()
	ctx := context.Background()
	st := df.nodes[member].Store
	var out snapshot
	add := func(what string, b []byte) {
		if b != nil {
			out = append(out, struct{ what, text string }{what, withFolded(expand(b, 3))})
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
	path := strings.TrimPrefix(df.dsn[member], "sqlite:")
	for _, f := range []string{path, path + "-wal", path + "-journal"} {
		if b, err := os.ReadFile(f); err == nil {
			add("file "+filepath.Base(f), b)
		}
	}
	return out
}

// expand returns b followed by the decoded base64url tokens in it, and
// theirs, depth levels deep. In a file a token may begin anywhere: each of
// the four alignments is tried.
func expand(b []byte, depth int) string {
	var sb strings.Builder
	sb.Write(b)
	if bytes.IndexByte(b, '%') >= 0 {
		sb.WriteByte('\n')
		sb.WriteString(unpercent(b))
	}
	if depth == 0 {
		return sb.String()
	}
	for _, part := range bytes.FieldsFunc(b, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		if len(part) < 16 {
			continue
		}
		shifts := 1
		if depth == 3 {
			shifts = 4 // stored bytes: a token may begin anywhere
		}
		for shift := 0; shift < shifts; shift++ {
			p := part[shift:]
			dec, err := base64.RawURLEncoding.DecodeString(string(p[:len(p)/4*4]))
			if err != nil {
				continue
			}
			sb.WriteByte('\n')
			sb.WriteString(expand(dec, depth-1))
		}
	}
	return sb.String()
}

// withFolded is s followed by its lower-case copy.
func withFolded(s string) string { return s + "\n" + strings.ToLower(s) }

// unpercent decodes the percent escapes of b, keeping what is not one.
func unpercent(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) {
			if v, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				i += 2
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

// inLogsOrMetrics reports whether value is in any node's log output or in
// the names and labels of any node's metrics.
func (df *dpoFed) inLogsOrMetrics(t *testing.T, value string) string {
	t.Helper()
	return df.logsAndMetrics(t).find(value)
}

// logsAndMetrics is every node's log output and metric names and labels.
func (df *dpoFed) logsAndMetrics(t *testing.T) snapshot {
	t.Helper()
	out := snapshot{{"logs", withFolded(df.logs.String())}}
	for id, m := range df.mets {
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, mf := range mfs {
			b.WriteString(mf.GetName())
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					b.WriteString(" " + l.GetName() + "=" + l.GetValue())
				}
			}
			b.WriteByte('\n')
		}
		out = append(out, struct{ what, text string }{"metrics of " + id, withFolded(b.String())})
	}
	return out
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
	t.Parallel()
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
		safe bool // the relay may hold it: it must arrive at XB-RC
	}{
		{"none", nil, true},
		{"feared-relay-country", func(m map[string]any) {
			p := m["persons"].([]any)[1].(map[string]any)
			p["feared_countries"] = []any{"XC"}
		}, false},
		{"consent-names-recipient-only", func(m map[string]any) {
			c := m["consents"].([]any)[0].(map[string]any)
			c["scope"] = map[string]any{"uses": []any{"tracing", "transfer"}, "members": []any{"XB-RC"}}
		}, false},
	} {
		t.Run(sc.name, func(t *testing.T) {
			caseID := "XA-RC:DPO-RELAY-" + strings.ToUpper(sc.name[:4])
			doc, vals := dpoCase(t, caseID, tag, ptrs, sc.edit)
			if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
				t.Fatal(err)
			}
			res, err := xa.Forward(ctx, cw, caseID, "XB-RC")
			if !sc.safe {
				if res.State != "denied" {
					t.Errorf("LEAK: the forward through a relay that may not hold it was %s (%v)", res.State, err)
				}
				fired := false
				for _, f := range res.Decision.Fired {
					fired = fired || strings.HasPrefix(f.Reason, "relay ICRC-CTA")
				}
				if !fired {
					t.Errorf("the decision does not say that the relay refused it: %+v", res.Decision.Fired)
				}
			} else {
				if res.State != "queued" {
					t.Fatalf("control: forward through the relay: %s (%v)", res.State, err)
				}
				waitProcessed(t, df.nodes["XB-RC"].Store, caseID, string(federation.KindCaseCreate), 1)
				if w := df.holds(t, "XB-RC", vals["/persons/0/names/1/value"]); w == "" {
					t.Error("control: the enquirer's name did not reach XB-RC through the relay")
				}
				// Once the case is withdrawn, the relay keeps no copy of
				// what it carried either.
				if _, err := xa.Withdraw(ctx, cw, caseID, "consent_withdrawn"); err != nil {
					t.Fatal(err)
				}
				nodetest.WaitFor(t, 30*time.Second, "XB-RC erases the case", func() bool {
					c, err := df.nodes["XB-RC"].Store.GetCase(ctx, caseID)
					return err == nil && c.Erased()
				})
				nodetest.WaitFor(t, 30*time.Second, "XA-RC has the confirmation", func() bool {
					rows := allInbox(t, xa.Store, store.InboxFilter{CaseID: caseID, Kind: string(federation.KindCaseWithdraw)})
					return len(rows) > 0 && !rows[0].ProcessedAt.IsZero()
				})
				for p, v := range vals {
					for _, m := range []string{"XB-RC", "ICRC-CTA"} {
						if w := df.holds(t, m, v); w != "" {
							t.Errorf("LEAK: after the withdrawal %s still holds %s (%s) in %s", m, p, v, w)
						}
					}
				}
			}
			for p, v := range vals {
				if w := df.holds(t, "ICRC-CTA", v); w != "" && !sc.safe {
					t.Errorf("LEAK: the relay ICRC-CTA holds %s (%s) in %s", p, v, w)
				}
				if w := df.inLogsOrMetrics(t, v); w != "" {
					t.Errorf("LEAK: %s in %s", p, w)
				}
			}
		})
	}
}

// TestDPORouteChangedToRelay: a case judged for a direct route waits in
// the outbox while its destination is down; meanwhile the manifest makes
// the destination reachable only through the coordinator, whose country
// the person fears. The attempt through the relay is refused before
// anything reaches it (the row waits, with the reason), and the relay
// holds nothing.
func TestDPORouteChangedToRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	df := startDPO(t, nil, nil)
	xa, xb := df.nodes["XA-RC"], df.nodes["XB-RC"]
	xb.Stop()
	tag := strings.ToUpper(federation.NewJTI()[:6])
	caseID := "XA-RC:DPO-ROUTE"
	doc, vals := dpoCase(t, caseID, tag, []string{"/persons/0/names/1/value", "/persons/0/address/address_line"}, func(m map[string]any) {
		m["persons"].([]any)[1].(map[string]any)["feared_countries"] = []any{"XC"}
	})
	if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
		t.Fatal(err)
	}
	if res, err := xa.Forward(ctx, cw, caseID, "XB-RC"); err != nil || res.State != "queued" {
		t.Fatalf("forward on the direct route: %s %v", res.State, err)
	}
	df.f.Member(t, "XB-RC").RelayVia = []string{"ICRC-CTA"}
	df.f.Sign(t)
	xa.UpdateManifest(t, df.f)
	df.nodes["ICRC-CTA"].UpdateManifest(t, df.f)
	refused := func() bool {
		for _, r := range allOutbox(t, xa.Store, store.OutboxFilter{CaseID: caseID}) {
			if strings.Contains(r.LastError, "may not hold") {
				return true
			}
		}
		return false
	}
	nodetest.WaitFor(t, 20*time.Second, "an attempt through the relay, refused or made", func() bool {
		return refused() || df.holds(t, "ICRC-CTA", vals["/persons/0/names/1/value"]) != ""
	})
	if !refused() {
		t.Error("no attempt through the relay was refused")
	}
	for p, v := range vals {
		if w := df.holds(t, "ICRC-CTA", v); w != "" {
			t.Errorf("LEAK: the relay holds %s (%s) in %s", p, v, w)
		}
	}
}

// dpoPlant are the places of the generated case that get a canary, by
// owner: p1 is the enquirer, p2 the sought person, "" the case's shared
// fields (free text, separation).
var dpoPlant = []struct{ ptr, owner string }{
	{"/persons/0/names/0/value", "p1"}, {"/persons/0/address/address_line", "p1"},
	{"/persons/0/contact/phones/0", "p1"}, {"/persons/0/contact/emails/0", "p1"},
	{"/persons/1/names/0/value", "p2"}, {"/persons/1/place_of_birth/description", "p2"},
	{"/persons/1/address/address_line", "p2"}, {"/persons/1/address/description", "p2"},
	{"/persons/1/contact/phones/0", "p2"}, {"/persons/1/contact/emails/0", "p2"},
	{"/persons/1/contact/address/address_line", "p2"}, {"/persons/1/last_known_location/place/description", "p2"},
	{"/persons/1/sensitive/religion", "p2"},
	{"/separation/place/description", ""}, {"/notes/0/text", ""}, {"/risk/notes", ""},
	{"/legal_basis/justification", ""}, {"/best_interest_assessment/outcome", ""},
}

// dpoValue is a canary that fits the field at ptr.
func dpoValue(tag, ptr string) string {
	v := canaryValue(0, tag, ptr)
	switch {
	case strings.Contains(ptr, "/phones/"):
		d := ""
		for _, c := range v[2:] {
			d += string('0' + c%10)
		}
		return "+999 " + d[:10]
	case strings.Contains(ptr, "/emails/"):
		return strings.ToLower(v) + "@example.org"
	}
	return v
}

// dpoFullCase is a tracing request of XA-RC with every place of dpoPlant
// filled with a canary, then changed by the situation.
func dpoFullCase(t *testing.T, caseID, tag string, sit func(m map[string]any)) ([]byte, map[string]string) {
	t.Helper()
	m := map[string]any{
		"schema": "flx/v1/case", "case_id": caseID, "version": 1, "type": "tracing_request", "status": "tracing_in_progress",
		"origin":      map[string]any{"member": "XA-RC", "created_at": "2026-11-02T09:30:00Z"},
		"purpose":     "tracing",
		"legal_basis": map[string]any{"type": "consent", "justification": "x", "documented_by": "caseworker", "documented_at": "2026-11-02T09:50:00Z"},
		"consents": []any{map[string]any{"id": "XA-RC:c-1", "given_by": "p1", "capacity": "self", "given_at": "2026-11-02T09:45:00Z", "form": "written",
			"scope": map[string]any{"uses": []any{"tracing", "transfer", "family_news"}, "members": []any{"XB-RC", "ICRC-CTA"}}}},
		"retention_until": "2046-12-31",
		"persons": []any{
			map[string]any{"id": "p1", "roles": []any{"enquirer"}, "names": []any{map[string]any{"value": "x"}}, "birth_date": "1961",
				"address": map[string]any{"country": "XA", "address_line": "x"}, "contact": map[string]any{"phones": []any{"+1 0"}, "emails": []any{"a@example.org"}},
				"contact_preference": "agreed"},
			map[string]any{"id": "p2", "roles": []any{"sought_person"}, "names": []any{map[string]any{"value": "x"}}, "birth_date": "1990",
				"place_of_birth":      map[string]any{"country": "XA", "description": "x"},
				"address":             map[string]any{"country": "XB", "address_line": "x", "description": "x"},
				"contact":             map[string]any{"phones": []any{"+1 0"}, "emails": []any{"a@example.org"}, "address": map[string]any{"address_line": "x"}},
				"last_known_location": map[string]any{"place": map[string]any{"country": "XB", "description": "x"}, "date": "2026-09"},
				"sensitive":           map[string]any{"religion": "x"}},
		},
		"relationships":            []any{map[string]any{"from": "p2", "to": "p1", "type": "son", "verified": true}},
		"separation":               map[string]any{"date": "2026-09", "place": map[string]any{"country": "XB", "description": "x"}, "cause": "conflict"},
		"risk":                     map[string]any{"notes": "x"},
		"best_interest_assessment": map[string]any{"done_at": "2026-11-02T09:00:00Z", "by": "caseworker", "outcome": "x"},
		"notes":                    []any{map[string]any{"text": "x", "author_member": "XA-RC", "at": "2026-11-02T09:35:00Z"}},
	}
	vals := map[string]string{}
	for _, p := range dpoPlant {
		vals[p.ptr] = dpoValue(tag+caseID, p.ptr)
		setPointer(t, m, p.ptr, vals[p.ptr])
	}
	if sit != nil {
		sit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, vals
}

func p2(m map[string]any) map[string]any { return m["persons"].([]any)[1].(map[string]any) }

// dpoSituation is one protective situation of the generated corpus and
// what the officer expects of it, independently of the policy's own
// decision: deny lists the members that must receive nothing of the case;
// whereabouts, that nobody may receive the sought person's locating,
// contact and free-text data.
type dpoSituation struct {
	name        string
	apply       func(m map[string]any)
	deny        []string
	whereabouts bool
	// later, when set, is applied in a version 2 after the case (without
	// apply) reached both members: the update must reach them and leave
	// nothing of version 1 that version 2 withholds.
	later bool
}

var dpoSituations = []dpoSituation{
	{name: "none"},
	{name: "refusal", whereabouts: true, apply: func(m map[string]any) { p2(m)["contact_preference"] = "refused" }},
	{name: "declined-status", whereabouts: true, apply: func(m map[string]any) { m["status"] = "located_declined_contact" }},
	{name: "declined-no-sought-role", whereabouts: true, apply: func(m map[string]any) {
		m["status"] = "located_declined_contact"
		delete(p2(m), "roles")
	}},
	{name: "pending", whereabouts: true, apply: func(m map[string]any) {
		m["status"] = "located_pending_consent"
		p2(m)["contact_preference"] = "not_asked"
	}},
	{name: "vulnerable", whereabouts: true, apply: func(m map[string]any) {
		p2(m)["vulnerabilities"] = []any{"elderly_alone"}
		m["relationships"].([]any)[0].(map[string]any)["verified"] = false
	}},
	{name: "feared-XB", deny: []string{"XB-RC"}, apply: func(m map[string]any) { p2(m)["feared_countries"] = []any{"XB"} }},
	{name: "feared-in-risk-block", deny: []string{"XB-RC"}, apply: func(m map[string]any) {
		m["risk"].(map[string]any)["feared_countries"] = []any{"XB"}
	}},
	{name: "withdrawn", deny: []string{"XB-RC", "ICRC-CTA"}, apply: func(m map[string]any) {
		m["consents"].([]any)[0].(map[string]any)["withdrawn_at"] = "2026-11-03T00:00:00Z"
	}},
	{name: "scope-coordinator-only", deny: []string{"XB-RC"}, apply: func(m map[string]any) {
		m["consents"].([]any)[0].(map[string]any)["scope"] = map[string]any{"uses": []any{"tracing", "transfer"}, "members": []any{"ICRC-CTA"}}
	}},
	{name: "future-consent", deny: []string{"XB-RC", "ICRC-CTA"}, apply: func(m map[string]any) {
		m["consents"].([]any)[0].(map[string]any)["given_at"] = "2099-01-01T00:00:00Z"
	}},
	{name: "pending-consent", deny: []string{"XB-RC", "ICRC-CTA"}, apply: func(m map[string]any) {
		delete(m["consents"].([]any)[0].(map[string]any), "given_at")
	}},
	{name: "sought-consent-pending-under-vital-interest", deny: []string{"XB-RC", "ICRC-CTA"}, apply: func(m map[string]any) {
		m["legal_basis"] = map[string]any{"type": "vital_interest", "justification": m["legal_basis"].(map[string]any)["justification"],
			"documented_by": "caseworker", "documented_at": "2026-11-02T09:50:00Z", "applies_to": []any{"p1", "p2"}}
		m["consents"] = append(m["consents"].([]any), map[string]any{"id": "XA-RC:c-2", "given_by": "p2", "capacity": "self",
			"scope": map[string]any{"uses": []any{"tracing", "transfer"}}})
	}},
	{name: "minor-unverified", whereabouts: true, apply: func(m map[string]any) {
		p2(m)["birth_date"] = "2016"
		m["relationships"].([]any)[0].(map[string]any)["verified"] = false
	}},
	{name: "detainee-without-block", deny: []string{"XB-RC"}, apply: func(m map[string]any) {
		p2(m)["roles"] = []any{"sought_person", "detainee"}
	}},
	{name: "refusal-recorded-later", whereabouts: true, later: true, apply: func(m map[string]any) { p2(m)["contact_preference"] = "refused" }},
	{name: "feared-XB-recorded-later", deny: []string{"XB-RC"}, later: true, apply: func(m map[string]any) { p2(m)["feared_countries"] = []any{"XB"} }},
}

// TestDPOCorpusThroughNodes plants canaries in every protected place of a
// tracing request (enquirer and sought person: names, addresses, place of
// birth, last known location, contact, sensitive data; separation, notes,
// risk notes, justification, best-interest outcome), for each protective
// situation, and sends it from XA-RC to XB-RC and ICRC-CTA through real
// nodes; XB-RC answers the declined cases with a response carrying the
// person's whereabouts, and XA-RC sends family news whose body repeats a
// withheld address behind zero-width characters, percent-encoded in a link,
// base64- or base32-encoded inside a sentence, quoted-printable or as a hex
// dump. The officer's
// expectations (dpoSituation) are checked against everything each member
// holds, and no canary may be in any node's logs or metrics; the controls
// (the enquirer's name, and in the safe case the sought person's address)
// must arrive.
func TestDPOCorpusThroughNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	df := startDPO(t, nil, nil)
	xa, xb := df.nodes["XA-RC"], df.nodes["XB-RC"]
	tag := strings.ToUpper(federation.NewJTI()[:6])
	owner := map[string]string{}
	for _, p := range dpoPlant {
		owner[p.ptr] = p.owner
	}
	type sent struct {
		sit  dpoSituation
		id   string
		vals map[string]string
	}
	var all []sent
	var queued [][2]string // member, case
	for _, sit := range dpoSituations {
		id := "XA-RC:DPO-" + strings.ToUpper(sit.name)
		apply := sit.apply
		if sit.later {
			apply = nil
		}
		doc, vals := dpoFullCase(t, id, tag, apply)
		if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
			t.Fatalf("%s: %v", sit.name, err)
		}
		for _, to := range []string{"XB-RC", "ICRC-CTA"} {
			res, err := xa.Forward(ctx, cw, id, to)
			t.Logf("%s to %s: %s (%v)", sit.name, to, res.State, err)
			if res.State == "queued" {
				queued = append(queued, [2]string{to, id})
			}
		}
		all = append(all, sent{sit, id, vals})
	}
	for _, q := range queued {
		waitProcessed(t, df.nodes[q[0]].Store, q[1], string(federation.KindCaseCreate), 1)
	}
	// Corrections: version 2 records the situation; it goes to the
	// members that hold version 1 by itself (or, when they may no longer
	// hold the case, they are told to erase it).
	for _, s := range all {
		if !s.sit.later {
			continue
		}
		doc, _ := dpoFullCase(t, s.id, tag, s.sit.apply)
		doc = patch(t, doc, map[string]any{"version": 2})
		if _, err := xa.UpdateCase(ctx, cw, s.id, doc); err != nil {
			t.Fatalf("%s: update: %v", s.sit.name, err)
		}
	}
	for _, s := range all {
		for _, to := range []string{"XB-RC", "ICRC-CTA"} {
			if !s.sit.later {
				continue
			}
			kind := federation.KindCaseUpdate
			if slices.Contains(s.sit.deny, to) {
				kind = federation.KindCaseWithdraw
			}
			waitProcessed(t, df.nodes[to].Store, s.id, string(kind), 1)
		}
	}
	// XB-RC reports that the sought person declined contact, with where
	// they are: only the message they agreed to pass may reach XA-RC.
	resp := map[string]string{}
	for _, id := range []string{"XA-RC:DPO-NONE", "XA-RC:DPO-REFUSAL"} {
		r := map[string]any{"schema": "flx/v1/response", "case_id": id, "responder": "XB-RC", "sought_person": "p2",
			"outcome": "declined_contact", "responded_at": "2026-11-10T11:00:00Z",
			"location": map[string]any{"country": "XB", "description": dpoValue(tag+id, "resp/location")},
			"contact":  map[string]any{"phones": []any{dpoValue(tag+id, "resp/phones/0")}},
			"message":  dpoValue(tag+id, "resp/message"),
			"notes":    []any{map[string]any{"text": dpoValue(tag+id, "resp/notes"), "author_member": "XB-RC", "at": "2026-11-10T11:00:00Z"}}}
		for _, k := range []string{"resp/location", "resp/phones/0", "resp/message", "resp/notes"} {
			resp[id+" "+k] = dpoValue(tag+id, k)
		}
		doc, _ := json.Marshal(r)
		res, err := xb.Respond(ctx, cw, id, doc)
		t.Logf("response on %s: %s (%v)", id, res.State, err)
		if res.State == "queued" {
			waitProcessed(t, xa.Store, id, string(federation.KindCaseResponse), 1)
		}
	}
	// Family news from XA-RC repeating the refused person's address,
	// disguised: denied. The same news without it goes.
	refused := all[1]
	addr := refused.vals["/persons/1/address/address_line"]
	hidden := interleaveZW(addr)
	bodies := []string{"We found where he lives: " + hidden + ". Love.",
		// Percent-encoded in a link, and base64-encoded inside a sentence
		// (the address at byte offset 1 of a group of three).
		"Here is the map: https://maps.example/?q=" + percentEveryByte(addr) + " Love.",
		"Decode this: " + base64.StdEncoding.EncodeToString([]byte("at: "+addr+".")),
		// As a forwarded e-mail writes it (quoted-printable), a hex dump
		// and base32.
		"Forwarded: " + qpEveryByte(addr) + " Love.",
		"hexdump: " + hexDump(addr),
		"Decode this: " + base32.StdEncoding.EncodeToString([]byte("at: "+addr+".")),
		"We are all well. Love."}
	for i, body := range bodies {
		control := i == len(bodies)-1
		m := map[string]any{"schema": "flx/v1/message", "message_id": fmt.Sprintf("XA-RC:DPO-FN-%d", i), "case_id": refused.id,
			"kind": "family_news", "channel": "rcm", "created_at": "2026-11-11T09:00:00Z", "body": body,
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"}}
		doc, _ := json.Marshal(m)
		res, err := xa.SendMessage(ctx, cw, refused.id, "XB-RC", doc)
		switch {
		case !control && res.State != "denied":
			t.Errorf("LEAK: family news repeating the refused person's address (%q) was %s (%v)", body, res.State, err)
		case control && res.State != "queued":
			t.Errorf("control: plain family news was %s (%v)", res.State, err)
		case control:
			waitProcessed(t, xb.Store, refused.id, string(federation.KindMessageDeliver), 1)
		}
	}

	leaks, protected, controls := 0, 0, 0
	snaps := map[string]snapshot{}
	must := func(member, what, v string, may bool) {
		t.Helper()
		if snaps[member] == nil {
			snaps[member] = df.snapshot(t, member)
		}
		w := snaps[member].find(v)
		switch {
		case !may && w != "":
			leaks++
			t.Errorf("LEAK: %s holds %s in %s", member, what, w)
		case !may:
			protected++
		case w == "":
			t.Errorf("control: %s does not hold %s", member, what)
		default:
			controls++
		}
	}
	for _, s := range all {
		for _, member := range []string{"XB-RC", "ICRC-CTA"} {
			denied := slices.Contains(s.sit.deny, member)
			for _, p := range dpoPlant {
				cls := policy.ClassesOf("case", p.ptr)
				what := fmt.Sprintf("%s %s", s.sit.name, p.ptr)
				v := s.vals[p.ptr]
				switch {
				case denied:
					must(member, what, v, false)
				case slices.Contains(cls, policy.FreeText):
					must(member, what, v, false) // free text stays home by default
				case slices.Contains(cls, policy.Sensitive) && member == "XB-RC":
					must(member, what, v, false) // not marked necessary
				case s.sit.whereabouts && p.owner == "p2" && (slices.Contains(cls, policy.Locating) || slices.Contains(cls, policy.Contact)):
					must(member, what, v, false)
				case s.sit.whereabouts && p.owner == "" && slices.Contains(cls, policy.Locating):
					must(member, what, v, false)
				case p.ptr == "/persons/0/names/0/value", s.sit.name == "none" && p.ptr == "/persons/1/address/address_line":
					must(member, what, v, true)
				}
			}
		}
	}
	for k, v := range resp {
		must("XA-RC", "response "+k, v, strings.HasSuffix(k, "resp/message"))
	}
	must("XB-RC", "disguised address in family news", refused.vals["/persons/1/address/address_line"], false)
	// Nothing personal in any log line or metric label, anywhere.
	lm := df.logsAndMetrics(t)
	for _, s := range all {
		for p, v := range s.vals {
			if w := lm.find(v); w != "" {
				leaks++
				t.Errorf("LEAK: %s %s in %s", s.sit.name, p, w)
			}
		}
	}
	for k, v := range resp {
		if w := lm.find(v); w != "" {
			leaks++
			t.Errorf("LEAK: response %s in %s", k, w)
		}
	}
	noProcessErrors(t, "XB-RC", xb.Store)
	t.Logf("%d situations, %d protected canaries checked, %d controls arrived, %d leaks", len(dpoSituations), protected, controls, leaks)
}

// percentEveryByte percent-encodes every byte of v.
func percentEveryByte(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, "%%%02X", v[i])
	}
	return b.String()
}

// qpEveryByte writes every byte of v as a quoted-printable escape.
func qpEveryByte(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, "=%02X", v[i])
	}
	return b.String()
}

// hexDump writes the bytes of v as hexadecimal pairs, a space after each.
func hexDump(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		fmt.Fprintf(&b, "%02x ", v[i])
	}
	return b.String()
}

// interleaveZW puts a zero-width space between the characters of v.
func interleaveZW(v string) string {
	var b strings.Builder
	for i, r := range v {
		if i > 0 {
			b.WriteString("\u200b")
		}
		b.WriteRune(r)
	}
	return b.String()
}
