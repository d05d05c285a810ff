package conformance

import "testing"

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
