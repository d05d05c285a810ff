package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/console"
	"github.com/familylinks/flx/node/store"
)

// TestCaseworkerAnswersACaseFromAnotherNode: XA-RC forwards a case; XB-RC's
// caseworker answers it in XB-RC's console; the answer reaches XA-RC and
// shows in the case's thread there. An own case cannot be answered, and an
// answer without an outcome is refused with nothing sent.
func TestCaseworkerAnswersACaseFromAnotherNode(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	xa := e.browser()
	xa.signIn(console.RoleCaseworker)
	id := xa.createCase()
	if p := xa.post("/console/cases/"+id+"/forward", url.Values{"csrf": {xa.csrf("/console/cases")}, "to": {"XB-RC"}}); p.status != http.StatusSeeOther {
		t.Fatalf("forward: %d", p.status)
	}
	if p := xa.get("/console/cases/" + id + "/respond"); !strings.Contains(p.body, "Only a case received from another member") || strings.Contains(p.body, `name="outcome"`) {
		t.Error("the origin is offered to answer its own case")
	}
	waitFor(t, 15*time.Second, "XB-RC to hold the case", func() bool {
		_, err := e.xb.Store.GetCase(context.Background(), id)
		return err == nil
	})
	xb := e.xbBrowser()
	xb.signIn(console.RoleCaseworker)
	page := xb.get("/console/cases/" + id)
	if !strings.Contains(page.body, "/respond") {
		t.Fatalf("XB-RC's case page offers no answer:\n%s", page.body)
	}
	form := xb.get("/console/cases/" + id + "/respond")
	if !strings.Contains(form.body, `<option value="p2" selected>Youssef Haddad</option>`) && !strings.Contains(form.body, `<option value="p2" selected>`) {
		t.Errorf("the sought person is not preselected:\n%s", form.body)
	}
	tok := xb.csrf("/console/cases/" + id + "/respond")
	if p := xb.post("/console/cases/"+id+"/respond", url.Values{"csrf": {tok}, "outcome": {"maybe"}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("an unknown outcome: %d", p.status)
	}
	p := xb.post("/console/cases/"+id+"/respond", url.Values{"csrf": {tok}, "outcome": {"located"}, "sought_person": {"p2"}, "message": {"He is well and wants his mother to know."}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=answer_queued") {
		t.Fatalf("answer: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	sent, _ := e.xb.Store.ListOutbox(context.Background(), store.OutboxFilter{CaseID: id, Destination: "XA-RC"})
	if len(sent) != 1 || sent[0].Kind != "case.response" {
		t.Fatalf("XB-RC queued %+v", sent)
	}
	waitFor(t, 15*time.Second, "the answer in XA-RC's thread", func() bool {
		return strings.Contains(xa.get("/console/cases/"+id).body, "response received from XB-RC")
	})
	p = xa.get("/console/cases/" + id)
	if !strings.Contains(p.body, "<strong>located</strong>") || !strings.Contains(p.body, "He is well and wants his mother to know.") {
		t.Errorf("XA-RC's thread does not show the answer's outcome and message:\n%s", p.body)
	}
	au := e.browser()
	au.signIn(console.RoleAuditor)
	if p := au.get("/console/cases/" + id); strings.Contains(p.body, "mother to know") || !strings.Contains(p.body, "response received from XB-RC") {
		t.Error("the auditor sees the answer's message, or not the answer at all")
	}
}

// TestHolderSeesItsErasureConfirmation: XB-RC answered XA-RC's case, then
// XA-RC withdrew it. On XB-RC's case page the withdrawal XB-RC sent back is
// its confirmation of the erasure: no "asked to erase" against the origin,
// no meter of confirmations XB-RC would wait for (the demo showed XB-RC
// "Erasure confirmed by 0 of 1 recipients").
func TestHolderSeesItsErasureConfirmation(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	xa, xb, id := answeredAtXA(t, e)
	p := xa.post("/console/cases/"+id+"/withdraw", url.Values{"csrf": {xa.csrf("/console/cases/" + id + "/withdraw")}, "reason": {"consent_withdrawn"}, "confirm": {"yes"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d\n%s", p.status, p.body)
	}
	waitFor(t, 20*time.Second, "XB-RC's confirmation at XA-RC", func() bool {
		return strings.Contains(xa.get("/console/cases/"+id).body, `value="1">1/1</meter>`)
	})
	// XB-RC records its confirmation delivered when XA-RC's receipt comes
	// back, which may be a moment after XA-RC counted it.
	var page string
	waitFor(t, 20*time.Second, "XB-RC's record of its confirmation delivered", func() bool {
		page = xb.get("/console/cases/" + id).body
		return strings.Contains(page, "withdrawn by them: erasure confirmed to them")
	})
	// XB-RC sent XA-RC answers and messages, never a version of the case.
	for _, bad := range []string{"asked to erase", "wd-meter", "withdrawal sent to XA-RC", "<td>0</td>"} {
		if strings.Contains(page, bad) {
			t.Errorf("XB-RC's page of the withdrawn case shows %q", bad)
		}
	}
	for _, want := range []string{"withdrawn by them: erasure confirmed to them", "erasure confirmation sent to XA-RC"} {
		if !strings.Contains(page, want) {
			t.Errorf("XB-RC's page of the withdrawn case lacks %q", want)
		}
	}
}

// TestSendPageSaysWhatAMemberHolds: once XB-RC holds the case's current
// version, the send page says so next to its button (a caseworker trying
// the demo pressed "Send to XB-RC" again on a case XB-RC already had, and
// the page offered it as a "case update" without a word).
func TestSendPageSaysWhatAMemberHolds(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	xa := e.browser()
	xa.signIn(console.RoleCaseworker)
	id := xa.createCase()
	if p := xa.get("/console/cases/" + id + "/send"); strings.Contains(p.body, "already holds") {
		t.Fatal("the send page says a member holds a case never sent")
	}
	if p := xa.post("/console/cases/"+id+"/forward", url.Values{"csrf": {xa.csrf("/console/cases")}, "to": {"XB-RC"}}); p.status != http.StatusSeeOther {
		t.Fatalf("forward: %d", p.status)
	}
	waitFor(t, 15*time.Second, "XB-RC's receipt", func() bool {
		return strings.Contains(xa.get("/console/cases/"+id+"/send").body, "XB-RC already holds version 1 of this case: sending it again sends nothing.")
	})
	if p := xa.get("/console/cases/" + id + "/send"); strings.Contains(p.body, "ICRC-CTA already holds") {
		t.Error("the send page says ICRC-CTA holds the case")
	}
}

// TestInboxItemOfACaseLinksToIt: a received case (case.create) read from
// the inbox says where its content is; the page showed an empty "What it
// says" section.
func TestInboxItemOfACaseLinksToIt(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	xa := e.browser()
	xa.signIn(console.RoleCaseworker)
	id := xa.createCase()
	if p := xa.post("/console/cases/"+id+"/forward", url.Values{"csrf": {xa.csrf("/console/cases")}, "to": {"XB-RC"}}); p.status != http.StatusSeeOther {
		t.Fatalf("forward: %d", p.status)
	}
	var items []store.InboxItem
	waitFor(t, 15*time.Second, "the case in XB-RC's inbox", func() bool {
		items, _ = e.xb.Store.ListInbox(context.Background(), store.InboxFilter{CaseID: id})
		return len(items) == 1
	})
	xb := e.xbBrowser()
	xb.signIn(console.RoleCaseworker)
	p := xb.get("/console/inbox/" + strconv.FormatInt(items[0].ID, 10))
	if p.status != http.StatusOK || !strings.Contains(p.body, "A version of the case: read it on the case page.") {
		t.Errorf("XB-RC's inbox item of the case: %d, no link to the case page:\n%s", p.status, p.body)
	}
}

// holdDelivered holds XB-RC's recording of receipts, once armed, until
// released: what XB-RC sent is then in flight, answered and not yet
// recorded delivered.
type holdDelivered struct {
	store.Store
	armed   chan struct{} // closed: hold
	held    chan struct{} // one signal per held recording
	release chan struct{}
}

func (h holdDelivered) wait() {
	select {
	case <-h.armed:
		h.held <- struct{}{}
		<-h.release
	default:
	}
}

func (h holdDelivered) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	h.wait()
	return h.Store.MarkDelivered(ctx, id, receipt)
}

func (h holdDelivered) MarkDeliveredAll(ctx context.Context, ds []store.DeliveredRow) error {
	h.wait()
	return h.Store.MarkDeliveredAll(ctx, ds)
}

// TestHolderPageWhileItsConfirmationIsInFlight: XA-RC withdraws a case
// XB-RC answered; while XB-RC's confirmation of the erasure is on its way
// (XA-RC holds it, XB-RC has not yet recorded its receipt), XB-RC's page
// says so. It showed a withdrawal meter waiting on XA-RC, as if XB-RC had
// asked XA-RC to erase its own case.
func TestHolderPageWhileItsConfirmationIsInFlight(t *testing.T) {
	t.Parallel()
	h := holdDelivered{armed: make(chan struct{}), held: make(chan struct{}, 16), release: make(chan struct{})}
	e := startEnv(t, envOptions{xbStore: func(st store.Store) store.Store { h.Store = st; return h }})
	var once sync.Once
	free := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(free)
	xa, xb, id := answeredAtXA(t, e)
	waitFor(t, 15*time.Second, "XB-RC's record of its answer delivered", func() bool {
		return strings.Contains(xb.get("/console/cases/"+id).body, "<td>XA-RC</td>")
	})
	close(h.armed)
	if p := xa.post("/console/cases/"+id+"/withdraw", url.Values{"csrf": {xa.csrf("/console/cases/" + id + "/withdraw")}, "reason": {"consent_withdrawn"}, "confirm": {"yes"}}); p.status != http.StatusSeeOther {
		t.Fatalf("withdraw: %d\n%s", p.status, p.body)
	}
	select {
	case <-h.held:
	case <-time.After(30 * time.Second):
		t.Fatal("XB-RC's confirmation was never answered")
	}
	page := xb.get("/console/cases/" + id).body
	for _, bad := range []string{"wd-meter", "withdrawal queued", "asked to erase", "data-refresh"} {
		if strings.Contains(page, bad) {
			t.Errorf("XB-RC's page, its confirmation in flight, shows %q", bad)
		}
	}
	if want := "withdrawn by them: erasure confirmation on its way"; !strings.Contains(page, want) {
		t.Errorf("XB-RC's page, its confirmation in flight, lacks %q", want)
	}
	free()
	waitFor(t, 20*time.Second, "XB-RC's record of its confirmation delivered", func() bool {
		return strings.Contains(xb.get("/console/cases/"+id).body, "withdrawn by them: erasure confirmed to them")
	})
}

// answeredAtXA has XA-RC's caseworker create a case and forward it to
// XB-RC, XB-RC's caseworker answer it (located), and waits until XA-RC's
// page shows the answer. It returns both caseworkers' browsers and the
// case's id.
func answeredAtXA(t *testing.T, e *env) (xa, xb *browser, id string) {
	t.Helper()
	xa = e.browser()
	xa.signIn(console.RoleCaseworker)
	id = xa.createCase()
	if p := xa.post("/console/cases/"+id+"/forward", url.Values{"csrf": {xa.csrf("/console/cases")}, "to": {"XB-RC"}}); p.status != http.StatusSeeOther {
		t.Fatalf("forward: %d", p.status)
	}
	waitFor(t, 15*time.Second, "XB-RC to hold the case", func() bool {
		_, err := e.xb.Store.GetCase(context.Background(), id)
		return err == nil
	})
	xb = e.xbBrowser()
	xb.signIn(console.RoleCaseworker)
	if p := xb.post("/console/cases/"+id+"/respond", url.Values{"csrf": {xb.csrf("/console/cases/" + id + "/respond")}, "outcome": {"located"}, "sought_person": {"p2"}}); p.status != http.StatusSeeOther {
		t.Fatalf("answer: %d\n%s", p.status, p.body)
	}
	waitFor(t, 15*time.Second, "the answer at XA-RC", func() bool {
		return strings.Contains(xa.get("/console/cases/"+id).body, "response received from XB-RC")
	})
	return xa, xb, id
}
