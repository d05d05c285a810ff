package console

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/stats"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// NodeBackend is the Backend over a running node: the node's operations,
// and its read-only store view (node.View) for listings (the ones the local
// API serves). Nothing here can write to the store but through the node.
// This is the one file to change when the node's API moves.
func NodeBackend(n *node.Node) Backend { return nodeBackend{n} }

type nodeBackend struct{ n *node.Node }

func (b nodeBackend) Self() string                   { return b.n.Self() }
func (b nodeBackend) Manifest() *federation.Manifest { return b.n.Manifest() }
func (b nodeBackend) Certificate() *x509.Certificate { return b.n.Certificate() }
func (b nodeBackend) SigningKeyID() string           { return b.n.SigningKeyID() }
func (b nodeBackend) Ready(ctx context.Context) error {
	return b.n.Ready(ctx)
}

func (b nodeBackend) ListCases(ctx context.Context, _ node.Actor, f store.CaseFilter) (store.CasePage, error) {
	f.IncludeDocuments = false
	return b.n.View().ListCases(ctx, f)
}

func (b nodeBackend) ReadCase(ctx context.Context, a node.Actor, id string, withDocument bool) (node.CaseView, error) {
	return b.n.ReadCase(ctx, a, id, withDocument)
}

// CaseThread is the case view (ReadCase: the document, decisions,
// recipients and what was received, audited) and the node's one account
// of the case's history (node.CaseThread, audited too): the versions,
// what was queued with its delivery, and the documents received when the
// reader sees the document.
func (b nodeBackend) CaseThread(ctx context.Context, a node.Actor, id string, withDocument bool) (Thread, error) {
	v, err := b.n.ReadCase(ctx, a, id, withDocument)
	if err != nil {
		return Thread{}, err
	}
	nt, err := b.n.CaseThread(ctx, a, id, withDocument)
	if err != nil {
		return Thread{}, err
	}
	return threadFromEvents(v, nt), nil
}

// threadFromEvents puts node.CaseThread's events in the page's terms.
func threadFromEvents(v node.CaseView, nt node.Thread) Thread {
	t := Thread{CaseView: v}
	sent := map[int64]int{} // outbox id -> index in t.Sent
	for _, e := range nt.Events {
		switch e.Type {
		case node.EventVersion:
			t.Versions = append(t.Versions, store.CaseVersion{CaseID: nt.CaseID, Version: e.Version, Status: e.Status, CreatedAt: e.At})
		case node.EventQueued:
			sent[e.OutboxID] = len(t.Sent)
			t.Sent = append(t.Sent, store.OutboxItem{ID: e.OutboxID, Destination: e.Member, Kind: e.Kind, CaseID: nt.CaseID,
				CaseVersion: e.Version, JTI: e.JTI, State: store.OutboxState(e.State), Attempts: e.Attempts, LastError: e.Error, CreatedAt: e.At})
		case node.EventDelivered:
			if i, ok := sent[e.OutboxID]; ok {
				// A delivered event is the member's signed receipt come back.
				t.Sent[i].DeliveredAt, t.Sent[i].Receipt = e.At, []byte{1}
			}
		case node.EventDeadLetter:
			if i, ok := sent[e.OutboxID]; ok {
				t.Sent[i].Attempts, t.Sent[i].LastError = e.Attempts, e.Error
			}
		case node.EventReceived:
			if len(e.Body) > 0 && (e.Kind == string(federation.KindCaseResponse) || e.Kind == string(federation.KindMessageDeliver)) {
				if t.Bodies == nil {
					t.Bodies = map[int64]json.RawMessage{}
				}
				t.Bodies[e.InboxID] = e.Body
			}
		}
	}
	return t
}

func (b nodeBackend) CreateCase(ctx context.Context, a node.Actor, doc []byte) (store.Case, error) {
	return b.n.CreateCase(ctx, a, doc)
}

func (b nodeBackend) UpdateCase(ctx context.Context, a node.Actor, id string, doc []byte) (store.Case, error) {
	return b.n.UpdateCase(ctx, a, id, doc)
}

func (b nodeBackend) DryRun(ctx context.Context, _ node.Actor, id, to string) (node.SendResult, error) {
	return b.n.DryRun(ctx, id, to)
}

func (b nodeBackend) Forward(ctx context.Context, a node.Actor, id, to string) (node.SendResult, error) {
	return b.n.Forward(ctx, a, id, to)
}

func (b nodeBackend) Respond(ctx context.Context, a node.Actor, id string, doc []byte) (node.SendResult, error) {
	return b.n.Respond(ctx, a, id, doc)
}

func (b nodeBackend) SendMessage(ctx context.Context, a node.Actor, id, to string, doc []byte) (node.SendResult, error) {
	return b.n.SendMessage(ctx, a, id, to, doc)
}

func (b nodeBackend) Withdraw(ctx context.Context, a node.Actor, id string, reason schema.WithdrawalReason) (node.WithdrawResult, error) {
	return b.n.Withdraw(ctx, a, id, reason)
}

func (b nodeBackend) Review(ctx context.Context, a node.Actor, id string, did int64, approve bool, note string) (node.SendResult, error) {
	return b.n.Review(ctx, a, id, did, approve, note)
}

func (b nodeBackend) ListDecisions(ctx context.Context, _ node.Actor, id string) ([]store.Decision, error) {
	return b.n.View().ListDecisions(ctx, id)
}

func (b nodeBackend) ReviewQueue(ctx context.Context, _ node.Actor) ([]node.HeldItem, error) {
	return b.n.ReviewQueue(ctx)
}

func (b nodeBackend) ListInbox(ctx context.Context, _ node.Actor, f store.InboxFilter) ([]store.InboxItem, error) {
	f.IncludeEnvelope = false
	return b.n.View().ListInbox(ctx, f)
}

func (b nodeBackend) ListOutbox(ctx context.Context, _ node.Actor, f store.OutboxFilter) ([]store.OutboxItem, error) {
	items, err := b.n.View().ListOutbox(ctx, f)
	for i := range items {
		items[i].Envelope, items[i].Receipt = nil, nil
	}
	return items, err
}

func (b nodeBackend) OutboxStats(ctx context.Context, _ node.Actor) ([]store.DestinationStats, error) {
	return b.n.View().OutboxStats(ctx)
}

func (b nodeBackend) PeerBackoff(ctx context.Context, _ node.Actor) ([]store.PeerBackoff, error) {
	return b.n.View().ListPeerBackoff(ctx)
}

func (b nodeBackend) Requeue(ctx context.Context, a node.Actor, id int64) (store.OutboxItem, error) {
	return b.n.Requeue(ctx, a, id)
}

func (b nodeBackend) ListAudit(ctx context.Context, _ node.Actor, f store.AuditFilter) ([]store.AuditRecord, error) {
	return b.n.View().ListAudit(ctx, f)
}

func (b nodeBackend) VerifyAudit(ctx context.Context, _ node.Actor) (store.AuditVerification, error) {
	return b.n.View().VerifyAudit(ctx)
}

func (b nodeBackend) ListCaseMedia(ctx context.Context, _ node.Actor, id string) ([]node.CaseMedia, error) {
	return b.n.ListCaseMedia(ctx, id)
}

func (b nodeBackend) ServeCaseMedia(w http.ResponseWriter, r *http.Request, a node.Actor, id, sha256 string) error {
	return b.n.ServeCaseMedia(w, r, a, id, sha256)
}

func (b nodeBackend) StartMediaUpload(ctx context.Context, a node.Actor, id string, r node.MediaUploadRequest) (node.MediaUpload, error) {
	return b.n.StartMediaUpload(ctx, a, id, r)
}

func (b nodeBackend) MediaUploadState(ctx context.Context, a node.Actor, uid string) (node.MediaUpload, error) {
	return b.n.MediaUploadState(ctx, a, uid)
}

func (b nodeBackend) WriteMediaUpload(ctx context.Context, a node.Actor, uid string, off int64, body io.Reader) (node.MediaUpload, error) {
	return b.n.WriteMediaUpload(ctx, a, uid, off, body, func() {})
}

// OwnStats counts this node's own activity per month as its statistics
// reports do (node.OwnStats: its cases' versions and the messages it sent;
// erased versions hold no document and count no more), with the disclosure
// control those reports apply. The counts are raw: the page protects them
// before showing anything.
func (b nodeBackend) OwnStats(ctx context.Context, _ node.Actor) (*stats.Result, stats.Protection, error) {
	return b.n.OwnStats(ctx)
}

// ReceivedStats aggregates the received statistics reports over all months
// (node.StatsAggregate: published values only, never raw counts).
func (b nodeBackend) ReceivedStats(ctx context.Context, _ node.Actor, by stats.By) ([]stats.Row, error) {
	return b.n.StatsAggregate(ctx, "", by)
}

// failure is an error from the node in the terms a page shows: the stable
// code, the node's public message, the schema violations by pointer, and
// the policy decision of a refused send.
type failure struct {
	Status   int // the local API's status for the code
	Code     string
	Msg      string
	Fields   map[string][]string
	Decision *policy.Decision
}

// failureOf reads the node's error type (node.Error); anything else is
// internal. The message is the problem document's detail (Error.Problem), so
// the page shows what the local API would answer: nothing of an internal
// error, whose cause is for the log.
func failureOf(err error) failure {
	var e *node.Error
	if !errors.As(err, &e) {
		return failure{Code: string(node.CodeInternal)}
	}
	pd := e.Problem()
	f := failure{Status: pd.Status, Code: string(e.Code), Msg: pd.Detail}
	if d, ok := e.Decision.(*policy.Decision); ok {
		f.Decision = d
	}
	for _, v := range e.Errors {
		if f.Fields == nil {
			f.Fields = map[string][]string{}
		}
		f.Fields[v.Pointer] = append(f.Fields[v.Pointer], v.Message)
	}
	return f
}
