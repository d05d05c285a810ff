package jose

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func memberNames(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestPublicJWKPublishesOnlyAllowedMembers(t *testing.T) {
	nbf := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := nbf.Add(365 * 24 * time.Hour)
	tests := []struct {
		alg  Alg
		want string
	}{
		{EdDSA, "alg crv exp kid kty nbf use x"},
		{ES256, "alg crv exp kid kty nbf use x y"},
	}
	for _, tc := range tests {
		t.Run(string(tc.alg), func(t *testing.T) {
			priv := mustKey(t, tc.alg)
			pub := priv.Public().WithValidity(nbf, exp)
			data, err := json.Marshal(pub)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(memberNames(t, data), " "); got != tc.want {
				t.Fatalf("members %q, want %q (%s)", got, tc.want, data)
			}
			set, err := json.Marshal(KeySet{pub})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(set), `"d"`) || strings.Contains(string(data), `"d"`) {
				t.Fatalf("private member published: %s / %s", data, set)
			}
			// A private key has no JSON encoding of its own: encoding one by
			// mistake (say, inside a config struct) leaks nothing.
			leaked, err := json.Marshal(struct{ K *PrivateKey }{priv})
			if err != nil || string(leaked) != `{"K":{}}` {
				t.Fatalf("json.Marshal(private key) = %s, %v", leaked, err)
			}
			// Round trip, and the result is something jwx reads too.
			back, err := ParsePublicJWK(data)
			if err != nil {
				t.Fatal(err)
			}
			if !back.SameKey(pub) || back.KID() != pub.KID() || !back.NotBefore().Equal(nbf) || !back.Expires().Equal(exp) || back.Alg() != tc.alg {
				t.Fatalf("round trip changed the key: %+v", back)
			}
			jk, err := jwk.ParseKey(data)
			if err != nil {
				t.Fatalf("jwx cannot read our JWK: %v", err)
			}
			tp, err := jk.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if enc.EncodeToString(tp) != pub.Thumbprint() || priv.KID() != pub.Thumbprint() {
				t.Fatalf("thumbprint %s, jwx %s, kid %s", pub.Thumbprint(), enc.EncodeToString(tp), priv.KID())
			}
		})
	}
}

// RFC 8037 Appendix A.3.
func TestThumbprintRFC8037Vector(t *testing.T) {
	k, err := ParsePublicJWK([]byte(`{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	if err != nil {
		t.Fatal(err)
	}
	const want = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	if k.Thumbprint() != want || k.KID() != want {
		t.Fatalf("thumbprint %s kid %s, want %s", k.Thumbprint(), k.KID(), want)
	}
}

func TestParsePublicJWKRefuses(t *testing.T) {
	ed := mustKey(t, EdDSA)
	ec := mustKey(t, ES256)
	edJWK, _ := json.Marshal(ed.Public())
	ecJWK, _ := json.Marshal(ec.Public())
	edPriv, _ := MarshalPrivateJWK(ed)
	set := func(base []byte, name string, v any) []byte {
		var m map[string]any
		_ = json.Unmarshal(base, &m)
		if v == nil {
			delete(m, name)
		} else {
			m[name] = v
		}
		out, _ := json.Marshal(m)
		return out
	}
	var ecm map[string]string
	_ = json.Unmarshal(ecJWK, &ecm)
	cases := []struct {
		name string
		data []byte
	}{
		{"private key as public", edPriv},
		{"missing alg", set(edJWK, "alg", nil)},
		{"alg none", set(edJWK, "alg", "none")},
		{"alg HS256", set(edJWK, "alg", "HS256")},
		{"alg RS256", set(edJWK, "alg", "RS256")},
		{"alg ES256 on OKP key", set(edJWK, "alg", "ES256")},
		{"alg EdDSA on EC key", set(ecJWK, "alg", "EdDSA")},
		{"crv X25519", set(edJWK, "crv", "X25519")},
		{"kty oct", set(edJWK, "kty", "oct")},
		{"symmetric k", set(set(edJWK, "kty", "oct"), "k", "c2VjcmV0")},
		{"short x", set(edJWK, "x", "AAAA")},
		{"padded x", set(edJWK, "x", base64.URLEncoding.EncodeToString(ed.Public().CryptoPublicKey().(ed25519.PublicKey)))},
		{"std-alphabet x", set(edJWK, "x", base64.RawStdEncoding.EncodeToString(append(make([]byte, 30), 0xfb, 0xff)))},
		{"point not on curve", set(ecJWK, "y", ecm["x"])},
		{"missing y", set(ecJWK, "y", nil)},
		{"use enc", set(edJWK, "use", "enc")},
		{"key_ops encrypt", set(edJWK, "key_ops", []string{"encrypt"})},
		{"empty kid", set(edJWK, "kid", "")},
		{"kid not a string", set(edJWK, "kid", 7)},
		{"nbf after exp", set(set(edJWK, "nbf", 2000000000), "exp", 1900000000)},
		{"nbf not integer", set(edJWK, "nbf", 1.5)},
		{"exp string", set(edJWK, "exp", "tomorrow")},
		{"not an object", []byte(`[]`)},
		{"null", []byte(`null`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := ParsePublicJWK(tc.data); err == nil {
				t.Fatalf("accepted %s as %+v", tc.data, k)
			} else if !errors.Is(err, ErrJWK) {
				t.Fatalf("error %v is not ErrJWK", err)
			}
		})
	}
	t.Run("unknown members ignored, kid defaults to thumbprint", func(t *testing.T) {
		k, err := ParsePublicJWK(set(set(edJWK, "kid", nil), "x5c", []string{"MIIB"}))
		if err != nil {
			t.Fatal(err)
		}
		if k.KID() != ed.Public().Thumbprint() {
			t.Fatalf("kid %q", k.KID())
		}
	})
}

func TestKeySet(t *testing.T) {
	a, b := mustKey(t, EdDSA), mustKey(t, ES256)
	data, err := json.Marshal(KeySet{a.Public(), b.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var ks KeySet
	if err := json.Unmarshal(data, &ks); err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks.Key(b.KID()) == nil || !ks.Key(a.KID()).SameKey(a.Public()) || ks.Key("nope") != nil {
		t.Fatalf("round trip: %s", data)
	}
	empty, _ := json.Marshal(KeySet(nil))
	if string(empty) != `{"keys":[]}` {
		t.Fatalf("empty set: %s", empty)
	}
	dup, _ := json.Marshal(KeySet{a.Public(), a.Public()})
	if _, err := ParseKeySet(dup); !errors.Is(err, ErrJWK) {
		t.Fatalf("duplicate kid: %v", err)
	}
}

func TestValidAt(t *testing.T) {
	nbf := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := nbf.Add(time.Hour)
	k := mustKey(t, EdDSA).Public().WithValidity(nbf, exp)
	skew := time.Minute
	tests := []struct {
		at   time.Time
		want bool
	}{
		{nbf.Add(-2 * skew), false},
		{nbf.Add(-skew), true},
		{nbf, true},
		{exp.Add(-time.Second), true},
		{exp.Add(skew - time.Second), true},
		{exp.Add(skew), false},
	}
	for _, tc := range tests {
		if got := k.ValidAt(tc.at, skew); got != tc.want {
			t.Errorf("ValidAt(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if !mustKey(t, EdDSA).Public().ValidAt(time.Time{}, 0) {
		t.Error("a key without nbf/exp is always valid")
	}
	if k.ValidAt(exp, 0) || !k.ValidAt(nbf, 0) {
		t.Error("window is [nbf, exp)")
	}
}

func TestPrivateKeyFile(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256} {
		t.Run(string(alg), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "signing.jwk")
			k := mustKey(t, alg)
			if err := SavePrivateKey(path, k); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %04o, want 0600", fi.Mode().Perm())
			}
			back, err := LoadPrivateKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.KID() != k.KID() || back.Alg() != alg || !back.Public().SameKey(k.Public()) {
				t.Fatal("loaded key differs")
			}
			tok := mustSign(t, `{}`, testTyp, back)
			if _, _, err := Verify(tok, testTyp, lookupOf(k.Public())); err != nil {
				t.Fatalf("loaded key signs badly: %v", err)
			}
			if err := SavePrivateKey(path, mustKey(t, alg)); err == nil {
				t.Fatal("overwrote an existing key file")
			}
			if again, err := LoadPrivateKey(path); err != nil || !again.Public().SameKey(k.Public()) {
				t.Fatal("refused overwrite still changed the file")
			}
			if runtime.GOOS != "windows" {
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := LoadPrivateKey(path); err == nil {
					t.Fatal("loaded a world-readable key file")
				}
			}
		})
	}
}

func TestParsePrivateJWKRefusesMismatchedD(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256} {
		a, b := mustKey(t, alg), mustKey(t, alg)
		ja, _ := MarshalPrivateJWK(a)
		jb, _ := MarshalPrivateJWK(b)
		var ma, mb map[string]any
		_ = json.Unmarshal(ja, &ma)
		_ = json.Unmarshal(jb, &mb)
		ma["d"] = mb["d"]
		mixed, _ := json.Marshal(ma)
		if _, err := ParsePrivateJWK(mixed); !errors.Is(err, ErrJWK) {
			t.Errorf("%s: accepted d of another key: %v", alg, err)
		}
		delete(ma, "d")
		noD, _ := json.Marshal(ma)
		if _, err := ParsePrivateJWK(noD); err == nil {
			t.Errorf("%s: accepted private JWK without d", alg)
		}
	}
}

func TestGenerateKeyRefusesOtherAlgs(t *testing.T) {
	for _, alg := range []Alg{"RS256", "HS256", "none", "ES384"} {
		if _, err := GenerateKey(alg); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("GenerateKey(%q): %v", alg, err)
		}
	}
}

// A JWKS as published in the manifest: exactly {"keys":[...]}, each key with
// an explicit kid (FLX-KEY-002), no member twice, names case-sensitive.
func TestKeySetStrict(t *testing.T) {
	a, b := mustKey(t, EdDSA), mustKey(t, ES256)
	aJWK, _ := json.Marshal(a.Public())
	bJWK, _ := json.Marshal(b.Public())
	var am map[string]any
	_ = json.Unmarshal(aJWK, &am)
	delete(am, "kid")
	aNoKID, _ := json.Marshal(am)
	aKIDTwice := strings.Replace(string(aJWK), `"kid":`, `"kid":"spoofed","kid":`, 1)
	aUpperKID := strings.Replace(string(aJWK), `"kid":`, `"KID":`, 1)
	for name, data := range map[string]string{
		"key without kid":               `{"keys":[` + string(aNoKID) + `]}`,
		"key without kid, second":       `{"keys":[` + string(bJWK) + `,` + string(aNoKID) + `]}`,
		"kid spelt KID (so no kid)":     `{"keys":[` + aUpperKID + `]}`,
		"kid twice in one key":          `{"keys":[` + aKIDTwice + `]}`,
		"keys twice":                    `{"keys":[` + string(aJWK) + `],"keys":[` + string(bJWK) + `]}`,
		"Keys in other case":            `{"Keys":[` + string(aJWK) + `]}`,
		"KEYS in other case":            `{"KEYS":[` + string(aJWK) + `]}`,
		"member beside keys":            `{"keys":[` + string(aJWK) + `],"x":1}`,
		"no keys member":                `{}`,
		"keys null":                     `{"keys":null}`,
		"keys not an array":             `{"keys":{}}`,
		"not an object":                 `[` + string(aJWK) + `]`,
		"null":                          `null`,
		"private member in a published": `{"keys":[` + strings.Replace(string(aJWK), `{`, `{"d":"AAAA",`, 1) + `]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if ks, err := ParseKeySet([]byte(data)); !errors.Is(err, ErrJWK) {
				t.Fatalf("ParseKeySet(%s) = %v, %v; want ErrJWK", data, ks, err)
			}
			var ks KeySet
			if err := json.Unmarshal([]byte(data), &ks); err == nil {
				t.Fatalf("KeySet.UnmarshalJSON accepted %s", data)
			}
		})
	}
	t.Run("explicit kids accepted, unknown JWK members ignored", func(t *testing.T) {
		withX5C := strings.Replace(string(aJWK), `{`, `{"x5c":["MIIB"],`, 1)
		ks, err := ParseKeySet([]byte(`{"keys":[` + withX5C + `,` + string(bJWK) + `]}`))
		if err != nil || len(ks) != 2 || ks.Key(a.KID()) == nil || ks.Key(b.KID()) == nil {
			t.Fatalf("%v %v", ks, err)
		}
		if ks, err := ParseKeySet([]byte(`{"keys":[]}`)); err != nil || len(ks) != 0 {
			t.Fatalf("empty set: %v %v", ks, err)
		}
	})
	t.Run("ParsePublicJWK keeps the thumbprint default, ParsePublishedJWK does not", func(t *testing.T) {
		if k, err := ParsePublicJWK(aNoKID); err != nil || k.KID() != a.Public().Thumbprint() {
			t.Fatalf("ParsePublicJWK: %v", err)
		}
		if _, err := ParsePublishedJWK(aNoKID); !errors.Is(err, ErrJWK) {
			t.Fatalf("ParsePublishedJWK without kid: %v", err)
		}
		if k, err := ParsePublishedJWK(aJWK); err != nil || k.KID() != a.KID() {
			t.Fatalf("ParsePublishedJWK: %v", err)
		}
	})
	t.Run("a member twice in a single JWK", func(t *testing.T) {
		for _, data := range []string{aKIDTwice, strings.Replace(string(aJWK), `"x":`, `"x":"AAAA","x":`, 1)} {
			if _, err := ParsePublicJWK([]byte(data)); !errors.Is(err, ErrJWK) {
				t.Fatalf("ParsePublicJWK(%s): %v", data, err)
			}
			if _, err := ParsePrivateJWK([]byte(data)); !errors.Is(err, ErrJWK) {
				t.Fatalf("ParsePrivateJWK(%s): %v", data, err)
			}
		}
	})
}
