package bundle_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/bundle"
)

// FuzzOpen: no panic on any file; only the bytes the exporter sealed (with or
// without one final newline) are ever opened, and an opened bundle is signed
// by its exporter for this member.
func FuzzOpen(f *testing.F) {
	fd := newFed(f)
	env := fd.envelope(f, "XA-RC", "XB-RC", fd.now, time.Hour)
	good := fd.seal(f, bundle.Contents{Envelopes: [][]byte{env}}, "XA-RC", "XB-RC", nil)
	parts := strings.Split(string(good), ".")
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), '\n'))
	f.Add(good[:len(good)/2])
	f.Add([]byte(parts[0] + "...."))
	f.Add([]byte(strings.Join(parts[:4], ".")))
	f.Add([]byte{})
	o := fd.opener("XB-RC")
	f.Fuzz(func(t *testing.T, file []byte) {
		op, err := o.Open(context.Background(), file)
		if err != nil {
			if federation.CodeOf(err) == "" {
				t.Fatalf("a refusal without a code: %v", err)
			}
			return
		}
		if !bytes.Equal(bytes.TrimSuffix(file, []byte("\n")), good) {
			t.Fatalf("opened a file other than the one sealed: %q", file)
		}
		if op.From != "XA-RC" || op.To != "XB-RC" || len(op.Envelopes) != 1 || op.Envelopes[0].Err != nil {
			t.Fatalf("opened %+v", op)
		}
	})
}
