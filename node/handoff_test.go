package node_test

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// TestProcessWithoutAdmittedParse: what receipt parsed of an envelope and
// hands to processing (its claims, its case decoded from the validated
// tree) is what parsing the stored envelope gives, and processing with it
// leaves the node exactly as processing that parses every envelope again
// (after a restart, or far behind receipt) does.
func TestProcessWithoutAdmittedParse(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		handed := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		parsed := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		for _, n := range []*nodetest.Node{handed, parsed} {
			n.ApplyOnReceiveForTest(false) // the processor takes what receipt handed over
		}
		const a, b, e = "XA-RC:H-A", "XA-RC:H-B", "XA-RC:H-E"
		withdraw := body(t, "withdrawal.consent_withdrawn", func(m map[string]any) { m["case_id"] = e })
		envs := []sent{
			{federation.KindCaseCreate, a, caseBody(t, a, 1)},
			{federation.KindCaseCreate, b, caseBody(t, b, 1)},
			{federation.KindCaseUpdate, a, caseBody(t, a, 2)},
			{federation.KindCaseCreate, b, caseBody(t, b, 1)}, // stale
			{federation.KindCaseCreate, e, caseBody(t, e, 1)},
			{federation.KindCaseWithdraw, e, withdraw},
		}
		var raws [][]byte
		for _, s := range envs {
			raws = append(raws, f.Envelope(t, "XA-RC", "XB-RC", s.kind, s.caseID, s.body))
		}
		for _, n := range []*nodetest.Node{handed, parsed} {
			receiveAllOK(ctx, t, n, "XA-RC", raws)
		}
		for i, raw := range raws {
			sum := sha256.Sum256(raw)
			claims, c, ok := handed.AdmittedForTest(hex.EncodeToString(sum[:]))
			if !ok {
				t.Fatalf("envelope %d: nothing handed to processing", i)
			}
			want, err := federation.ClaimsOf(raw)
			if err != nil || !reflect.DeepEqual(claims, want) {
				t.Fatalf("envelope %d: claims handed %+v, parsed %+v (%v)", i, claims, want, err)
			}
			if envs[i].kind == federation.KindCaseWithdraw {
				if c != nil {
					t.Fatalf("envelope %d: a case handed for a withdrawal", i)
				}
				continue
			}
			wantCase, err := schema.DecodeValidatedCase(want.Body)
			if err != nil || c == nil || !reflect.DeepEqual(c, wantCase) {
				t.Fatalf("envelope %d: case handed %+v, decoded %+v (%v)", i, c, wantCase, err)
			}
		}
		parsed.ForgetAdmittedForTest()
		for _, n := range []*nodetest.Node{handed, parsed} {
			if err := n.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ids := []string{a, b, e}
		got, want := stateOf(t, handed.Store, ids), stateOf(t, parsed.Store, ids)
		sameState(t, got, want, "with what receipt parsed", "parsing again")
		// What processing came to, in case both paths went wrong alike.
		failed := failedRows(got)
		if len(got.Inbox) != 6 || failed != 1 || !strings.HasPrefix(got.Cases[0], a+" v2 ") || !strings.Contains(got.Cases[2], "erased=true") {
			t.Fatalf("state %+v", got)
		}
		for i := range raws {
			sum := sha256.Sum256(raws[i])
			if _, _, ok := handed.AdmittedForTest(hex.EncodeToString(sum[:])); ok {
				t.Fatalf("envelope %d: still held after processing", i)
			}
		}
	})
}
