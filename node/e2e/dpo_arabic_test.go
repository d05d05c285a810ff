package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/familylinks/flx/federation"
)

// TestDPOArabicNameThroughNodes: the carer of an unaccompanied child, whose
// family link is not verified, is named in Latin letters in XA-RC's case;
// their identity is withheld from XB-RC. Family news from XA-RC naming the
// carer in Arabic script, or in another usual Latin spelling, is denied
// through the real nodes (on the code before the phonetic keys of names
// it was queued and XB-RC held the name); the same news without the name
// arrives.
func TestDPOArabicNameThroughNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	df := startDPO(t, nil, nil)
	xa, xb := df.nodes["XA-RC"], df.nodes["XB-RC"]
	id := "XA-RC:DPO-ARABIC-" + federation.NewJTI()[:6]
	doc, _ := dpoFullCase(t, id, "arabic", func(m map[string]any) {
		p2(m)["birth_date"] = "2015"
		p2(m)["vulnerabilities"] = []any{"unaccompanied_minor"}
		m["best_interest_assessment"] = map[string]any{"done_at": "2026-11-02T09:00:00Z", "by": "caseworker", "outcome": "stays with carer"}
		m["persons"] = append(m["persons"].([]any), map[string]any{"id": "p3", "roles": []any{"caregiver"},
			"names": []any{map[string]any{"value": "Yusuf Abd al-Karim Haddad", "script": "Latn"}}})
		m["relationships"] = []any{map[string]any{"from": "p2", "to": "p1", "type": "son", "verified": false},
			map[string]any{"from": "p3", "to": "p2", "type": "caregiver", "verified": true}}
	})
	if _, err := xa.CreateCase(ctx, cw, doc); err != nil {
		t.Fatal(err)
	}
	res, err := xa.Forward(ctx, cw, id, "XB-RC")
	if err != nil || res.State != "queued" {
		t.Fatalf("forward: %s (%v)", res.State, err)
	}
	waitProcessed(t, xb.Store, id, string(federation.KindCaseCreate), 1)
	if w := df.holds(t, "XB-RC", "Yusuf Abd al-Karim Haddad"); w != "" {
		t.Fatalf("XB-RC holds the carer's name in %s", w)
	}
	copies := []string{"يوسف عبد الكريم حداد", "Youssef Abdelkarim El-Haddad"}
	bodies := []string{"The boy lives with " + copies[0] + " now. Love.", "Le garçon vit chez " + copies[1] + ".", "The boy is well and goes to school. Love."}
	for i, body := range bodies {
		control := i == len(bodies)-1
		m := map[string]any{"schema": "flx/v1/message", "message_id": fmt.Sprintf("%s-FN-%d", id, i), "case_id": id,
			"kind": "family_news", "channel": "rcm", "created_at": "2026-11-11T09:00:00Z", "body": body,
			"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"}}
		doc, _ := json.Marshal(m)
		res, err := xa.SendMessage(ctx, cw, id, "XB-RC", doc)
		switch {
		case !control && res.State != "denied":
			t.Errorf("LEAK: family news naming the carer (%q) was %s (%v)", body, res.State, err)
		case control && res.State != "queued":
			t.Errorf("control: plain family news was %s (%v)", res.State, err)
		}
	}
	waitProcessed(t, xb.Store, id, string(federation.KindMessageDeliver), 1)
	for _, c := range copies {
		if w := df.holds(t, "XB-RC", c); w != "" {
			t.Errorf("LEAK: XB-RC holds %q in %s", c, w)
		}
	}
}
