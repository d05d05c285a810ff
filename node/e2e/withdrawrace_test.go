package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestWithdrawRacesForwards withdraws a case while eight sends of it to
// XB-RC and ICRC-CTA (forwards, and every fourth a message about the case)
// run in parallel (FLX-WDR-007, FLX-WDR-008). Whatever
// the interleaving, once every queue is quiet no peer may hold the case's
// document or an envelope carrying it, every member XA-RC delivered
// anything to has confirmed its erasure, and withdrawing again succeeds.
//
// Even tries force the interleaving that lost cases before: every forward
// has read the case and run the policy before the withdrawal starts, and
// writes only after the withdrawal committed. Odd tries run freely, the
// withdrawal starting 1, 9 and 25 ms after the forwards (in the last,
// when no send of the earlier two was queued first, once one is).
func TestWithdrawRacesForwards(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, testWithdrawRacesForwards)
}

// forwardCtx marks the context of a racing forward or message (its value:
// which one), so that gatedStore can see it read the case and hold its
// transaction.
type forwardCtx struct{}

// gate sees each marked call read its case (arrived, once per call), then
// holds its transaction until release. Concurrent forwards may commit
// together, one transaction for several: so the test waits for every call
// to have read the case, not for as many transactions.
type gate struct {
	mu      sync.Mutex
	read    map[any]bool
	arrived chan struct{}
	release chan struct{}
}

// gatedStore holds the transactions of calls whose context carries
// forwardCtx at the gate set by the test (none: no hold).
type gatedStore struct {
	store.Store
	mu   *sync.Mutex
	gate **gate
}

func (s gatedStore) current(ctx context.Context) (*gate, any) {
	s.mu.Lock()
	g := *s.gate
	s.mu.Unlock()
	who := ctx.Value(forwardCtx{})
	if g == nil || who == nil {
		return nil, nil
	}
	return g, who
}

func (s gatedStore) GetCase(ctx context.Context, id string) (store.Case, error) {
	c, err := s.Store.GetCase(ctx, id)
	if g, who := s.current(ctx); g != nil {
		g.mu.Lock()
		first := !g.read[who]
		g.read[who] = true
		g.mu.Unlock()
		if first {
			g.arrived <- struct{}{}
		}
	}
	return c, err
}

// GetCasesQueued is how forwards read their case (with the kind each is
// sent as), several together: the read in the context of one of them
// (marked) is every key's forward reading its case.
func (s gatedStore) GetCasesQueued(ctx context.Context, keys []store.CaseDest, kind string) ([]store.CaseQueued, error) {
	out, err := s.Store.GetCasesQueued(ctx, keys, kind)
	if g, _ := s.current(ctx); g != nil {
		for range keys {
			g.arrived <- struct{}{}
		}
	}
	return out, err
}

func (s gatedStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if g, _ := s.current(ctx); g != nil {
		<-g.release
	}
	return s.Store.Tx(ctx, fn)
}

func testWithdrawRacesForwards(t *testing.T, d nodetest.Dialect) {
	ctx := context.Background()
	f := fedtest.New(t, threeMembers...)
	lnA := nodetest.Listen(t, f.Member(t, "XA-RC"))
	lnB := nodetest.Listen(t, f.Member(t, "XB-RC"))
	lnC := nodetest.Listen(t, f.Member(t, "ICRC-CTA"))
	f.Sign(t)
	var mu sync.Mutex
	var current *gate
	xa := nodetest.Start(t, f, "XA-RC", lnA, nodetest.Options{Dialect: d, WrapStore: func(st store.Store) store.Store {
		return gatedStore{Store: st, mu: &mu, gate: &current}
	}})
	peers := map[string]*nodetest.Node{
		"XB-RC":    nodetest.Start(t, f, "XB-RC", lnB, nodetest.Options{Dialect: d}),
		"ICRC-CTA": nodetest.Start(t, f, "ICRC-CTA", lnC, nodetest.Options{Dialect: d}),
	}
	to := []string{"XB-RC", "ICRC-CTA"}
	const tries, forwards = 6, 8
	var msgHeld atomic.Int32
	var cases []string
	won := 0
	for try := range tries {
		caseID := fmt.Sprintf("XA-RC:RACE-%d", try)
		cases = append(cases, caseID)
		if _, err := xa.CreateCase(ctx, cw, patch(t, readTestdata(t, "case.json"), map[string]any{"case_id": caseID})); err != nil {
			t.Fatal(err)
		}
		forced := try%2 == 0
		var g *gate
		if forced {
			g = &gate{read: map[any]bool{}, arrived: make(chan struct{}, forwards), release: make(chan struct{})}
		}
		mu.Lock()
		current = g
		mu.Unlock()
		start := make(chan struct{})
		// firstQueued closes when a send of this try is queued.
		firstQueued := make(chan struct{})
		var queuedOnce sync.Once
		var wg sync.WaitGroup
		errs := make([]error, forwards)
		for i := range forwards {
			fctx := context.WithValue(ctx, forwardCtx{}, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					if errs[i] == nil {
						queuedOnce.Do(func() { close(firstQueued) })
					}
				}()
				<-start
				if i%4 == 3 {
					// A message about the case races the withdrawal too.
					var res node.SendResult
					res, errs[i] = xa.SendMessage(fctx, cw, caseID, to[i%2], raceMessage(caseID, to[i%2], i))
					if errs[i] == nil && res.State != "queued" {
						msgHeld.Add(1)
					}
					return
				}
				_, errs[i] = xa.Forward(fctx, cw, caseID, to[i%2])
			}()
		}
		var werr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if !forced {
				// Free tries: later and later, so that some forwards are
				// queued, claimed or delivered first.
				time.Sleep(time.Duration(try*try) * time.Millisecond)
				// On a loaded machine every send of the earlier free
				// tries may still have been under way at 25 ms, and
				// lost: the last one then lets one send be queued first
				// and races the others.
				if try == tries-1 && won == 0 {
					select {
					case <-firstQueued:
					case <-time.After(30 * time.Second):
					}
				}
			}
			if forced {
				// Every forward and message has read the case; their
				// writes are held.
				for range forwards {
					select {
					case <-g.arrived:
					case <-time.After(30 * time.Second):
						werr = errors.New("the forwards never read the case")
						close(g.release)
						return
					}
				}
			}
			_, werr = xa.Withdraw(ctx, cw, caseID, schema.WithdrawalReason("consent_withdrawn"))
			if forced {
				close(g.release)
			}
		}()
		close(start)
		wg.Wait()
		if werr != nil {
			t.Fatalf("try %d: withdraw: %v", try, werr)
		}
		for i, err := range errs {
			// A forward that lost the race is refused as erased; one that won
			// was queued before the withdrawal.
			if err != nil && !isCode(err, problem.Erased) && !isCode(err, problem.Conflict) && !(i%4 == 3 && isCode(err, problem.PolicyDenied)) {
				t.Errorf("try %d: forward %d: %v", try, i, err)
			}
			if forced && err == nil {
				t.Errorf("try %d: forward %d was queued after the withdrawal committed", try, i)
			}
			if !forced && err == nil {
				won++
			}
		}
	}
	mu.Lock()
	current = nil
	mu.Unlock()
	t.Logf("%d of %d forwards and messages in the free tries were queued before the withdrawal (%d messages held or denied)", won, forwards*tries/2, msgHeld.Load())
	if won == 0 {
		t.Error("no forward of the free tries was queued before the withdrawal: the race was not run")
	}

	all := map[string]*nodetest.Node{"XA-RC": xa, "XB-RC": peers["XB-RC"], "ICRC-CTA": peers["ICRC-CTA"]}
	nodetest.WaitFor(t, 60*time.Second, "every queue quiet and every inbox processed", func() bool {
		for _, n := range all {
			for _, r := range allOutbox(t, n.Store, store.OutboxFilter{}) {
				if r.State == store.Queued || r.State == store.InFlight {
					return false
				}
			}
			for _, r := range allInbox(t, n.Store, store.InboxFilter{}) {
				if r.ProcessedAt.IsZero() {
					return false
				}
			}
		}
		return true
	})
	for _, caseID := range cases {
		for id, p := range peers {
			if c, err := p.Store.GetCase(ctx, caseID); err == nil && (!c.Erased() || c.Document != nil) {
				t.Errorf("%s: %s holds the case after its withdrawal (version %d)", caseID, id, c.Version)
			}
			for _, r := range allInbox(t, p.Store, store.InboxFilter{CaseID: caseID, IncludeEnvelope: true}) {
				if r.Envelope != nil && r.Kind != string(federation.KindCaseWithdraw) {
					t.Errorf("%s: %s keeps a %s envelope (inbox %d)", caseID, id, r.Kind, r.ID)
				}
			}
		}
		rs, err := xa.Store.ListRecipients(ctx, caseID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.WithdrawalConfirmedAt.IsZero() {
				t.Errorf("%s: recipient %s never confirmed its erasure (withdrawal sent %v)", caseID, r.Member, r.WithdrawalSentAt)
			}
		}
		// Withdrawing again is harmless: nothing is pending, nobody is asked.
		wr, err := xa.Withdraw(ctx, cw, caseID, schema.WithdrawalReason("consent_withdrawn"))
		if err != nil || len(wr.SentTo) != 0 {
			t.Errorf("%s: withdrawing again: %+v %v; want success asking no one", caseID, wr, err)
		}
	}
	// Parallel forwards of one version to one member send it more than
	// once: the receiver keeps the first and records the others as stale.
	for id, n := range all {
		for _, r := range allInbox(t, n.Store, store.InboxFilter{State: "failed"}) {
			if !strings.HasPrefix(r.ProcessError, "stale version") && !strings.HasPrefix(r.ProcessError, "case was erased here") {
				t.Errorf("%s: inbox row %d (%s %s) failed: %s", id, r.ID, r.Kind, r.CaseID, r.ProcessError)
			}
		}
	}
	auditIntact(t, "XA-RC", xa.Store)
}

// raceMessage is family news from the enquirer to the sought person,
// sent to member to.
func raceMessage(caseID, to string, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"schema": "flx/v1/message", "message_id": fmt.Sprintf("XA-RC:FN-%s-%d", strings.TrimPrefix(caseID, "XA-RC:"), i), "case_id": caseID, "kind": "family_news",
		"channel": "verbal", "created_at": "2026-11-21T09:00:00Z", "from": map[string]any{"person": "p1", "member": "XA-RC"},
		"to": map[string]any{"person": "p2", "member": to}, "body": "We are all well (invented).", "lang": "en",
	})
	return b
}

// isCode reports whether err is a problem error with code c.
func isCode(err error, c problem.Code) bool {
	var pe *problem.Error
	return errors.As(err, &pe) && pe.Code == c
}
