package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// The tester parses what a candidate answers: problem documents and
// metadata here; receipts and envelopes go through federation's fuzzed
// VerifyReceipt and Verifier.Verify.

func FuzzParseProblem(f *testing.F) {
	f.Add([]byte(`{"type":"urn:flx:problem:replay","title":"t","status":409,"code":"replay"}`))
	f.Add([]byte(`{"type":"urn:flx:problem:schema_invalid","title":"t","status":422,"code":"schema_invalid","errors":[{"pointer":"/a","message":"m"}]}`))
	f.Add([]byte(`{"type":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProblem(b)
		if err == nil && (p.Code == "" || p.Type != "urn:flx:problem:"+p.Code || p.Title == "") {
			t.Errorf("accepted %q as %+v", b, p)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(`{"member":"XA-RC","protocol_versions":["flx/1"],"schema_versions":["1"],"limits":{"max_body_bytes":1048576,"clock_skew_seconds":60},"accepts":["case.create"],"manifest":{"federation":"F","version":1}}`))
	f.Add([]byte(`{"member":"XA-RC","manifest":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseMetadata(b)
		if err == nil && md.Manifest == nil {
			t.Errorf("accepted %q without a manifest", b)
		}
	})
}

// FuzzOfferedRef: the media reference and hash list a candidate offers
// the tester (listener_media.go).
func FuzzOfferedRef(f *testing.F) {
	one := sha256.Sum256(make([]byte, 70000))
	list := one[:]
	f.Add([]byte(`{"media":{"sha256":"aa","size_bytes":70000,"chunk_bytes":65536,"chunks_sha256":"`+sha256Hex(list)+`"}}`), list)
	f.Add([]byte(`{"media":{"chunks_sha256":"x"}}`), []byte{})
	f.Add([]byte(`{"media":{"size_bytes":-1,"chunk_bytes":65536}}`), []byte{})
	f.Add([]byte(`{"media":null}`), []byte{})
	f.Fuzz(func(t *testing.T, body, hashes []byte) {
		ref, status, _, _ := offeredRef(body, hashes)
		if status == 0 && (ref.SizeBytes < 1 || ref.ChunkBytes < 64<<10 || int64(len(hashes)) != 32*ref.chunks()) {
			t.Errorf("accepted %q with %d bytes of hashes as %+v", body, len(hashes), ref)
		}
	})
}

// FuzzParseCandidateJWK: the operator's JWK file (init --candidate-jwk).
// Whatever it holds, the parser does not panic, refuses with a *JWKError,
// and what it accepts has only FLX-KEY-002's members, none private, and
// is the key its published form (as the manifest encodes it) parses to.
func FuzzParseCandidateJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig","nbf":1,"exp":2}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"e","alg":"ES256","use":"sig"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","kid":"k1","alg":"EdDSA","use":"sig"}`))
	f.Add([]byte(`{"kid":"a","kid":"b"}`))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseCandidateJWK(b)
		if err != nil {
			var je *JWKError
			if !errors.As(err, &je) || je.Code == "" {
				t.Fatalf("refused %q without a code: %v", b, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(bytes.TrimSpace(b), &m) != nil {
			t.Fatalf("accepted %q, which is not one JSON object", b)
		}
		for name := range m {
			if !slices.Contains(publicMembers, name) {
				t.Fatalf("accepted %q with member %q", b, name)
			}
		}
		pub, err := json.Marshal(k)
		if err != nil {
			t.Fatalf("accepted %q, which does not encode: %v", b, err)
		}
		again, err := ParseCandidateJWK(pub)
		if err != nil || !again.SameKey(k) || again.KID() != k.KID() || !again.NotBefore().Equal(k.NotBefore()) || !again.Expires().Equal(k.Expires()) {
			t.Fatalf("accepted %q; its published form %s parses to %v, %v", b, pub, again, err)
		}
	})
}
