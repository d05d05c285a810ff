package federation

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/jose"
)

// member returns a pointer into f.spec's members.
func (f *fixture) member(id string) *Member {
	for i := range f.spec.Members {
		if f.spec.Members[i].ID == id {
			return &f.spec.Members[i]
		}
	}
	panic("no member " + id)
}

// resign signs f.spec again and verifies it, as a federation would publish it.
func (f *fixture) resign(t *testing.T) (*Manifest, error) {
	t.Helper()
	f.spec.Version++
	raw, err := SignManifest(f.spec, f.anchor)
	if err != nil {
		return nil, err
	}
	return VerifyManifest(raw, f.anchor.Public(), f.now, nil)
}

// TestCoordinationFieldsAreAdditive: a manifest that uses none of the new
// member fields encodes exactly as before they existed, and one that uses
// them round-trips through signing and strict verification.
func TestCoordinationFieldsAreAdditive(t *testing.T) {
	f := newFixture(t)
	plain := string(wireJSON(t, f.spec))
	for _, name := range []string{"relay_via", "pull_only", "enc_jwks"} {
		if strings.Contains(plain, `"`+name+`"`) {
			t.Errorf("a manifest without coordination fields encodes %q", name)
		}
	}
	if strings.Count(plain, `"endpoint":`) != len(f.spec.Members) {
		t.Error("every member with an endpoint still encodes it")
	}

	enc := must(jose.GenerateEncKey(jose.X25519))
	encP := must(jose.GenerateEncKey(jose.P256))
	xb := f.member("XB-RC")
	xb.PullOnly, xb.Endpoint, xb.RelayVia = true, "", []string{"ICRC-CTA"}
	xb.EncJWKS = jose.EncKeySet{enc.Public(), encP.Public().WithValidity(f.now.Add(-time.Hour), f.now.Add(time.Hour))}
	m, err := f.resign(t)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.Member("XB-RC")
	if !got.PullOnly || got.Endpoint != "" || !reflect.DeepEqual(got.RelayVia, []string{"ICRC-CTA"}) || len(got.EncJWKS) != 2 || !got.EncJWKS[0].SameKey(enc.Public()) {
		t.Fatalf("XB-RC after a round trip: %+v", got)
	}
	raw := string(wireJSON(t, got))
	if strings.Contains(raw, `"endpoint"`) || !strings.Contains(raw, `"pull_only":true`) || !strings.Contains(raw, `"use":"enc"`) {
		t.Fatalf("encoding: %s", raw)
	}
}

func TestCoordinationFieldsValidate(t *testing.T) {
	enc := must(jose.GenerateEncKey(""))
	tests := []struct {
		name string
		edit func(f *fixture)
		want string // "" = valid
	}{
		{"pull-only without an endpoint", func(f *fixture) { m := f.member("XB-RC"); m.PullOnly, m.Endpoint = true, "" }, ""},
		{"pull-only with an http endpoint", func(f *fixture) { m := f.member("XB-RC"); m.PullOnly, m.Endpoint = true, "http://xb.flx.test" }, "endpoint"},
		{"no endpoint, not pull-only", func(f *fixture) { f.member("XB-RC").Endpoint = "" }, "endpoint"},
		{"relay_via a coordinator", func(f *fixture) { f.member("XB-RC").RelayVia = []string{"ICRC-CTA"} }, ""},
		{"relay_via itself", func(f *fixture) { f.member("XB-RC").RelayVia = []string{"XB-RC"} }, "relay_via names the member itself"},
		{"relay_via a stranger", func(f *fixture) { f.member("XB-RC").RelayVia = []string{"XZ-RC"} }, "not a member"},
		{"relay_via twice", func(f *fixture) { f.member("XB-RC").RelayVia = []string{"ICRC-CTA", "ICRC-CTA"} }, "twice"},
		{"relay_via too long", func(f *fixture) {
			f.member("XB-RC").RelayVia = []string{"ICRC-CTA", "XA-RC", "XC-RC", "ICRC-CTA", "XA-RC"}
		}, "at most"},
		{"encryption key", func(f *fixture) { f.member("XB-RC").EncJWKS = jose.EncKeySet{enc.Public()} }, ""},
		{"encryption kid used by a signing key", func(f *fixture) {
			f.member("XB-RC").EncJWKS = jose.EncKeySet{enc.Public().WithKID(f.keys["XB-RC"].KID())}
		}, "already used"},
		{"encryption kid used by another member", func(f *fixture) {
			f.member("XB-RC").EncJWKS = jose.EncKeySet{enc.Public()}
			f.member("XA-RC").EncJWKS = jose.EncKeySet{enc.Public()}
		}, "already used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.edit(f)
			err := f.spec.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if CodeOf(err) != CodeBadManifest || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want bad_manifest mentioning %q", err, tc.want)
			}
		})
	}
}

// TestCoordinationFieldsDecodeStrictly: the new members are held to the
// manifest's strict decoding.
func TestCoordinationFieldsDecodeStrictly(t *testing.T) {
	f := newFixture(t)
	enc := must(jose.GenerateEncKey(""))
	f.member("XB-RC").EncJWKS = jose.EncKeySet{enc.Public()}
	f.member("XB-RC").RelayVia = []string{"ICRC-CTA"}
	payload := string(wireJSON(t, f.spec))
	sig := must(jose.GenerateKey(jose.EdDSA))
	sigJWK := string(wireJSON(t, jose.KeySet{sig.Public()}))
	for name, mut := range map[string]func(string) string{
		"Relay_via":            func(s string) string { return strings.Replace(s, `"relay_via"`, `"Relay_via"`, 1) },
		"relay_via twice":      func(s string) string { return strings.Replace(s, `"relay_via":`, `"relay_via":[],"relay_via":`, 1) },
		"pull_only not a bool": func(s string) string { return strings.Replace(s, `"relay_via":`, `"pull_only":"yes","relay_via":`, 1) },
		"signing key as enc key": func(s string) string {
			return strings.Replace(s, `"enc_jwks":{"keys":[`, `"enc_jwks":{"keys":[`+sigJWK[len(`{"keys":[`):len(sigJWK)-2]+`,`, 1)
		},
		"enc_jwks extra member": func(s string) string { return strings.Replace(s, `"enc_jwks":{`, `"enc_jwks":{"x":1,`, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			p := mut(payload)
			if p == payload {
				t.Fatal("mutation did not apply")
			}
			raw := must(jose.Sign([]byte(p), TypManifest, f.anchor))
			if _, err := VerifyManifest(raw, f.anchor.Public(), f.now, nil); CodeOf(err) != CodeBadManifest {
				t.Fatalf("accepted or wrong code: %v", err)
			}
		})
	}
}

func TestMayRelayAndRoutes(t *testing.T) {
	f := newFixture(t)
	xb := f.member("XB-RC")
	xb.RelayVia = []string{"XA-RC"} // a society named as a relay may relay
	m := must(f.resign(t))
	for id, want := range map[string]bool{"ICRC-CTA": true, "XA-RC": true, "XB-RC": false, "XC-RC": false, "XZ-RC": false} {
		if got := m.MayRelay(id); got != want {
			t.Errorf("MayRelay(%s) = %v, want %v", id, got, want)
		}
	}

	f = newFixture(t)
	f.member("XB-RC").RelayVia = []string{"XC-RC", "ICRC-CTA"} // XC-RC is suspended: skipped
	xa := f.member("XA-RC")
	xa.PullOnly, xa.Endpoint = true, ""
	m = must(f.resign(t))
	tests := []struct {
		self, dest string
		local      map[string]string
		want       Route
		fail       bool
	}{
		{"XA-RC", "XB-RC", nil, Route{Via: "ICRC-CTA"}, false},
		{"ICRC-CTA", "XB-RC", nil, Route{}, false},           // the relay itself delivers directly
		{"ICRC-CTA", "XA-RC", nil, Route{Pull: true}, false}, // a pull-only member pulls from its senders
		{"XB-RC", "XA-RC", map[string]string{"XA-RC": "ICRC-CTA"}, Route{Via: "ICRC-CTA"}, false},
		{"XB-RC", "ICRC-CTA", nil, Route{}, false},
		{"XB-RC", "ICRC-CTA", map[string]string{"ICRC-CTA": "ICRC-CTA"}, Route{}, false},
		{"XA-RC", "XC-RC", nil, Route{}, true},                                    // suspended
		{"XA-RC", "XZ-RC", nil, Route{}, true},                                    // unknown
		{"ICRC-CTA", "XB-RC", map[string]string{"XB-RC": "XA-RC"}, Route{}, true}, // XA-RC may not relay
	}
	for _, tc := range tests {
		got, err := m.RouteFor(tc.self, tc.dest, tc.local)
		if (err != nil) != tc.fail || got != tc.want {
			t.Errorf("RouteFor(%s -> %s, %v) = %+v, %v; want %+v, fail %v", tc.self, tc.dest, tc.local, got, err, tc.want, tc.fail)
		}
	}
	if got := m.PullSources("XA-RC"); !reflect.DeepEqual(got, []string{"XB-RC", "ICRC-CTA"}) {
		t.Errorf("PullSources without relays = %v (every active member that is not pull-only)", got)
	}
	f.member("XA-RC").RelayVia = []string{"ICRC-CTA"}
	m = must(f.resign(t))
	if got := m.PullSources("XA-RC"); !reflect.DeepEqual(got, []string{"ICRC-CTA"}) {
		t.Errorf("PullSources with a relay = %v", got)
	}
}

func TestEncKeyFor(t *testing.T) {
	f := newFixture(t)
	old := must(jose.GenerateEncKey(""))
	nu := must(jose.GenerateEncKey(jose.P256))
	future := must(jose.GenerateEncKey(""))
	f.member("XB-RC").EncJWKS = jose.EncKeySet{
		old.Public().WithValidity(f.now.Add(-48*time.Hour), f.now.Add(time.Hour)),
		nu.Public().WithValidity(f.now.Add(-time.Hour), time.Time{}),
		future.Public().WithValidity(f.now.Add(time.Hour), time.Time{}),
	}
	m := must(f.resign(t))
	k, err := m.EncKeyFor("XB-RC", f.now)
	if err != nil || k.KID() != nu.KID() {
		t.Fatalf("EncKeyFor = %v, %v; want the newest valid key", k, err)
	}
	if _, err := m.EncKeyFor("XA-RC", f.now); CodeOf(err) != CodeUnknownKey {
		t.Fatalf("a member without encryption keys: %v", err)
	}
}

func TestVerifySigned(t *testing.T) {
	f := newFixture(t)
	type doc struct {
		Iss string `json:"iss"`
		N   int    `json:"n"`
	}
	sign := func(payload string, k *jose.PrivateKey) []byte {
		return must(jose.Sign([]byte(payload), "flx-test+jws", k))
	}
	tests := []struct {
		name string
		raw  []byte
		want Code
	}{
		{"good", sign(`{"iss":"XA-RC","n":1}`, f.keys["XA-RC"]), ""},
		{"unknown member", sign(`{"iss":"XA-RC","n":1,"x":2}`, f.keys["XA-RC"]), CodeBadEnvelope},
		{"member twice", sign(`{"iss":"XB-RC","iss":"XA-RC","n":1}`, f.keys["XA-RC"]), CodeBadEnvelope},
		{"ISS", sign(`{"ISS":"XA-RC","n":1}`, f.keys["XA-RC"]), CodeBadEnvelope},
		{"no iss", sign(`{"n":1}`, f.keys["XA-RC"]), CodeBadEnvelope},
		{"another member's key", sign(`{"iss":"XA-RC","n":1}`, f.keys["ICRC-CTA"]), CodeUnknownKey},
		{"suspended", sign(`{"iss":"XC-RC","n":1}`, f.keys["XC-RC"]), CodeSuspendedMember},
		{"forged", sign(`{"iss":"XA-RC","n":1}`, newKey(t, jose.EdDSA).WithKID(f.keys["XA-RC"].KID())), CodeBadSignature},
		{"other typ", must(jose.Sign([]byte(`{"iss":"XA-RC","n":1}`), TypEnvelope, f.keys["XA-RC"])), CodeBadEnvelope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			signer, _, err := f.manifest.VerifySigned(tc.raw, "flx-test+jws", f.now, 0, &d)
			wantCode(t, err, tc.want)
			if err == nil && (signer != "XA-RC" || d.N != 1) {
				t.Fatalf("signer %q doc %+v", signer, d)
			}
		})
	}
	var notStruct map[string]any
	if _, _, err := f.manifest.VerifySigned(tests[0].raw, "flx-test+jws", f.now, 0, &notStruct); err == nil || CodeOf(err) != "" {
		t.Fatalf("a map: %v", err)
	}
	var noIss struct {
		N int `json:"n"`
	}
	if _, _, err := f.manifest.VerifySigned(tests[0].raw, "flx-test+jws", f.now, 0, &noIss); err == nil || CodeOf(err) != "" {
		t.Fatalf("a struct without iss: %v", err)
	}
}

// TestCoordinationKindsKnown: the coordination kinds are known (a manifest
// may list them in accepts; Verify passes them on to the node), but Kinds
// stays the list of case-document kinds.
func TestCoordinationKindsKnown(t *testing.T) {
	for _, k := range CoordinationKinds {
		if !k.Known() {
			t.Errorf("%s not known", k)
		}
		for _, c := range Kinds {
			if c == k {
				t.Errorf("%s is in Kinds", k)
			}
		}
	}
	f := newFixture(t)
	f.member("ICRC-CTA").Accepts = append(append([]Kind{}, Kinds...), CoordinationKinds...)
	if err := f.spec.Validate(); err != nil {
		t.Fatal(err)
	}
}
