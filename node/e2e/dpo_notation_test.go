package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/familylinks/flx/federation"
)

// TestDPONotationsThroughNodes: withheld values written in other notations
// (policy/dpo_notation_test.go) through real nodes over mTLS. The sought
// person of XA-RC's case declined contact: their address (a point) and
// phone are withheld from XB-RC. The enquirer's address, described by the
// point in degrees and minutes, is removed from the case XB-RC receives
// (the enquirer's name arrives); family news
// giving the phone in its national form with Eastern Arabic digits, the
// point in degrees, minutes and seconds or in a map link is denied. In a
// second case the carer of an unaccompanied child is withheld: family news
// giving the carer's birth date with an Arabic month's name and Eastern
// Arabic digits, or the carer's name in Urdu script, is denied. Plain
// family news about each case arrives, and so do the cases. On the code
// before these notations were read, every one of them reached XB-RC.
func TestDPONotationsThroughNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	df := startDPO(t, nil, nil)
	xa, xb := df.nodes["XA-RC"], df.nodes["XB-RC"]
	tag := federation.NewJTI()[:6]

	refusedID := "XA-RC:DPO-NOTATION-R-" + tag
	doc, vals := dpoFullCase(t, refusedID, "notation", func(m map[string]any) {
		p2(m)["contact_preference"] = "refused"
		p2(m)["address"].(map[string]any)["geo"] = map[string]any{"lat": 33.512345, "lon": 36.276543}
		p2(m)["contact"].(map[string]any)["phones"] = []any{"+999 61 234 5678"}
		m["persons"].([]any)[0].(map[string]any)["address"].(map[string]any)["description"] = "next to 33° 30.741' N, 36° 16.593' E"
	})
	carerID := "XA-RC:DPO-NOTATION-C-" + tag
	carerDoc, _ := dpoFullCase(t, carerID, "notation", func(m map[string]any) {
		p2(m)["birth_date"] = "2015"
		p2(m)["vulnerabilities"] = []any{"unaccompanied_minor"}
		m["best_interest_assessment"] = map[string]any{"done_at": "2026-11-02T09:00:00Z", "by": "caseworker", "outcome": "stays with carer"}
		m["persons"] = append(m["persons"].([]any), map[string]any{"id": "p3", "roles": []any{"caregiver"}, "birth_date": "1985-03-12",
			"names": []any{map[string]any{"value": "Shahid Hussain Bhatti", "script": "Latn"}}})
		m["relationships"] = []any{map[string]any{"from": "p2", "to": "p1", "type": "son", "verified": false},
			map[string]any{"from": "p3", "to": "p2", "type": "caregiver", "verified": true}}
	})
	for _, c := range []struct {
		id  string
		doc []byte
	}{{refusedID, doc}, {carerID, carerDoc}} {
		if _, err := xa.CreateCase(ctx, cw, c.doc); err != nil {
			t.Fatal(err)
		}
		if res, err := xa.Forward(ctx, cw, c.id, "XB-RC"); err != nil || res.State != "queued" {
			t.Fatalf("forward %s: %s (%v)", c.id, res.State, err)
		}
		waitProcessed(t, xb.Store, c.id, string(federation.KindCaseCreate), 1)
	}
	// The cases arrived (the controls), without the enquirer's address.
	for _, want := range []string{refusedID, carerID, vals["/persons/0/names/0/value"]} {
		if w := df.holds(t, "XB-RC", want); w == "" {
			t.Errorf("control: XB-RC does not hold %s", want)
		}
	}
	if w := df.holds(t, "XB-RC", "30.741"); w != "" {
		t.Errorf("LEAK: XB-RC holds the address giving the point in %s", w)
	}

	news := []struct {
		caseID, body string
		control      bool
	}{
		{refusedID, "Call them on ٠٦١ ٢٣٤ ٥٦٧٨ after six. Love.", false},
		{refusedID, "They live at 33°30'44.4\"N 36°16'35.6\"E now.", false},
		{refusedID, "See https://maps.example/@33.5123,36.2765,17z for the house.", false},
		{refusedID, "We are all well; the clinic is at 33.6, 36.4. Love.", true},
		{carerID, "The carer, born ١٢ آذار ١٩٨٥, looks after the boy.", false},
		{carerID, "The boy lives with شاہد حسین بھٹی now.", false},
		{carerID, "The boy is well and goes to school since 12 March. Love.", true},
	}
	delivered := map[string]int{}
	for i, n := range news {
		m := map[string]any{"schema": "flx/v1/message", "message_id": fmt.Sprintf("%s-FN-%d", n.caseID, i), "case_id": n.caseID,
			"kind": "family_news", "channel": "rcm", "created_at": "2026-11-11T09:00:00Z", "body": n.body,
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"}}
		doc, _ := json.Marshal(m)
		res, err := xa.SendMessage(ctx, cw, n.caseID, "XB-RC", doc)
		switch {
		case !n.control && res.State != "denied":
			t.Errorf("LEAK: family news %q was %s (%v)", n.body, res.State, err)
		case n.control && res.State != "queued":
			t.Errorf("control: family news %q was %s (%v)", n.body, res.State, err)
		case n.control:
			delivered[n.caseID]++
		}
	}
	for id, k := range delivered {
		waitProcessed(t, xb.Store, id, string(federation.KindMessageDeliver), k)
	}
	for _, n := range news {
		if n.control {
			if w := df.holds(t, "XB-RC", n.body); w == "" {
				t.Errorf("control: XB-RC does not hold family news %q", n.body)
			}
			continue
		}
		if w := df.holds(t, "XB-RC", n.body); w != "" {
			t.Errorf("LEAK: XB-RC holds %q in %s", n.body, w)
		}
	}
	for _, v := range []string{"٢٣٤", "36°16", "36.2765", "آذار", "شاہد", "Shahid Hussain Bhatti", "1985-03-12"} {
		if w := df.holds(t, "XB-RC", v); w != "" {
			t.Errorf("LEAK: XB-RC holds %q in %s", v, w)
		}
	}
}
