package schema

import (
	"encoding/json"
	"testing"
)

// benchCase is the detention notification example, about 4 KiB.
func benchCase(b *testing.B) []byte {
	b.Helper()
	ex, ok := ExampleNamed("case.detention_notification")
	if !ok {
		b.Fatal("example missing")
	}
	if n := len(ex.Doc); n < 3500 || n > 5000 {
		b.Fatalf("benchmark document is %d bytes, want about 4 KiB", n)
	}
	return ex.Doc
}

func BenchmarkValidateCase(b *testing.B) {
	doc := benchCase(b)
	if err := Validate(KindCase, doc); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(KindCase, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateCaseInvalid measures a document with a dozen violations
// (error tree flattening and sorting included).
func BenchmarkValidateCaseInvalid(b *testing.B) {
	doc := []byte(`{"schema":"flx/v1/case","case_id":"xa:1","version":1.0,"type":"x","status":"open",` +
		`"origin":{"member":"XA-RC","created_at":"2024-13-01T00:00:00Z"},"purpose":"tracing",` +
		`"persons":[{"id":"p1","birth_date":"2019-13","names":[{"value":""}],"foo":1,"contact":{"emails":["nope"]}},` +
		`{"id":"p2","birth_date":"2019-02-30"}],"extra":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if Validate(KindCase, doc) == nil {
			b.Fatal("valid")
		}
	}
}

// BenchmarkParseCase is Validate plus decoding into Case.
func BenchmarkParseCase(b *testing.B) {
	doc := benchCase(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseCase(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStrict is the decoding step of Validate alone, next to
// BenchmarkDecodeStdlib, the plain encoding/json decoding it replaces.
func BenchmarkDecodeStrict(b *testing.B) {
	doc := benchCase(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, vs := decodeStrict(doc); len(vs) != 0 {
			b.Fatal(vs)
		}
	}
}

func BenchmarkDecodeStdlib(b *testing.B) {
	doc := benchCase(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastCheckCase is the fast check alone on a decoded case, next to
// BenchmarkJSONSchemaCase, jsonschema's validator on the same value, which
// the fast check spares a valid document.
func BenchmarkFastCheckCase(b *testing.B) {
	v, _ := decodeStrict(benchCase(b))
	fast, err := fastSchemas()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if fast[KindCase].check(v) != pass {
			b.Fatal("not passed")
		}
	}
}

func BenchmarkJSONSchemaCase(b *testing.B) {
	v, _ := decodeStrict(benchCase(b))
	schemas, err := compiled()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := schemas[KindCase].Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeValidatedCase is the decoding of a validated case into
// Case (from decodeStrict's tree), next to BenchmarkDecodeIntoCase, the
// encoding/json decoding it replaces.
func BenchmarkDecodeValidatedCase(b *testing.B) {
	doc := benchCase(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeValidatedCase(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeIntoCase(b *testing.B) {
	doc := benchCase(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeInto(doc, new(Case)); err != nil {
			b.Fatal(err)
		}
	}
}
