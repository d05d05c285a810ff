package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// Statistics reports (conformance/SPEC.md §17): each node computes its
// monthly activity counts from its own cases and messages (node/stats), with
// small counts suppressed and the others rounded, and sends each settled
// month as a stats.report envelope to every coordinator; a coordinator keeps
// the reports it receives and serves their aggregates.

// StatsOptions configure the statistics reports.
type StatsOptions struct {
	// Every is how often due reports are computed and queued (default 24h;
	// negative disables sending).
	Every time.Duration
	// Settle is how long after a month ends its report waits for late
	// records (default 72h).
	Settle time.Duration
	// Protection is the disclosure control (default k = 5, b = 5).
	Protection stats.Protection
}

func (o *StatsOptions) defaults() error {
	if o.Every == 0 {
		o.Every = 24 * time.Hour
	}
	if o.Settle <= 0 {
		o.Settle = 72 * time.Hour
	}
	if o.Protection == (stats.Protection{}) {
		o.Protection = stats.DefaultProtection
	}
	if err := o.Protection.Validate(); err != nil {
		return fmt.Errorf("node.New: stats: %w", err)
	}
	return nil
}

// runStats queues due reports now and then every Stats.Every.
func (n *Node) runStats(ctx context.Context) {
	n.repeat(ctx, n.o.Stats.Every, "statistics reports failed", func(ctx context.Context) error {
		_, err := n.SendStats(ctx)
		return err
	})
}

// repeat runs fn now and then every d until ctx ends, logging its errors
// as failed (the periodic work of a running node: reports, audit heads).
func (n *Node) repeat(ctx context.Context, d time.Duration, failed string, fn func(context.Context) error) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			n.log.Error(failed, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// coordinators returns the active members other than this one that accept
// statistics reports.
func (n *Node) coordinators(m *federation.Manifest) []string {
	var out []string
	for i := range m.Members {
		mb := &m.Members[i]
		if mb.ID != n.o.Self && mb.Role == federation.RoleCoordinator && mb.Status == federation.StatusActive &&
			mb.AcceptsKind(federation.KindStatsReport) {
			out = append(out, mb.ID)
		}
	}
	return out
}

// SendStats computes this member's counts and queues, for every
// coordinator, a report of each settled month it has not reported yet, or a
// new revision when a month's published counts changed since its last
// report (FLX-STA-001). It returns how many reports it queued.
func (n *Node) SendStats(ctx context.Context) (int, error) {
	m := n.o.Trust.Current()
	if m == nil {
		return 0, errors.New("node: stats: no federation manifest held")
	}
	self, ok := m.Member(n.o.Self)
	if !ok {
		return 0, errors.New("node: stats: this member is not in the manifest")
	}
	to := n.coordinators(m)
	if len(to) == 0 {
		return 0, nil
	}
	res, _, err := n.OwnStats(ctx)
	if err != nil {
		return 0, err
	}
	if len(res.Periods) == 0 {
		return 0, nil
	}
	var first stats.Period
	for p := range res.Periods {
		if first == (stats.Period{}) || p.Before(first) {
			first = p
		}
	}
	queued := 0
	for _, p := range stats.Due(first, n.o.Now(), n.o.Stats.Settle) {
		caseID := stats.CaseID(n.o.Self, p)
		for _, c := range to {
			last, err := n.lastReport(ctx, caseID, c)
			if err != nil {
				return queued, err
			}
			rev := 1
			if last != nil {
				rev = last.Revision + 1
			}
			rep, err := n.o.Stats.Protection.Report(n.o.Self, self.Country, p, rev, res.Periods[p])
			if err != nil {
				return queued, err
			}
			if last != nil && sameCounts(last.Counts, rep.Counts) {
				continue
			}
			body, err := stats.Body(rep)
			if err != nil {
				return queued, err
			}
			err = n.o.Store.Tx(ctx, func(tx store.Tx) error {
				if _, err := n.enqueueRecording(ctx, tx, c, federation.KindStatsReport, caseID, 0, body, false, false); err != nil {
					return err
				}
				return n.audit(ctx, tx, "system", "stats.report", caseID, map[string]any{"to": c, "period": p.String(), "revision": rev})
			})
			if err != nil {
				return queued, fmt.Errorf("node: queue statistics report: %w", err)
			}
			queued++
		}
	}
	if queued > 0 {
		n.log.Info("statistics reports queued", "reports", queued)
		n.deliverer.Kick()
	}
	return queued, nil
}

// OwnStats returns this member's raw monthly counts, computed from the
// documents its reports count (its cases' versions and the messages it
// sent), and the disclosure control its reports apply: what the console
// shows is what this node publishes.
func (n *Node) OwnStats(ctx context.Context) (*stats.Result, stats.Protection, error) {
	res, err := stats.Compute(ctx, storeInput{n}, n.o.Self)
	return res, n.o.Stats.Protection, err
}

// lastReport returns the highest revision of the report queued for
// coordinator c under caseID, nil if none.
func (n *Node) lastReport(ctx context.Context, caseID, c string) (*schema.StatsReport, error) {
	rows, err := n.o.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Destination: c, IncludeEnvelope: true, Limit: 1000})
	if err != nil {
		return nil, err
	}
	var last *schema.StatsReport
	for _, r := range rows {
		if r.Kind != string(federation.KindStatsReport) || r.Envelope == nil {
			continue
		}
		// Sent through a relay, the row holds the relay.forward around
		// the report (prepareAttempt): the report is its inner envelope.
		env, err := federation.RelayInner(r.Envelope)
		if err != nil {
			continue
		}
		cl, err := federation.ClaimsOf(env)
		if err != nil {
			continue
		}
		rep, err := stats.ParseReport(cl.Body)
		if err != nil {
			continue
		}
		if last == nil || rep.Revision > last.Revision {
			last = &rep
		}
	}
	return last, nil
}

func sameCounts(a, b schema.StatsCounts) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// storeInput hands the node's own documents to stats.Compute: the versions
// of the cases this member is the origin of, and the messages it sent
// (each distinct document once, whatever the number of destinations).
type storeInput struct{ n *Node }

func (in storeInput) Cases(ctx context.Context, fn func([]schema.Case) error) error {
	st := in.n.o.Store
	f := store.CaseFilter{Origin: in.n.o.Self, Limit: 500}
	for {
		page, err := st.ListCases(ctx, f)
		if err != nil {
			return err
		}
		for _, c := range page.Cases {
			vs, err := st.ListCaseVersions(ctx, c.ID)
			if err != nil {
				return err
			}
			var docs []schema.Case
			for _, v := range vs {
				if v.Document == nil {
					continue
				}
				if d, err := schema.ParseCase(v.Document); err == nil {
					docs = append(docs, *d)
				}
			}
			if len(docs) > 0 {
				if err := fn(docs); err != nil {
					return err
				}
			}
		}
		if page.Next == "" {
			return nil
		}
		f.Cursor = page.Next
	}
}

func (in storeInput) Messages(ctx context.Context, fn func([]schema.Message) error) error {
	byID := map[string][]schema.Message{}
	seen := map[string]bool{}
	var order []string
	f := store.OutboxFilter{IncludeEnvelope: true, Limit: 1000}
	for {
		rows, err := in.n.o.Store.ListOutbox(ctx, f)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.Kind != string(federation.KindMessageDeliver) || r.Envelope == nil {
				continue
			}
			inner, err := federation.RelayInner(r.Envelope)
			if err != nil {
				continue
			}
			c, err := federation.ClaimsOf(inner)
			if err != nil || seen[string(c.Body)] {
				continue
			}
			seen[string(c.Body)] = true
			msg, err := schema.ParseMessage(c.Body)
			if err != nil {
				continue
			}
			if _, ok := byID[msg.MessageID]; !ok {
				order = append(order, msg.MessageID)
			}
			byID[msg.MessageID] = append(byID[msg.MessageID], *msg)
		}
		if len(rows) < f.Limit {
			break
		}
		f.AfterID = rows[len(rows)-1].ID
	}
	for _, id := range order {
		if err := fn(byID[id]); err != nil {
			return err
		}
	}
	return nil
}

// checkStatsReport is what a coordinator requires of a received report
// beyond its schema (FLX-STA-004).
func (n *Node) checkStatsReport(env *federation.Envelope) error {
	rep, err := stats.ParseReport(env.Body)
	if err != nil {
		return errf(federation.CodeSchemaInvalid, "stats.report body: %v", err)
	}
	if rep.Member != env.Issuer {
		return errf(federation.CodeSenderMismatch, "a report about %s sent by %s", rep.Member, env.Issuer)
	}
	p, err := stats.ParsePeriod(rep.Period)
	if err != nil || env.CaseID != stats.CaseID(rep.Member, p) {
		return errf(federation.CodeBadEnvelope, "the case_id of a stats.report is <member>:stats-<period>")
	}
	mb, _ := n.o.Trust.Current().Member(env.Issuer)
	if err := stats.Check(rep, env.Issuer, mb.Country, env.CaseID); err != nil {
		return errf(federation.CodeSchemaInvalid, "%v", err)
	}
	return nil
}

// applyStatsReport keeps a received report (a coordinator's inbox).
func (n *Node) applyStatsReport(ctx context.Context, tx store.Tx, it store.InboxItem, c federation.Claims) (error, *confirmation, error) {
	rep, err := stats.ParseReport(c.Body)
	if err != nil {
		return fmt.Errorf("stats.report body: %w", err), nil, nil
	}
	err = tx.SaveStatsReport(ctx, store.StatsReport{
		Member: rep.Member, Period: rep.Period, Revision: int64(rep.Revision), Country: rep.Country,
		Document: c.Body, JTI: c.JTI, ReceivedAt: n.o.Now(),
	})
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("revision %d of %s %s is already held", rep.Revision, rep.Member, rep.Period), nil, nil
	}
	return nil, nil, err
}

// StatsAggregate returns the received reports (their latest revisions)
// summed by the dimensions of by, for one period ("" for all).
func (n *Node) StatsAggregate(ctx context.Context, period string, by stats.By) ([]stats.Row, error) {
	if period != "" {
		if _, err := stats.ParsePeriod(period); err != nil {
			return nil, errf(CodeBadRequest, "period must be YYYY-MM")
		}
	}
	held, err := n.view.ListStatsReports(ctx, period)
	if err != nil {
		return nil, internal("stats", err)
	}
	reps := make([]schema.StatsReport, 0, len(held))
	for _, h := range held {
		r, err := stats.ParseReport(h.Document)
		if err != nil {
			continue
		}
		reps = append(reps, r)
	}
	rows := stats.Aggregate(reps, by)
	slices.SortStableFunc(rows, func(a, b stats.Row) int {
		switch {
		case a.Period != b.Period:
			return cmpString(a.Period, b.Period)
		case a.Country != b.Country:
			return cmpString(a.Country, b.Country)
		}
		return cmpString(a.Member, b.Member)
	})
	return rows, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
