package conformance

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// Endpoints, receipts, errors, schema validation and limits (SPEC.md §6-§9).

// checkMetadataTruthful checks that GET /.well-known/flx answers truthful
// metadata.
func checkMetadataTruthful(t *T) {
	ans, err := t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
	if err != nil {
		t.Fatalf("GET /.well-known/flx: %v", err)
	}
	if ans.Status != http.StatusOK {
		t.Fatalf("want 200, got %s", ans)
	}
	if mt, _, _ := mime.ParseMediaType(ans.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ans.Header.Get("Content-Type"))
	}
	md, err := ParseMetadata(ans.Body)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	cand := t.id.Candidate()
	if md.Member != cand.ID {
		t.Errorf("member %q, want %q (the member pinned for its certificate)", md.Member, cand.ID)
	}
	if !slices.Contains(md.ProtocolVersions, "flx/1") {
		t.Errorf("protocol_versions %v lacks flx/1", md.ProtocolVersions)
	}
	if !slices.Contains(md.SchemaVersions, "1") {
		t.Errorf("schema_versions %v lacks 1", md.SchemaVersions)
	}
	var want []string
	for _, k := range cand.Accepts {
		want = append(want, string(k))
	}
	got := slices.Clone(md.Accepts)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("accepts %v, the manifest says %v", md.Accepts, want)
	}
	if md.Manifest.Federation != t.id.Manifest.Federation || md.Manifest.Version != t.id.Manifest.Version {
		t.Errorf("manifest %q v%d, the tester's is %q v%d", md.Manifest.Federation, md.Manifest.Version, t.id.Manifest.Federation, t.id.Manifest.Version)
	}
	if md.Limits.MaxBodyBytes < 1<<20 {
		t.Errorf("limits.max_body_bytes %d is under 1 MiB", md.Limits.MaxBodyBytes)
	}
	if md.Limits.ClockSkewSeconds < 30 || md.Limits.ClockSkewSeconds > 300 {
		t.Errorf("limits.clock_skew_seconds %d is outside 30..300", md.Limits.ClockSkewSeconds)
	}
}

// checkContentTypeRequired checks that a valid envelope sent as
// application/json, text/plain or without Content-Type is refused with
// bad_envelope.
func checkContentTypeRequired(t *T) {
	for _, ct := range []string{"application/json", "text/plain", ""} {
		raw, _ := t.validCase()
		if _, err := shouldRefuse(t.postAs(t, certTester, raw, ct), "bad_envelope"); err != nil {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
	raw, c := t.validCase()
	t.mustAccept(t, t.postAs(t, certTester, raw, "Application/JOSE; charset=utf-8"), raw, c, federation.ReceiptAccepted)
}

// checkUnknownPathNotFound checks that an authenticated request to an
// undefined path gets 404 not_found, never a redirect, and that a defined
// path spelt with percent escapes is such a path.
func checkUnknownPathNotFound(t *T) {
	for _, p := range []string{"/flx/v2/envelopes", "/", "/flx/v1/envelopes/x", "//flx/v1/envelopes", "/flx/v1/./envelopes",
		"/.well-known/%66lx", "/flx/v1/%65nvelopes", "/flx%2Fv1/envelopes", "/flx/v1/pul%6C"} {
		ans, err := t.request(certTester, http.MethodGet, p, nil, "")
		if err != nil {
			t.Errorf("GET %s: %v", p, err)
			continue
		}
		if ans.Status >= 300 && ans.Status < 400 {
			t.Errorf("GET %s: redirect %d to %q (FLX-API-006)", p, ans.Status, ans.Header.Get("Location"))
			continue
		}
		if _, err := shouldRefuse(ans, "not_found"); err != nil {
			t.Errorf("GET %s: %v", p, err)
		}
	}
}

// checkWrongMethodNotAllowed checks that GET /flx/v1/envelopes and POST
// /.well-known/flx get 405 method_not_allowed with Allow.
func checkWrongMethodNotAllowed(t *T) {
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodGet, "/flx/v1/envelopes", "POST"},
		{http.MethodPost, "/.well-known/flx", "GET"},
		{http.MethodGet, "/flx/v1/batches", "POST"},
		{http.MethodPost, "/flx/v1/pull", "GET"},
		{http.MethodGet, "/flx/v1/pull/ack", "POST"},
	} {
		ans, err := t.request(certTester, c.method, c.path, nil, "")
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		if _, err := shouldRefuse(ans, "method_not_allowed"); err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		if !strings.Contains(ans.Header.Get("Allow"), c.allow) {
			t.Errorf("%s %s: Allow %q does not list %s", c.method, c.path, ans.Header.Get("Allow"), c.allow)
		}
	}
}

// checkNoLocalAPIOnFederation checks that the local API is not served on the
// federation listener.
func checkNoLocalAPIOnFederation(t *T) {
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		ans, err := t.request(certTester, m, "/api/v1/cases", []byte(`{}`), "application/json")
		if err != nil {
			t.Fatalf("%s /api/v1/cases: %v", m, err)
		}
		if _, err := shouldRefuse(ans, "not_found"); err != nil {
			t.Errorf("%s /api/v1/cases: %v", m, err)
		}
	}
}

// checkReceipt checks that a valid envelope is answered 202 application/jose
// with a receipt signed by the candidate and bound to the exact bytes.
func checkReceipt(t *T) {
	for _, kind := range []federation.Kind{federation.KindCaseCreate, federation.KindMessageDeliver} {
		if !t.accepts(kind) {
			continue // a kind the candidate leaves out (conformance init --accepts)
		}
		var raw []byte
		var c Claims
		if kind == federation.KindCaseCreate {
			raw, c = t.validCase()
		} else {
			raw, c = t.envelope(kind, messageDoc(newCaseID(MemberTester)))
		}
		r := t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
		if r.Issuer != t.candidate || r.Audience != MemberTester {
			t.Errorf("receipt iss %q aud %q", r.Issuer, r.Audience)
		}
	}
}

// checkProblemDocuments checks that refusals are problem documents with type,
// title, status and code, at the status of §8.2.
func checkProblemDocuments(t *T) {
	raw, _ := t.validCase()
	cases := []struct {
		ans  *Answer
		code string
	}{
		{t.postAs(t, certTester, raw, "text/plain"), "bad_envelope"},
		{t.post(t, []byte("not a jws")), "bad_envelope"},
	}
	c := t.valid()
	c.Aud = MemberPeer
	cases = append(cases, struct {
		ans  *Answer
		code string
	}{t.post(t, t.sign(c, keyTester)), "wrong_audience"})
	for _, cs := range cases {
		if _, err := shouldRefuse(cs.ans, cs.code); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// checkSchemaPointers checks that a schema_invalid refusal carries errors
// with the JSON pointer of each injected fault.
func checkSchemaPointers(t *T) {
	id := newCaseID(MemberTester)
	doc := caseDoc(id, MemberTester)
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	m["persons"] = []any{map[string]any{"id": "p1", "sex": "unknown-value"}}
	m["status"] = "no_such_status"
	bad, _ := json.Marshal(m)
	raw, _ := t.envelope(federation.KindCaseCreate, bad)
	p := mustRefuse(t, t.post(t, raw), "schema_invalid")
	if len(p.Errors) == 0 {
		t.Fatalf("no errors in the schema_invalid problem")
	}
	for _, want := range []string{"/persons/0/sex", "/status"} {
		found := false
		for _, e := range p.Errors {
			if e.Pointer == want && e.Message != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("no error with pointer %s (got %v)", want, p.Errors)
		}
	}
}

// checkNoPersonalDataInProblems checks that values from an invalid body never
// appear in the problem document.
func checkNoPersonalDataInProblems(t *T) {
	marker := "Zzmarker" + federation.NewJTI()
	id := newCaseID(MemberTester)
	var m map[string]any
	_ = json.Unmarshal(caseDoc(id, MemberTester), &m)
	m["persons"] = []any{map[string]any{"id": "p1", "sex": marker, "names": []any{map[string]any{"value": marker, "part": marker}}}}
	m["purpose"] = marker
	bad, _ := json.Marshal(m)
	raw, _ := t.envelope(federation.KindCaseCreate, bad)
	ans := t.post(t, raw)
	mustRefuse(t, ans, "schema_invalid")
	if strings.Contains(string(ans.Body), marker) || strings.Contains(fmt.Sprint(ans.Header), marker) {
		t.Errorf("the answer repeats a value of the body: %s", ans)
	}
}

// checkInvalidBodyPerKind checks that an invalid body of every kind, and a
// message document sent as case.create, are refused with schema_invalid.
func checkInvalidBodyPerKind(t *T) {
	id := newCaseID(MemberTester)
	bodies := map[federation.Kind][]byte{
		federation.KindCaseCreate:     setMembers(caseDoc(id, MemberTester), map[string]any{"version": 0}),
		federation.KindCaseUpdate:     setMembers(caseDoc(id, MemberTester), map[string]any{"type": "unknown_type"}),
		federation.KindCaseResponse:   setMembers(responseDoc(newCaseID(t.candidate), MemberTester), map[string]any{"outcome": "maybe"}),
		federation.KindMessageDeliver: setMembers(messageDoc(id), map[string]any{"channel": "pigeon"}),
		federation.KindCaseWithdraw:   setMembers(withdrawalDoc(id), map[string]any{"reason": "bored"}),
	}
	for _, k := range federation.Kinds {
		if !t.accepts(k) {
			continue
		}
		raw, _ := t.envelope(k, bodies[k])
		if _, err := shouldRefuse(t.post(t, raw), "schema_invalid"); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	msg := messageDoc(id)
	raw, _ := t.envelope(federation.KindCaseCreate, msg)
	if _, err := shouldRefuse(t.post(t, raw), "schema_invalid"); err != nil {
		t.Errorf("message document as case.create: %v", err)
	}
}

// checkStrictJSON checks that an unknown member at depth, an impossible date,
// a date-time without offset, a duplicated member, U+0000 and a lone
// surrogate are refused with schema_invalid.
func checkStrictJSON(t *T) {
	id := newCaseID(MemberTester)
	good := string(caseDoc(id, MemberTester))
	variants := map[string]string{
		"unknown member":      strings.Replace(good, `"id":"p1"`, `"id":"p1","shoe_size":44`, 1),
		"impossible date":     strings.Replace(good, `"id":"p1"`, `"id":"p1","birth_date":"2023-02-30"`, 1),
		"date-time no offset": strings.Replace(good, `"created_at":"2025-01-20T11:00:00Z"`, `"created_at":"2025-01-20T11:00:00"`, 1),
		"duplicate member":    strings.Replace(good, `"purpose":"tracing"`, `"purpose":"tracing","purpose":"tracing"`, 1),
		"U+0000":              strings.Replace(good, `"id":"p1"`, `"id":"p1","names":[{"value":"A\u0000B"}]`, 1),
		"lone surrogate":      strings.Replace(good, `"id":"p1"`, `"id":"p1","names":[{"value":"A\ud800B"}]`, 1),
	}
	for name, body := range variants {
		if body == good {
			t.Fatalf("%s: the tester could not build the variant", name)
		}
		c := t.claims(federation.KindCaseCreate, []byte(good))
		p := claimsJSON(c, "body", json.RawMessage(body))
		if _, err := shouldRefuse(t.post(t, t.withPayload(p)), "schema_invalid"); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkExamplesAccepted checks that every schema v1 example document, adapted
// to the tester, is accepted.
func checkExamplesAccepted(t *T) {
	for _, ex := range schema.Examples() {
		id := newCaseID(MemberTester)
		var kind federation.Kind
		var doc []byte
		switch ex.Kind {
		case schema.KindCase:
			kind = federation.KindCaseCreate
			var m map[string]any
			_ = json.Unmarshal(ex.Doc, &m)
			origin, _ := m["origin"].(map[string]any)
			origin["member"] = MemberTester
			doc = setMembers(ex.Doc, map[string]any{"case_id": id, "origin": origin})
		case schema.KindResponse:
			kind = federation.KindCaseResponse
			doc = setMembers(ex.Doc, map[string]any{"case_id": newCaseID(t.candidate), "responder": MemberTester})
		case schema.KindMessage:
			kind = federation.KindMessageDeliver
			doc = setMembers(ex.Doc, map[string]any{"case_id": id})
		case schema.KindWithdrawal:
			kind = federation.KindCaseWithdraw
			doc = setMembers(ex.Doc, map[string]any{"case_id": id})
		default:
			continue
		}
		if !t.accepts(kind) {
			continue
		}
		raw, c := t.envelope(kind, doc)
		if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
			t.Errorf("example %s as %s: %v", ex.Name, kind, err)
		}
	}
}

// checkMaxBodyAccepted checks that a body of exactly MAX_BODY bytes is not
// refused with too_large.
func checkMaxBodyAccepted(t *T) {
	body := []byte(strings.Repeat("a", int(t.maxBody)))
	ans := t.post(t, body)
	if ans.Status == http.StatusRequestEntityTooLarge {
		t.Errorf("a body of %d bytes (MAX_BODY) got %s", t.maxBody, ans)
	}
}

// checkTooLarge checks that MAX_BODY+1 bytes get 413 too_large (with
// Content-Length and chunked), and a 100 MiB Content-Length is refused within
// 10 s.
func checkTooLarge(t *T) {
	body := []byte(strings.Repeat("a", int(t.maxBody)+1))
	if _, err := shouldRefuse(t.post(t, body), "too_large"); err != nil {
		t.Errorf("Content-Length MAX_BODY+1: %v", err)
	}
	status, err := t.rawPost(len(body), body, true, 30*time.Second)
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked MAX_BODY+1: status %d, %v", status, err)
	}
	status, err = t.rawPost(100<<20, make([]byte, 64<<10), false, 10*time.Second)
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Errorf("Content-Length 100 MiB with 64 KiB sent: want 413 within 10 s, got status %d, %v", status, err)
	}
}

// skewMargin is how far inside and outside the advertised SKEW the clock
// skew probes are: more than the tester's error on the candidate's clock
// (the Date header has whole seconds), small enough that a node applying
// a wider tolerance than it advertises is caught.
const skewMargin = 5 * time.Second

// checkClockSkew checks that iat and exp 5 s inside the advertised SKEW are
// accepted and 5 s outside it refused: the edge of the tolerance, from both
// sides (SPEC.md §13.3: every limit is probed just inside and just outside).
func checkClockSkew(t *T) {
	now := t.now()
	in, out := t.skew-skewMargin, t.skew+skewMargin
	c := t.valid()
	c.Iat, c.Exp = now.Add(in).Unix(), now.Add(time.Hour).Unix()
	raw := t.sign(c, keyTester)
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("iat now+SKEW-%s: %v", skewMargin, err)
	}
	c = t.valid()
	c.Iat, c.Exp = now.Add(-time.Hour).Unix(), now.Add(-in).Unix()
	raw = t.sign(c, keyTester)
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("exp now-SKEW+%s: %v", skewMargin, err)
	}
	c = t.valid()
	c.Iat, c.Exp = now.Add(out).Unix(), now.Add(2*time.Hour).Unix()
	if _, err := shouldRefuse(t.post(t, t.sign(c, keyTester)), "not_yet_valid"); err != nil {
		t.Errorf("iat now+SKEW+%s (SKEW %s as advertised): %v", skewMargin, t.skew, err)
	}
	c = t.valid()
	c.Iat, c.Exp = now.Add(-time.Hour).Unix(), now.Add(-out).Unix()
	if _, err := shouldRefuse(t.post(t, t.sign(c, keyTester)), "expired"); err != nil {
		t.Errorf("exp now-SKEW-%s (SKEW %s as advertised): %v", skewMargin, t.skew, err)
	}
}

// rawPost writes a POST by hand on a fresh mTLS connection: a
// Content-Length of declared (or chunked encoding), then body, and returns
// the status line's code read within timeout.
func (t *T) rawPost(declared int, body []byte, chunked bool, timeout time.Duration) (int, error) {
	cfg := t.client(certTester).Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", t.target.Host, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	hdr := fmt.Sprintf("POST /flx/v1/envelopes HTTP/1.1\r\nHost: %s\r\nContent-Type: application/jose\r\n", t.target.Host)
	if chunked {
		hdr += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		hdr += fmt.Sprintf("Content-Length: %d\r\n\r\n", declared)
	}
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(conn)
		w.WriteString(hdr)
		if chunked {
			for off := 0; off < len(body); off += 32 << 10 {
				end := min(off+32<<10, len(body))
				fmt.Fprintf(w, "%x\r\n", end-off)
				w.Write(body[off:end])
				w.WriteString("\r\n")
			}
			w.WriteString("0\r\n\r\n")
		} else {
			w.Write(body)
		}
		errc <- w.Flush()
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
