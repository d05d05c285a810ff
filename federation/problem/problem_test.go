package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		d, ok := Lookup(c)
		if !ok || d.Code != c || seen[c] {
			t.Fatalf("%s: row %+v ok %t seen %t", c, d, ok, seen[c])
		}
		seen[c] = true
		if c.HTTPStatus() != d.Status || c.Title() != d.Title || d.Title == "" {
			t.Errorf("%s: status %d title %q, row %+v", c, c.HTTPStatus(), c.Title(), d)
		}
		if string(c) != strings.ToLower(string(c)) || strings.ContainsAny(string(c), " -.") {
			t.Errorf("%s: codes are lower_snake_case", c)
		}
	}
	for _, c := range []Code{"", "no_such_code"} {
		if c.HTTPStatus() != 500 || c.Title() != "Internal Server Error" {
			t.Errorf("unknown code %q: %d %q, want 500", c, c.HTTPStatus(), c.Title())
		}
	}
	// A few rows the federation contract fixes (SPEC.md §8.2), spelt out
	// here so that a mistyped table row fails.
	for c, want := range map[Code]int{
		"unauthenticated_peer": 401, "sender_mismatch": 403, "replay": 409, "too_large": 413,
		"schema_invalid": 422, "rate_limited": 429, "unavailable": 503, "internal_error": 500,
		"erased": 410, "unsupported_media_type": 415, "media_not_cleanable": 422,
	} {
		if got := c.HTTPStatus(); got != want {
			t.Errorf("%s: %d, want %d", c, got, want)
		}
	}
}

func TestDefRefusesDuplicates(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
	}{{"replay", 409}, {"", 400}, {"fine_code", 302}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("def(%q, %d) did not panic", tc.code, tc.status)
				}
			}()
			def(Federation, tc.code, tc.status, "title")
		}()
	}
}

func TestRetryable(t *testing.T) {
	var retry []string
	for _, c := range Codes() {
		if c.Retryable() {
			retry = append(retry, string(c))
		}
	}
	if got := strings.Join(retry, " "); got != "unauthenticated_peer unknown_key rate_limited unavailable internal_error media_incomplete offset_mismatch media_quota_exceeded insufficient_storage request_timeout" {
		t.Errorf("retryable codes: %s", got)
	}
	if !Code("").Retryable() {
		t.Error("no answer (the empty code) is retried")
	}
}

func TestErrorChain(t *testing.T) {
	e := Wrap(BadSignature, "signature does not verify", errors.New("jwx: secret detail"))
	err := fmt.Errorf("wrapped: %w", e)
	if CodeOf(err) != BadSignature || !errors.Is(err, &Error{Code: BadSignature}) || errors.Is(err, &Error{Code: Expired}) {
		t.Errorf("CodeOf/errors.Is do not see through wrapping")
	}
	if e.Public() != "signature does not verify" || e.Error() != "bad_signature: signature does not verify: jwx: secret detail" {
		t.Errorf("Public %q Error %q", e.Public(), e.Error())
	}
	if New(Replay, "").Public() != "replay" {
		t.Error("Public without a message")
	}
	plain := errors.New("database on fire")
	if a := As(plain); a.Code != Internal || !errors.Is(a, plain) {
		t.Errorf("As(plain) = %+v", a)
	}
	if As(err) != e || CodeOf(plain) != "" || CodeOf(nil) != "" {
		t.Error("As/CodeOf")
	}
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		detail string
	}{
		{"refusal", &Error{Code: SchemaInvalid, Msg: "body does not conform", Errors: []Pointer{{Pointer: "/status", Message: "not allowed"}}}, 422, "body does not conform"},
		{"internal detail stays in the log", Wrap(Internal, "select * from cases failed", errors.New("pq: secret")), 500, ""},
		{"plain error", errors.New("pq: connection refused to 10.0.0.7"), 500, ""},
		{"policy decision", &Error{Code: PolicyDenied, Msg: "refused", Decision: map[string]string{"effect": "deny"}}, 403, "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, tc.err)
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != MediaType || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
			p, err := Parse(rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			c := As(tc.err).Code
			if p.Status != tc.status || p.Code != c || p.Type != TypePrefix+string(c) || p.Title != c.Title() || p.Detail != tc.detail {
				t.Errorf("problem %+v", p)
			}
			if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("internal detail on the wire: %s", rec.Body)
			}
		})
	}
	rec := httptest.NewRecorder()
	(&Problem{Status: http.StatusForbidden, Code: PolicyDenied, Decision: func() {}}).Write(rec)
	if rec.Code != 500 {
		t.Errorf("a decision that does not encode: %d", rec.Code)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"urn:flx:problem:replay","title":"t","status":409,"code":"replay"}`))
	f.Add([]byte(`{"code":"schema_invalid","errors":[{"pointer":"/a","message":"m"}]}`))
	f.Add([]byte(`{"code":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		if strings.TrimSpace(string(p.Code)) == "" {
			t.Fatalf("accepted a problem without a code: %q", b)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("a parsed problem does not encode again: %v", err)
		}
	})
}
