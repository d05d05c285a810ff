package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleIsDefaults(t *testing.T) {
	got, err := Parse(Example())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LocalAPI.Tokens) != 0 {
		t.Fatalf("example has tokens: %v", got.LocalAPI.Tokens)
	}
	got.LocalAPI.Tokens = nil
	want := Defaults()
	want.Member = "XA-RC"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("example.yaml differs from Defaults():\n got %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "member: XA-RC\nmemebr: x\n", "line 2"},
		{"bad duration", "delivery:\n  lease: soon\n", "line 2"},
		{"not yaml", "member: [\n", "yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Fatal("empty file should give defaults")
	}
}

func TestVerifyCollectsEveryProblem(t *testing.T) {
	c := Defaults()
	c.Member = "xa rc"
	c.Federation.Listen = "nope"
	c.Delivery.Workers = 0
	c.Delivery.Lease = time.Second
	c.Log.Level = "loud"
	c.LocalAPI.Tokens = []Token{{Name: "a", Role: "root", SHA256: "zz"}}
	c.LocalAPI.TLSCert = "local.pem" // without its key
	c.Federation.HeaderTimeout = 0   // no bound on silent clients
	c.LocalAPI.IdleTimeout = 2 * time.Hour
	c.Federation.MaxConnections = 100
	c.Federation.MaxConnectionsPerSource = 101 // above the total
	c.LocalAPI.MaxConnections = -1
	c.Resolve("/tmp")
	err := c.Verify()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"member", "federation.listen", "delivery.workers", "delivery.lease", "log.level", "tokens[0].role", "tokens[0].sha256", "local_api.tls_cert/tls_key",
		"federation.header_timeout", "local_api.idle_timeout", "federation.max_connections_per_source", "local_api.max_connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify error does not mention %s:\n%v", want, err)
		}
	}
	good := Defaults()
	good.Member = "XA-RC"
	good.Resolve("/tmp")
	if err := good.Verify(); err != nil {
		t.Fatalf("defaults with a member should verify: %v", err)
	}
}

// TestConnectionBoundsVerify: max_connections is 0 (automatic) or a
// number of connections; max_connections_per_source is at least 1 and at
// most max_connections.
func TestConnectionBoundsVerify(t *testing.T) {
	for _, tc := range []struct {
		total, perSource, local int
		bad                     string // field named in the error; "" valid
	}{
		{0, 256, 0, ""},
		{10, 10, 1, ""},
		{0, 100000, 0, ""}, // automatic total: per source is capped to it
		{-1, 256, 0, "federation.max_connections"},
		{0, 0, 0, "federation.max_connections_per_source"},
		{0, -5, 0, "federation.max_connections_per_source"},
		{10, 11, 0, "federation.max_connections_per_source"},
		{0, 256, -1, "local_api.max_connections"},
	} {
		c := Defaults()
		c.Member = "XA-RC"
		c.Federation.MaxConnections, c.Federation.MaxConnectionsPerSource, c.LocalAPI.MaxConnections = tc.total, tc.perSource, tc.local
		c.Resolve("/tmp")
		err := c.Verify()
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), "config: "+tc.bad+":")):
			t.Errorf("%+v: error %v, want one on %s", tc, err, tc.bad)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"FLX_MEMBER":                      "XB-RC",
		"FLX_DELIVERY_WORKERS":            "7",
		"FLX_DELIVERY_LEASE":              "5m",
		"FLX_STORE_DSN":                   "postgres://db/flx?sslmode=disable",
		"FLX_FEDERATION_APPLY_ON_RECEIVE": "false",
	}
	c := Defaults()
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if c.Member != "XB-RC" || c.Delivery.Workers != 7 || c.Delivery.Lease != 5*time.Minute || c.Store.DSN != env["FLX_STORE_DSN"] || c.Federation.ApplyOnReceive {
		t.Fatalf("overrides not applied: %+v", c)
	}
	err := c.ApplyEnv(func(k string) (string, bool) {
		if k == "FLX_DELIVERY_WORKERS" {
			return "many", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "FLX_DELIVERY_WORKERS") {
		t.Fatalf("bad env value error = %v", err)
	}
}

func TestResolve(t *testing.T) {
	c := Defaults()
	c.Resolve("/etc/flx")
	if c.DataDir != "/etc/flx/data" || c.Federation.SigningKey != "/etc/flx/data/keys/signing.jwk" || c.Store.DSN != "sqlite:/etc/flx/data/flx.db" {
		t.Fatalf("resolve: %+v", c)
	}
	c = Defaults()
	c.Federation.Manifest = "https://anchor.example/manifest.jws"
	c.Resolve("/x")
	if c.Federation.Manifest != "https://anchor.example/manifest.jws" {
		t.Fatal("URLs must not be joined to paths")
	}
}
