package federation

import (
	"context"
	"testing"

	"github.com/familylinks/flx/federation/jose"
)

// TestVerifyEnvelopeHostileStrings: a member signs, with its real key and
// over its own connection, claims whose strings hide another value: NUL
// bytes, escaped control characters, invalid or overlong UTF-8 (which a
// JSON decoder turns into U+FFFD), escaped forms of a member id. None may
// be accepted with a claim that differs from what the strict reading
// allows: member ids, kinds and jti are ASCII of a fixed alphabet.
func TestVerifyEnvelopeHostileStrings(t *testing.T) {
	f := newFixture(t)
	xa := f.keys["XA-RC"]
	const iss, aud, jti, kind, caseID = 0, 1, 4, 5, 6
	cases := []struct {
		name string
		at   int
		repl string
		want Code
	}{
		{"escaped iss (XA\\u002dRC is XA-RC)", iss, `"iss":"XA\u002dRC"`, ""},
		{"iss with an escaped NUL (not the peer, checked first)", iss, `"iss":"XA-RC\u0000"`, CodeSenderMismatch},
		{"iss with a raw invalid byte (not the peer)", iss, "\"iss\":\"XA-RC\xff\"", CodeSenderMismatch},
		{"aud with an overlong '-' (C0 AD)", aud, "\"aud\":\"XB\xc0\xadRC\"", CodeBadEnvelope},
		{"aud with a fullwidth hyphen", aud, `"aud":"XB\uff0dRC"`, CodeBadEnvelope},
		{"aud in lower case", aud, `"aud":"xb-rc"`, CodeBadEnvelope},
		{"jti with an escaped NUL", jti, `"jti":"abc\u0000def"`, CodeBadEnvelope},
		{"jti with invalid UTF-8", jti, "\"jti\":\"abcdefgh\xc3\x28\"", CodeBadEnvelope},
		{"kind with a trailing NUL", kind, `"kind":"case.create\u0000"`, CodeUnsupportedKind},
		{"kind with a zero-width space", kind, `"kind":"case.\u200bcreate"`, CodeUnsupportedKind},
		{"case_id with a NUL", caseID, `"case_id":"XA-RC:case-1\u0000"`, CodeBadEnvelope},
		{"case_id with invalid UTF-8", caseID, "\"case_id\":\"XA-RC:case-1\xff\"", CodeBadEnvelope},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := claimsJSON(edited(f, tc.at, []string{tc.repl})...)
			raw := must(jose.Sign(payload, TypEnvelope, xa))
			env, err := f.verifier("XB-RC").Verify(context.Background(), raw, "XA-RC")
			if err != nil {
				t.Logf("refused: %v", err)
			}
			wantCode(t, err, tc.want)
			if err == nil && (env.Issuer != "XA-RC" || env.Audience != "XB-RC" || env.CaseID != "XA-RC:case-1" || env.Kind != KindCaseCreate) {
				t.Fatalf("accepted with claims %+v", env.Claims)
			}
		})
	}
}
