package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// triggerClient makes the candidate send through the calls of SPEC.md §12.
type triggerClient struct {
	base  string
	token string
	hc    *http.Client
}

func (c *triggerClient) call(method, path, token string, body any) (*Answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doAnswer(c.hc, req)
}

func (c *triggerClient) createCase(doc json.RawMessage) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases", c.token, doc)
}

// updateCase is the optional call of SPEC.md §12: the next version of a case.
func (c *triggerClient) updateCase(caseID string, doc json.RawMessage) (*Answer, error) {
	return c.call(http.MethodPut, "/api/v1/cases/"+url.PathEscape(caseID), c.token, doc)
}

func (c *triggerClient) forward(caseID, to string) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/forward", c.token, map[string]string{"to": to})
}

// matchQuery is the optional call of SPEC.md §12: ask member to whether it
// holds a likely match of one person of a case (FLX-MAT-006).
func (c *triggerClient) matchQuery(caseID, personID, to string) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/match-query", c.token, map[string]string{"to": to, "person_id": personID})
}

func (c *triggerClient) withdraw(caseID, reason string) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/withdraw", c.token, map[string]string{"reason": reason})
}

// outboundCase is a case the candidate originates, whose consent and legal
// basis cover transfers to the tester's members (SPEC.md §12).
func outboundCase(candidate, caseID string) json.RawMessage {
	return outboundCaseVersion(candidate, caseID, 1)
}

// outboundCaseVersion is outboundCase at the given version.
func outboundCaseVersion(candidate, caseID string, version int) json.RawMessage {
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	doc := map[string]any{
		"schema": "flx/v1/case", "case_id": caseID, "version": version, "type": "tracing_request", "status": "open",
		"origin":  map[string]any{"member": candidate, "created_at": now},
		"purpose": "tracing",
		"legal_basis": map[string]any{"type": "consent", "justification": "The enquirer consented in writing to tracing and to transfers to the conformance tester.",
			"documented_by": "conformance tester", "documented_at": now},
		"consents": []any{map[string]any{
			"id": candidate + ":conf-consent", "given_by": "p1", "capacity": "self", "given_at": now, "form": "written",
			"scope": map[string]any{"uses": []string{"tracing", "transfer"}, "members": []string{MemberTester, MemberPeer, MemberRemote, MemberPull},
				"countries": []string{"XD"}, "roles": []string{"society"}, "non_movement": false},
		}},
		"persons": []any{
			map[string]any{"id": "p1", "roles": []string{"enquirer"}, "names": []any{map[string]any{"value": "Amira Testova", "part": "full"}}, "birth_date": "1970"},
			map[string]any{"id": "p2", "roles": []string{"sought_person"}, "names": []any{map[string]any{"value": "Karo Sampleyan", "part": "full"}}, "birth_date": "1968"},
		},
	}
	if version > 1 {
		// A later version changes something (a spelling learnt meanwhile):
		// a node may keep an update that changes nothing as no new version.
		p2 := doc["persons"].([]any)[1].(map[string]any)
		p2["names"] = append(p2["names"].([]any), map[string]any{"value": fmt.Sprintf("Karo Sampleian %d", version), "part": "full"})
	}
	b, _ := json.Marshal(doc)
	return b
}

// scenario is one outbound exchange run once per Run and shared by the
// checks that look at different aspects of it.
type scenario struct {
	done      chan struct{}
	err       error // the tester could not run it (reported as error)
	caseID    string
	created   *Answer
	forwarded *Answer
	withdrawn *Answer
	triggerAt time.Time
	arrivals  []*Arrival // of the case, in order
	quietFrom time.Time  // when the tester started watching for copies that must not come
	extra     []*Arrival // arrivals during the quiet period that must not have come
}

// outbound runs the named scenario once and returns it; checks that share
// it see the same exchange.
func (t *T) outbound(name string) *scenario {
	t.shared.mu.Lock()
	sc, ok := t.shared.scenarios[name]
	if !ok {
		sc = &scenario{done: make(chan struct{})}
		t.shared.scenarios[name] = sc
		t.shared.mu.Unlock()
		func() {
			defer close(sc.done)
			sc.err = t.runScenario(name, sc)
		}()
	} else {
		t.shared.mu.Unlock()
		<-sc.done
	}
	if sc.err != nil {
		t.Abortf("outbound scenario %s: %v", name, sc.err)
	}
	return sc
}

// retry503Failures is how many attempts the retry-503 scenario refuses: five
// gaps tell exponential growth from linear growth (the fifth is at least
// 8 s; a backoff growing by 1 s per failure waits at most 5 s).
const retry503Failures = 5

// scripts of the outbound scenarios: attempt number -> action.
var scenarioScripts = map[string]func(a *Arrival) Action{
	"retry-503": func(a *Arrival) Action {
		if a.Attempt <= retry503Failures {
			return Action{Status: http.StatusServiceUnavailable, Code: "unavailable"}
		}
		return Action{}
	},
	"drop": func(a *Arrival) Action {
		if a.Attempt <= 2 {
			return Action{Drop: true}
		}
		return Action{}
	},
	"bad-receipt": func(a *Arrival) Action {
		switch a.Attempt {
		case 1:
			return Action{Receipt: "bad-sha256"}
		case 2:
			return Action{Receipt: "empty"}
		}
		return Action{}
	},
	"dead-letter": func(a *Arrival) Action {
		return Action{Status: http.StatusUnprocessableEntity, Code: "schema_invalid"}
	},
	"withdraw": func(a *Arrival) Action { return Action{} },
}

// expected copies before a scenario's first quiet period.
var scenarioCopies = map[string]int{"retry-503": retry503Failures + 1, "drop": 3, "bad-receipt": 3, "dead-letter": 1, "withdraw": 1}

func (t *T) runScenario(name string, sc *scenario) error {
	sc.caseID = newCaseID(t.candidate)
	t.listener.Script(sc.caseID, scenarioScripts[name])
	ans, err := t.trigger.createCase(outboundCase(t.candidate, sc.caseID))
	if err != nil {
		return fmt.Errorf("create case: %v", err)
	}
	sc.created = ans
	if ans.Status/100 != 2 {
		return fmt.Errorf("create case refused: %s", ans)
	}
	sc.triggerAt = time.Now()
	if sc.forwarded, err = t.trigger.forward(sc.caseID, MemberTester); err != nil {
		return fmt.Errorf("forward: %v", err)
	}
	if sc.forwarded.Status/100 != 2 {
		return fmt.Errorf("forward refused (is the candidate's policy set to allow transfers to %s?): %s", MemberTester, sc.forwarded)
	}
	want := scenarioCopies[name]
	// The refused attempts of a scenario take up to 1 + 2 + ... + 2^(n-1)
	// s of backoff (FLX-DLV-004 allows twice its minimum): patience on top.
	backoff := time.Duration(1<<(want-1)) * time.Second
	got := t.listener.Wait(forCase(sc.caseID), want, t.patience+backoff)
	if len(got) < want {
		sc.arrivals = got
		return nil // the checks report what is missing
	}
	if name == "withdraw" {
		sc.withdrawn, err = t.trigger.withdraw(sc.caseID, "consent_withdrawn")
		if err != nil {
			return fmt.Errorf("withdraw: %v", err)
		}
		if sc.withdrawn.Status == http.StatusAccepted {
			t.listener.Wait(func(a *Arrival) bool { return a.CaseID == sc.caseID && a.Kind == "case.withdraw" }, 1, t.patience)
		}
	}
	sc.quietFrom = time.Now()
	time.Sleep(t.quiet)
	sc.arrivals = t.listener.Arrivals(forCase(sc.caseID))
	for _, a := range sc.arrivals {
		if a.At.After(sc.quietFrom) {
			sc.extra = append(sc.extra, a)
		}
	}
	return nil
}

// caseRecipients reads, with the optional call GET /api/v1/cases/{id} of
// SPEC.md §12, when each member first got an envelope of the case
// delivered (zero: not delivered yet). ok is false when the candidate does
// not offer the call.
func (c *triggerClient) caseRecipients(caseID string) (delivered map[string]time.Time, ok bool, err error) {
	ans, err := c.call(http.MethodGet, "/api/v1/cases/"+url.PathEscape(caseID), c.token, nil)
	if err != nil {
		return nil, false, err
	}
	switch {
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		return nil, false, nil
	case ans.Status != http.StatusOK:
		return nil, false, fmt.Errorf("GET /api/v1/cases/%s: %s", caseID, ans)
	}
	var v struct {
		Recipients []struct {
			Member           string     `json:"member"`
			FirstDeliveredAt *time.Time `json:"first_delivered_at"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(ans.Body, &v); err != nil || v.Recipients == nil {
		return nil, false, fmt.Errorf("GET /api/v1/cases/%s: want a JSON object with recipients, got %s", caseID, ans)
	}
	delivered = map[string]time.Time{}
	for _, r := range v.Recipients {
		if r.FirstDeliveredAt != nil {
			delivered[r.Member] = *r.FirstDeliveredAt
		} else if _, seen := delivered[r.Member]; !seen {
			delivered[r.Member] = time.Time{}
		}
	}
	return delivered, true, nil
}

// The optional media calls of SPEC.md §12: upload a recording to a case
// (declare it, then write its bytes), then send a message that attaches it.

// startMedia declares a recording of case caseID: POST
// /api/v1/cases/{id}/media.
func (c *triggerClient) startMedia(caseID, sum string, size int, mediaType string) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/media", c.token,
		map[string]any{"sha256": sum, "size_bytes": size, "media_type": mediaType})
}

// writeMedia writes p at off to the upload at path (the Location of
// startMedia's answer, on the local API).
func (c *triggerClient) writeMedia(path string, off int64, p []byte) (*Answer, error) {
	req, err := http.NewRequest(http.MethodPatch, c.base+path, bytes.NewReader(p))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	return doAnswer(c.hc, req)
}

// sendMessage sends a message document about caseID to member to: POST
// /api/v1/cases/{id}/messages.
func (c *triggerClient) sendMessage(caseID, to string, msg json.RawMessage) (*Answer, error) {
	return c.call(http.MethodPost, "/api/v1/cases/"+url.PathEscape(caseID)+"/messages", c.token,
		map[string]any{"to": to, "message": msg})
}
