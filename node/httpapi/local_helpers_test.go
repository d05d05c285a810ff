package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/familylinks/flx/node/config"
	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/schema"
)

// Test tokens, one per role. The config holds only their SHA-256.
const (
	tokCaseworker = "cw-3f9a1c0e-test-token"
	tokOperator   = "op-77d2b5aa-test-token"
	tokAuditor    = "au-0c1e9d42-test-token"
	tokAdmin      = "ad-5b8e2f17-test-token"
	tokUnknown    = "nobody-has-this-token"
)

var roleTokens = map[string]string{
	httpapi.RoleCaseworker: tokCaseworker,
	httpapi.RoleOperator:   tokOperator,
	httpapi.RoleAuditor:    tokAuditor,
}

func sum(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func testTokens() []config.Token {
	return []config.Token{
		{Name: "cw-anna", Role: httpapi.RoleCaseworker, SHA256: sum(tokCaseworker)},
		{Name: "op-ben", Role: httpapi.RoleOperator, SHA256: sum(tokOperator)},
		{Name: "au-chloe", Role: httpapi.RoleAuditor, SHA256: sum(tokAuditor)},
		{Name: "ad-dora", Role: httpapi.RoleAdmin, SHA256: sum(tokAdmin)},
	}
}

// localNode is a real node with its local API served over real HTTP.
type localNode struct {
	*nodetest.Node
	api  *client
	logs *nodetest.SyncBuffer
}

var metricsStub = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	io.WriteString(w, "# TYPE flx_test_up gauge\nflx_test_up 1\n")
})

func startLocal(t *testing.T, f *fedtest.Federation, id string, ln net.Listener, o nodetest.Options) *localNode {
	t.Helper()
	tn := nodetest.Start(t, f, id, ln, o)
	logs := &nodetest.SyncBuffer{}
	h := httpapi.LocalHandler(tn.Node, testTokens(), metricsStub, slog.New(slog.NewJSONHandler(logs, nil)))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &localNode{Node: tn, api: &client{t: t, base: srv.URL, c: srv.Client()}, logs: logs}
}

// newFederation creates XA-RC, XB-RC and XC-RC (countries XA, XB, XC).
// Members in run get a loopback listener; the others an endpoint that
// refuses connections, so deliveries to them fail fast.
func newFederation(t *testing.T, run ...string) (*fedtest.Federation, map[string]net.Listener) {
	t.Helper()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	lns := map[string]net.Listener{}
	for id, m := range f.Members {
		m.Endpoint = "https://127.0.0.1:1"
		for _, r := range run {
			if r == id {
				lns[id] = nodetest.Listen(t, m)
			}
		}
	}
	f.Sign(t)
	return f, lns
}

// client calls a local API.
type client struct {
	t    testing.TB
	base string
	c    *http.Client
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request. body may be nil (none), []byte or string (sent as
// is, Content-Type application/json) or anything else (JSON-encoded).
// hdr are extra header name/value pairs; a Content-Type there wins.
func (c *client) do(method, path, token string, body any, hdr ...string) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) reply {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (r reply) String() string {
	return http.StatusText(r.Status) + " " + string(r.Body)
}

// decode unmarshals the body into v.
func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// problemDoc is what tests read of a problem document.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Pointer string `json:"pointer"`
		Message string `json:"message"`
	} `json:"errors"`
	Decision *struct {
		Effect string `json:"effect"`
		Fired  []struct {
			RuleID string `json:"rule_id"`
			Reason string `json:"reason"`
		} `json:"fired"`
	} `json:"decision"`
}

// expect checks the status, the content type and the body against the
// OpenAPI component schema named (none when empty), and returns the reply.
func expect(t testing.TB, r reply, status int, schemaName string) reply {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if schemaName == "" {
		return r
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	want := "application/json"
	if schemaName == "Problem" {
		want = "application/problem+json"
	}
	if mt != want {
		t.Fatalf("Content-Type %q, want %s", r.Header.Get("Content-Type"), want)
	}
	validate(t, schemaName, r.Body)
	return r
}

// expectProblem checks a problem answer with its code, and returns it.
func expectProblem(t testing.TB, r reply, status int, code string) problemDoc {
	t.Helper()
	expect(t, r, status, "Problem")
	var p problemDoc
	r.decode(t, &p)
	if p.Code != code || p.Status != status || p.Type != "urn:flx:problem:"+code || p.Title == "" {
		t.Fatalf("problem %+v, want code %s status %d", p, code, status)
	}
	return p
}

var (
	schemasOnce sync.Once
	schemasC    *jsonschema.Compiler
	schemasErr  error
)

// validate checks a JSON body against components/schemas/<name> of the
// served OpenAPI document (OpenAPI 3.1 schemas are JSON Schema 2020-12).
func validate(t testing.TB, name string, body []byte) {
	t.Helper()
	schemasOnce.Do(func() {
		var doc struct {
			Components struct {
				Schemas json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if schemasErr = json.Unmarshal(httpapi.OpenAPI(), &doc); schemasErr != nil {
			return
		}
		defs := strings.ReplaceAll(string(doc.Components.Schemas), "#/components/schemas/", "#/$defs/")
		root := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": ` + defs + `}`
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(root))
		if err != nil {
			schemasErr = err
			return
		}
		schemasC = jsonschema.NewCompiler()
		schemasC.AssertFormat()
		schemasErr = schemasC.AddResource("https://flx.invalid/openapi-schemas.json", v)
	})
	if schemasErr != nil {
		t.Fatalf("openapi schemas: %v", schemasErr)
	}
	sch, err := schemasC.Compile("https://flx.invalid/openapi-schemas.json#/$defs/" + name)
	if err != nil {
		t.Fatalf("compile schema %s: %v", name, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("body does not match the OpenAPI schema %s: %v\n%s", name, err, body)
	}
}

// caseDoc returns the tracing-request example (XA-RC:TR-2024-0117,
// version 3) after edit.
func caseDoc(t testing.TB, edit func(m map[string]any)) []byte {
	t.Helper()
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("no example case.tracing_request")
	}
	var m map[string]any
	if err := json.Unmarshal(ex.Doc, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withID sets the case id (origin XA-RC) of a case document.
func withID(local string) func(m map[string]any) {
	return func(m map[string]any) { m["case_id"] = "XA-RC:" + local }
}

// waitFor polls cond for up to 20 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	nodetest.WaitFor(t, 20*time.Second, what, cond)
}
