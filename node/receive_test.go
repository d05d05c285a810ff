package node_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

func body(t *testing.T, name string, edit func(map[string]any)) []byte {
	t.Helper()
	ex, ok := schema.ExampleNamed(name)
	if !ok {
		t.Fatalf("no example %s", name)
	}
	var m map[string]any
	if err := json.Unmarshal(ex.Doc, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// TestReceiveRoles checks who may send what about a case, on Receive
// directly (the wire path is covered in node/e2e).
func TestReceiveRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
	caseDoc := body(t, "case.tracing_request", nil) // XA-RC:TR-2024-0117, origin XA-RC
	resp := body(t, "response.located", func(m map[string]any) { m["responder"] = "XC-RC" })
	withdraw := body(t, "withdrawal.consent_withdrawn", nil)
	confirm := body(t, "withdrawal.confirmation", nil)
	tests := []struct {
		name   string
		iss    string
		kind   federation.Kind
		caseID string
		body   []byte
		want   federation.Code // "" = accepted
	}{
		{"origin creates", "XA-RC", federation.KindCaseCreate, "XA-RC:TR-2024-0117", caseDoc, ""},
		{"another member creates the origin's case", "XC-RC", federation.KindCaseCreate, "XA-RC:TR-2024-0117", caseDoc, federation.CodeSenderMismatch},
		{"another member updates", "XC-RC", federation.KindCaseUpdate, "XA-RC:TR-2024-0117", caseDoc, federation.CodeSenderMismatch},
		{"claim case_id differs from body", "XA-RC", federation.KindCaseCreate, "XA-RC:OTHER-1", caseDoc, federation.CodeBadEnvelope},
		{"responder answers", "XC-RC", federation.KindCaseResponse, "XA-RC:TR-2024-0117", resp, ""},
		{"response claiming another responder", "XA-RC", federation.KindCaseResponse, "XA-RC:TR-2024-0117", resp, federation.CodeSenderMismatch},
		{"origin withdraws", "XA-RC", federation.KindCaseWithdraw, "XA-RC:TR-2024-0117", withdraw, ""},
		{"non-origin withdraws", "XC-RC", federation.KindCaseWithdraw, "XA-RC:TR-2024-0117", withdraw, federation.CodeSenderMismatch},
		{"any recipient confirms", "XC-RC", federation.KindCaseWithdraw, "XA-RC:TR-2024-0117", confirm, ""},
		{"case body for a response kind", "XC-RC", federation.KindCaseResponse, "XA-RC:TR-2024-0117", caseDoc, federation.CodeSchemaInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := f.Envelope(t, tc.iss, "XB-RC", tc.kind, tc.caseID, tc.body)
			res, err := xb.Receive(ctx, tc.iss, raw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if res.Status != federation.ReceiptAccepted || len(res.Receipt) == 0 {
					t.Fatalf("result %+v", res)
				}
				return
			}
			if got := problem.As(err).Code; got != tc.want {
				t.Fatalf("code %q, want %q (err %v)", got, tc.want, err)
			}
		})
	}
}

// TestReceiveDuplicateAndReplay: the same bytes twice give a duplicate
// receipt and one inbox row; the same jti with other bytes is a replay.
func TestReceiveDuplicateAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true})
	doc := body(t, "case.tracing_request", nil)
	raw := f.Envelope(t, "XA-RC", "XB-RC", federation.KindCaseCreate, "XA-RC:TR-2024-0117", doc)
	first, err := xb.Receive(ctx, "XA-RC", raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := xb.Receive(ctx, "XA-RC", raw)
	if err != nil || again.Status != federation.ReceiptDuplicate || again.InboxID != first.InboxID {
		t.Fatalf("resend: %+v %v", again, err)
	}
	env, err := (&federation.Verifier{Manifest: federation.StaticManifest(f.Manifest), Self: "XA-RC"}).Verify(ctx, again.Receipt, "")
	_ = env // a receipt is not an envelope: it must not verify as one
	if err == nil {
		t.Fatal("receipt accepted as an envelope")
	}
	// Same jti, other content.
	var claims map[string]any
	parts := splitJWS(t, raw)
	json.Unmarshal(parts, &claims)
	jti := claims["jti"].(string)
	forged, err := federation.Sign(federation.Claims{Issuer: "XA-RC", Audience: "XB-RC", IssuedAt: f.Manifest.IssuedAt.Add(60e9), ExpiresAt: f.Manifest.ExpiresAt,
		JTI: jti, Kind: federation.KindCaseCreate, CaseID: "XA-RC:TR-2024-0117", Body: doc}, f.Member(t, "XA-RC").Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xb.Receive(ctx, "XA-RC", forged); problem.As(err).Code != federation.CodeReplay {
		t.Fatalf("replay: %v", err)
	}
	if err := xb.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := xb.Store.GetCase(ctx, "XA-RC:TR-2024-0117")
	if err != nil || c.Version != 3 {
		t.Fatalf("case at XB: %+v %v", c, err)
	}
}

func splitJWS(t *testing.T, raw []byte) []byte {
	t.Helper()
	var dots []int
	for i, b := range raw {
		if b == '.' {
			dots = append(dots, i)
		}
	}
	if len(dots) != 2 {
		t.Fatal("not a compact JWS")
	}
	out, err := base64.RawURLEncoding.DecodeString(string(raw[dots[0]+1 : dots[1]]))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
