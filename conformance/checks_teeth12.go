package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/mtls"
)

// Checks of requirements the suite left unchecked until issue 12's last
// round: a media reference's uri (FLX-MED-002), a replay record kept past
// exp (FLX-DLV-012), slow headers (FLX-LIM-004), private keys never
// exposed (FLX-KEY-010), a pull-only candidate pulling again
// (FLX-PUL-008), queued envelopes cancelled by a withdrawal (FLX-WDR-003),
// a changed audit head witnessed again (FLX-WIT-001) and statistics
// counting only the member's own cases (FLX-STA-005).

// checkMediaURIRefused checks the half of FLX-MED-002 a peer sees: a
// message whose media reference has a uri that is not an https URL
// without user information (file, http, javascript, data, user and
// password, user alone) is refused with schema_invalid, each the only
// fault of an otherwise valid message; the same message with an https
// uri is accepted (the edge).
func checkMediaURIRefused(t *T) {
	if !t.accepts(federation.KindMessageDeliver) {
		t.Skipf("the candidate does not accept message.deliver")
	}
	withURI := func(uri string) ([]byte, Claims) {
		doc := example("message.video_message")
		var m map[string]json.RawMessage
		_ = json.Unmarshal(doc, &m)
		var media map[string]any
		_ = json.Unmarshal(m["media"], &media)
		media["uri"] = uri
		return t.envelope(federation.KindMessageDeliver, setMembers(doc, map[string]any{"case_id": newCaseID(MemberTester), "media": media}))
	}
	raw, c := withURI("https://media.xd-tester.flx.invalid/video/conf.mp4")
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
		t.Errorf("a media uri https://media.xd-tester.flx.invalid/video/conf.mp4: %v", err)
	}
	for _, uri := range []string{
		"file:///etc/passwd",
		"http://media.xd-tester.flx.invalid/video/conf.mp4",
		"https://user:secret@media.xd-tester.flx.invalid/video/conf.mp4",
		"https://user@media.xd-tester.flx.invalid/video/conf.mp4",
		"javascript:alert(1)",
		"data:video/mp4;base64,AAAA",
	} {
		raw, _ := withURI(uri)
		if _, err := shouldRefuse(t.post(t, raw), "schema_invalid"); err != nil {
			t.Errorf("a media uri %s: %v", uri, err)
		}
	}
}

// checkDuplicatePastExp checks FLX-DLV-012 at its edge: an envelope whose
// exp has just passed is still acceptable within SKEW, so its replay
// record must still be there. An envelope valid for 3 s more is accepted;
// sent again 2 s after its exp (well inside SKEW) it is a duplicate, not
// accepted anew: a receiver that forgets records at exp stores it twice.
func checkDuplicatePastExp(t *T) {
	c := t.valid()
	now := t.now()
	c.Iat, c.Exp = now.Add(-time.Minute).Unix(), now.Add(3*time.Second).Unix()
	raw := t.sign(c, keyTester)
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	// exp on the candidate's clock, 2 s later, on ours.
	time.Sleep(time.Until(time.Unix(c.Exp, 0).Add(-t.clockOffset).Add(2 * time.Second)))
	if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptDuplicate); err != nil {
		t.Errorf("the same envelope sent again 2 s after its exp (SKEW %s): %v", t.skew, err)
	}
}

// slowHeadersBound is how long a request's headers may take before the
// candidate gives up on them (FLX-LIM-004's example, 30 s), and the
// tester's margin on top.
const slowHeadersBound = 30*time.Second + 5*time.Second

// checkSlowHeadersBounded checks the half of FLX-LIM-004 a single peer can
// see: a request whose headers never end is given up (the connection
// closed, or answered 408) within 30 s, and not held open.
func checkSlowHeadersBounded(t *T) {
	cfg := mtls.ClientConfig(t.id.Certs[certTester], t.dir, t.candidate)
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", t.target.Host, cfg)
	if err != nil {
		t.Abortf("TLS handshake with the candidate: %v", err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/jose\r\n", federation.EnvelopesPath, t.target.Host); err != nil {
		t.Abortf("writing the first headers: %v", err)
	}
	_ = conn.SetReadDeadline(start.Add(slowHeadersBound))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	var ne net.Error
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		t.Errorf("a request whose headers never end was still open %s later (want it given up within 30 s)", slowHeadersBound)
	case n > 0 && !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 4"):
		t.Errorf("a request whose headers never end got %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	default:
		t.Logf("given up after %s", time.Since(start).Round(100*time.Millisecond))
	}
}

// candidateSecrets returns the candidate's private key material as its
// files in the conformance directory hold it (init wrote them), in the
// forms an answer could leak them in, with the file each comes from; and
// the files themselves. ok is false when the directory holds no candidate
// data (a candidate set up by other means).
func (t *T) candidateSecrets() (secrets map[string]string, files []string, ok bool) {
	secrets = map[string]string{}
	for _, rel := range []string{candidateSigning, candidateBundle} {
		p := filepath.Join(t.id.Dir, filepath.FromSlash(rel))
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		files = append(files, p)
		var jwk struct {
			D string `json:"d"`
		}
		if json.Unmarshal(b, &jwk) != nil || len(jwk.D) < 16 {
			continue
		}
		secrets[jwk.D] = rel
		if raw, err := base64.RawURLEncoding.DecodeString(jwk.D); err == nil {
			secrets[base64.StdEncoding.EncodeToString(raw)] = rel
			secrets[base64.RawStdEncoding.EncodeToString(raw)] = rel
			secrets[hex.EncodeToString(raw)] = rel
		}
	}
	p := filepath.Join(t.id.Dir, filepath.FromSlash(candidateKey))
	if b, err := os.ReadFile(p); err == nil {
		files = append(files, p)
		if blk, _ := pem.Decode(b); blk != nil {
			// The PEM text (its lines past the first, which holds the
			// common prefix), the DER in one line, and the private scalar
			// or seed alone.
			for _, line := range strings.Split(string(b), "\n")[2:] {
				if len(line) >= 40 && !strings.HasPrefix(line, "-----") {
					secrets[line] = candidateKey
				}
			}
			secrets[base64.StdEncoding.EncodeToString(blk.Bytes)] = candidateKey
			var raw []byte
			switch k, _ := x509.ParsePKCS8PrivateKey(blk.Bytes); k := k.(type) {
			case *ecdsa.PrivateKey:
				raw = k.D.FillBytes(make([]byte, (k.Curve.Params().BitSize+7)/8))
			case ed25519.PrivateKey:
				raw = k.Seed()
			}
			if raw != nil {
				secrets[base64.RawURLEncoding.EncodeToString(raw)] = candidateKey
				secrets[base64.StdEncoding.EncodeToString(raw)] = candidateKey
				secrets[hex.EncodeToString(raw)] = candidateKey
			}
		}
	}
	return secrets, files, len(files) > 0
}

// checkPrivateKeysNotExposed checks FLX-KEY-010 as far as a tester holding
// the conformance directory can: the candidate's private key files there
// (its signing, bundle and TLS keys) are readable by their owner only,
// and no answer of the candidate (metadata, a refusal, a receipt, a 404,
// and the trigger calls' answers), headers included, holds their private
// material in any common encoding.
func checkPrivateKeysNotExposed(t *T) {
	secrets, files, ok := t.candidateSecrets()
	if !ok {
		t.Skipf("the conformance directory holds no candidate key files (the candidate was not set up by init)")
	}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %04o: want it readable by the node's account only", f, fi.Mode().Perm())
		}
	}
	var answers []struct {
		what string
		ans  *Answer
	}
	add := func(what string, ans *Answer, err error) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		answers = append(answers, struct {
			what string
			ans  *Answer
		}{what, ans})
	}
	ans, err := t.request(certTester, "GET", "/.well-known/flx", nil, "")
	add("GET /.well-known/flx", ans, err)
	ans, err = t.request(certTester, "GET", "/flx/v1/no-such-resource", nil, "")
	add("GET of an undefined path", ans, err)
	ans, err = t.request(certTester, "POST", federation.EnvelopesPath, []byte("not.a.jws"), "application/jose")
	add("a malformed envelope", ans, err)
	raw, _ := t.validCase()
	ans, err = t.request(certTester, "POST", federation.EnvelopesPath, raw, "application/jose")
	add("a valid envelope", ans, err)
	if t.trigger != nil {
		id := newCaseID(t.candidate)
		ans, err = t.trigger.createCase(outboundCase(t.candidate, id))
		add("the create-case trigger call", ans, err)
		ans, err = t.trigger.call("GET", "/api/v1/cases/"+url.PathEscape(id), t.trigger.token, nil)
		add("GET /api/v1/cases/{id}", ans, err)
	}
	for _, a := range answers {
		var text strings.Builder
		for k, vs := range a.ans.Header {
			fmt.Fprintf(&text, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		text.Write(a.ans.Body)
		// The payload of a JWS answer (a receipt) too.
		if parts := strings.Split(string(a.ans.Body), "."); len(parts) == 3 {
			if p, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				text.Write(p)
			}
		}
		for s, from := range secrets {
			if strings.Contains(text.String(), s) {
				t.Errorf("the answer to %s holds the private key material of %s", a.what, from)
			}
		}
	}
}

// checkPullsAgain checks FLX-PUL-008 on a pull-only candidate: it pulls
// from the tester again within its declared pull interval (5 minutes when
// not declared) of its last pull; and while an answer says more, it pulls
// again at once: three envelopes handed out one per pull, each answer
// saying more until the last, are all pulled within 1.75 intervals (a
// candidate that waits its interval between pulls takes two).
func checkPullsAgain(t *T) {
	if !t.id.Candidate().PullOnly {
		t.Skipf("the candidate is not pull_only (conformance init --pull-only)")
	}
	every := t.id.Settings.PullInterval()
	since := time.Now()
	after := func(from time.Time, within time.Duration) (time.Time, bool) {
		deadline := time.Now().Add(within)
		for {
			for _, p := range t.listener.Pulls() {
				if p.After(from) {
					return p, true
				}
			}
			if time.Now().After(deadline) {
				return time.Time{}, false
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first, ok := after(since, every+t.patience)
	if !ok {
		t.Fatalf("the candidate did not pull from the tester within %s (its declared pull interval and the patience)", every+t.patience)
	}
	if _, ok := after(first, every+5*time.Second); !ok {
		t.Errorf("no pull followed the one at %s within %s (the declared pull interval %s, and 5 s)", first.Format(time.TimeOnly), every+5*time.Second, every)
	}

	var envs [][]byte
	for range 3 {
		raw, _ := t.validCase()
		envs = append(envs, raw)
	}
	ps := t.listener.servePullEach(envs, 30*time.Second, 0, 1)
	defer t.listener.ServePull(nil, time.Second, 0)
	deadline := time.Now().Add(2*every + t.patience)
	for !ps.doneExcept("") && time.Now().Before(deadline) {
		select {
		case <-ps.changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
	handed := ps.handedAt()
	if len(handed) < 3 {
		t.Fatalf("within %s the candidate pulled %d of three envelopes handed out one per pull", 2*every+t.patience, len(handed))
	}
	if span := handed[2].Sub(handed[0]); span >= every*7/4 {
		t.Errorf("three envelopes handed out one per pull, each answer saying more, took %s to pull (want at once again: under %s, 1.75 declared intervals)",
			span.Round(10*time.Millisecond), every*7/4)
	}
}

// cancelRest is how long the tester's first answer to the candidate's
// match.answer makes the candidate's destination rest (Retry-After), so
// that the answer is still queued when the case is withdrawn.
const cancelRest = 6 * time.Second

// checkErasureCancelsOutbound checks the part of FLX-WDR-003 a peer sees:
// an envelope the candidate queued about a case — its match.answer to the
// origin's match.query, refused once with 503 and Retry-After so that it
// waits for a retry — is cancelled when the origin withdraws the case: it
// is never sent after the withdrawal's 202, while the confirmation is.
func checkErasureCancelsOutbound(t *T) {
	id := newCaseID(MemberTester)
	isAnswer := func(a *Arrival) bool { return a.CaseID == id && a.Kind == string(federation.KindMatchAnswer) }
	t.listener.Script(id, func(a *Arrival) Action {
		if isAnswer(a) && a.Attempt == 1 {
			return Action{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: strconv.Itoa(int(cancelRest / time.Second))}
		}
		return Action{}
	})
	defer t.listener.Script(id, nil)
	raw, c := t.envelope(federation.KindMatchQuery, queryDoc(id, encodingDoc(time.Now().Add(time.Hour))))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	got := t.listener.Wait(isAnswer, 1, t.patience)
	if len(got) == 0 {
		t.Fatalf("no match.answer to query %s arrived within %s", c.JTI, t.patience)
	}
	// Once the 503 is answered and taken in, the answer waits for its retry.
	for deadline := time.Now().Add(5 * time.Second); got[0].AnsweredAt.IsZero() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		got = t.listener.Arrivals(isAnswer)
	}
	time.Sleep(time.Second)
	wraw, wc := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(id))
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	withdrawn := time.Now()
	conf := t.listener.Wait(func(a *Arrival) bool { return a.CaseID == id && a.Kind == string(federation.KindCaseWithdraw) }, 1, t.patience+cancelRest)
	if len(conf) == 0 {
		t.Errorf("the withdrawal was not confirmed within %s", t.patience+cancelRest)
	}
	time.Sleep(time.Until(withdrawn.Add(cancelRest + t.quiet)))
	for _, a := range t.listener.Arrivals(isAnswer) {
		if a.At.After(withdrawn) {
			t.Errorf("the match.answer about the case, queued for a retry, was sent %s after the withdrawal was accepted: it must be cancelled with the erasure",
				a.At.Sub(withdrawn).Round(100*time.Millisecond))
			break
		}
	}
}

// checkAuditHeadResent checks the other half of FLX-WIT-001 a witness
// sees: once the candidate's audit log changed (a trigger call, which it
// audits), a new audit.head with more entries and another head arrives
// within the candidate's declared interval and the patience. It needs a
// candidate naming XD-TESTER as its witness (init --witness) that declares
// its interval (settings candidate_audit_head_seconds, at most 5 minutes).
func checkAuditHeadResent(t *T) {
	if m, ok := t.id.Manifest.Member(MemberTester); !ok || !m.AcceptsKind(federation.KindAuditHead) {
		t.Skipf("the manifest does not list audit.head for %s: set the candidate up with conformance init --witness", MemberTester)
	}
	every := time.Duration(t.id.Settings.CandidateAuditHeadSeconds) * time.Second
	if every <= 0 || every > 5*time.Minute {
		t.Skipf("the candidate declares no audit head interval of at most 5 minutes (settings candidate_audit_head_seconds: %d)", t.id.Settings.CandidateAuditHeadSeconds)
	}
	isHead := func(a *Arrival) bool {
		return a.Peer == t.candidate && a.Kind == string(federation.KindAuditHead) && a.Env != nil
	}
	heads := t.listener.Wait(isHead, 1, t.patience)
	if len(heads) == 0 {
		t.Fatalf("no audit.head arrived from the candidate within %s (it names %s as its witness)", t.patience, MemberTester)
	}
	// The newest head so far (others may be on their way).
	latest := func() (federation.AuditHead, int) {
		var best federation.AuditHead
		all := t.listener.Arrivals(isHead)
		for _, a := range all {
			if h, err := federation.ParseAuditHead(a.Env.Body); err == nil && h.Count >= best.Count {
				best = h
			}
		}
		return best, len(all)
	}
	before, _ := latest()
	id := newCaseID(t.candidate)
	if ans, err := t.trigger.createCase(outboundCase(t.candidate, id)); err != nil || ans.Status != http.StatusCreated {
		t.Abortf("trigger: create case: %v %s", err, ans)
	}
	changed := time.Now()
	deadline := changed.Add(every + t.patience)
	for {
		h, _ := latest()
		if h.Count > before.Count && h.Head != before.Head {
			t.Logf("head of %d entries, then of %d, %s after the change", before.Count, h.Count, time.Since(changed).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the candidate's audit log changed (a case created), no new audit.head (more than %d entries) arrived within %s (its declared interval %s and the patience)",
				before.Count, every+t.patience, every)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// receivedForStats is how many tracing requests of its own the tester
// sends the candidate in the month of checkStatsOwnCasesOnly: with the
// candidate's own two, more than any threshold the check can expect.
const receivedForStats = 10

// checkStatsOwnCasesOnly checks FLX-STA-005 where a count's definition
// decides whether reports add up: tracing_opened counts the tracing
// requests the member originated, in the month of their origin.created_at.
// The candidate creates two of a past month (below any threshold), and
// receives ten of the same month from the tester; its report of the month
// must still publish null: counting the received ones would count them a
// second time beside the tester's own report.
//
// The candidate may have reported the month before (with 0: a report of
// every month since its first record, sent for an earlier check), and a
// report queued before the check's cases may still be on its way: the
// month's revisions arrive in order, each receipted end to end (those that
// arrived before too: the candidate sends the next only then), and the
// check takes the first that publishes null. One that does not is the
// answer only when no higher revision follows it within the patience.
func checkStatsOwnCasesOnly(t *T) {
	now := t.now().UTC()
	// Months 6 to 9 back: FLX-STA-002/protected uses 2 to 5.
	month := time.Date(now.Year(), now.Month(), 10, 12, 0, 0, 0, time.UTC).AddDate(0, -6-rand.IntN(4), 0)
	period := month.Format("2006-01")
	before := t.reportedBefore(period)
	t.createDated(2, month)
	for range receivedForStats {
		id := newCaseID(MemberTester)
		var doc map[string]any
		_ = json.Unmarshal(caseDoc(id, MemberTester), &doc)
		doc["origin"].(map[string]any)["created_at"] = month.Format(time.RFC3339)
		b, _ := json.Marshal(doc)
		raw, c := t.envelope(federation.KindCaseCreate, b)
		t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	}
	t.sendStats()
	rep := t.waitReport(period, before)
	for rep.Counts["tracing_opened"] != nil {
		if _, higher := t.reportOf(period, rep.Revision); len(t.listener.Wait(higher, 1, t.patience)) == 0 {
			break
		}
		rep = t.waitReport(period, rep.Revision)
	}
	if v := rep.Counts["tracing_opened"]; v != nil {
		t.Errorf("tracing_opened of %s is %d after 2 tracing requests of its own (threshold %d) and %d received from %s: want null, counting only the member's own",
			period, *v, rep.Threshold, receivedForStats, MemberTester)
	}
}
