package conformance

import (
	"crypto/sha256"
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
