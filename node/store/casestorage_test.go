package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// storedDoc is a JSON case document of about n bytes whose text does not
// compress (a long free-text field of random letters), as a received
// case's narrative can be: lz4 leaves it above the 2 KB TOAST threshold.
func storedDoc(id string, n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	text := make([]byte, n)
	for i := range text {
		text[i] = 'a' + byte(r.IntN(26))
	}
	return fmt.Appendf(nil, `{"schema":"flx/v1/case","case_id":%q,"version":1,"notes":%q}`, id, text)
}

// TestCaseDocumentsInline: a received case's document (a few KB) is kept
// in its row of cases, and once superseded by an update in its row of
// case_versions, on PostgreSQL (migration 0033: no TOAST row and index
// entry per case and per version), and documents of every size, up to
// ones that cannot stay in a page, read back as written on both stores,
// through the case, its version and a new version.
func TestCaseDocumentsInline(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		sizes := []int{500, 3000, 6000, 40000}
		var batch []store.NewCase
		for i, n := range sizes {
			c := newCase(fmt.Sprintf("XA-RC:DOC-%d", i))
			c.Document = storedDoc(c.ID, n, uint64(i))
			batch = append(batch, c)
		}
		one := newCase("XA-RC:DOC-one")
		one.Document = storedDoc(one.ID, 5000, 99)
		must[store.Case](t)(b.s.CreateCase(ctx, one))
		res := must[store.BulkResult](t)(b.s.CreateCases(ctx, batch))
		if len(res.Created) != len(batch) {
			t.Fatalf("created %v", res.Created)
		}
		for _, c := range append(batch, one) {
			got := must[store.Case](t)(b.s.GetCase(ctx, c.ID))
			v := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, c.ID, 1))
			if !bytes.Equal(got.Document, c.Document) || !bytes.Equal(v.Document, c.Document) {
				t.Fatalf("%s: document of %d bytes read back as %d (case), %d (version)", c.ID, len(c.Document), len(got.Document), len(v.Document))
			}
		}
		// Updated, a version keeps its document in its own row (the
		// current version's is the case's): the 40 KB one too.
		for i, c := range []store.NewCase{batch[1], batch[3]} {
			doc2 := storedDoc(c.ID, []int{7000, 40000}[i], uint64(7+i))
			must[store.Case](t)(b.s.UpdateCase(ctx, store.CaseUpdate{ID: c.ID, ExpectedVersion: 1, Document: doc2}))
			got := must[store.Case](t)(b.s.GetCase(ctx, c.ID))
			v1 := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, c.ID, 1))
			v2 := must[store.CaseVersion](t)(b.s.GetCaseVersion(ctx, c.ID, 2))
			if !bytes.Equal(got.Document, doc2) || !bytes.Equal(v2.Document, doc2) || !bytes.Equal(v1.Document, c.Document) {
				t.Fatalf("%s updated: case %d bytes, version 2 %d, version 1 %d", c.ID, len(got.Document), len(v2.Document), len(v1.Document))
			}
		}
		if b.dialect != store.Postgres {
			return
		}
		// Out of line: the 40 KB documents only (their rows would not fit
		// in a page): version 2 in cases, version 1 in case_versions.
		for _, table := range []string{"cases", "case_versions"} {
			var toast string
			if err := b.raw.GetContext(ctx, &toast, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = $1`, table); err != nil {
				t.Fatal(err)
			}
			var values int
			if err := b.raw.GetContext(ctx, &values, `SELECT count(DISTINCT chunk_id) FROM `+toast); err != nil {
				t.Fatal(err)
			}
			if values != 1 {
				t.Errorf("%s: %d values stored out of line, want 1 (the 40 KB document)", table, values)
			}
		}
	})
}

// TestInboxEnvelopesInline: a received envelope of a few KB is kept in its
// inbox row on PostgreSQL (migration 0035: no two TOAST chunk rows and
// index entries per envelope received), one too large for a page still
// goes out of line, and envelopes of every size read back as received on
// both stores, through a batch (ReceiveAll) and a single Receive.
func TestInboxEnvelopesInline(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		sizes := []int{500, 2518, 3400, 6000, 40000}
		es := make([]store.ReceiveEntry, len(sizes))
		for i, n := range sizes {
			jti := fmt.Sprintf("inline-%d", i)
			// Random letters: a compact JWS does not compress either.
			env := storedDoc(jti, n, uint64(i))
			es[i] = store.ReceiveEntry{Item: store.InboxItem{JTI: jti, Iss: memberA, Aud: memberB, Kind: "case.create",
				CaseID: "XA-RC:" + jti, Envelope: env}, Receipt: store.Receipt{Status: "accepted", Raw: []byte("receipt")}}
		}
		var got []store.ReceiveResult
		if err := b.s.Tx(ctx, func(tx store.Tx) (err error) {
			got, err = tx.ReceiveAll(ctx, es[:len(es)-1])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		one := es[len(es)-1]
		r, err := b.s.Receive(ctx, one.Item, one.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
		for i, e := range es {
			it := must[store.InboxItem](t)(b.s.GetInbox(ctx, got[i].ID))
			if !bytes.Equal(it.Envelope, e.Item.Envelope) {
				t.Fatalf("%s: envelope of %d bytes read back as %d", e.Item.JTI, len(e.Item.Envelope), len(it.Envelope))
			}
		}
		if b.dialect != store.Postgres {
			return
		}
		var toast string
		if err := b.raw.GetContext(ctx, &toast, `SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = 'inbox'`); err != nil {
			t.Fatal(err)
		}
		var values int
		if err := b.raw.GetContext(ctx, &values, `SELECT count(DISTINCT chunk_id) FROM `+toast); err != nil {
			t.Fatal(err)
		}
		if values != 1 {
			t.Errorf("inbox: %d envelopes stored out of line, want 1 (the 40 KB one)", values)
		}
	})
}

// jwsLike is a compact JWS as a node signs one: base64url of a JSON
// header, of a JSON payload of about n bytes (a case document: field
// names repeated person after person, values that vary) and of a 64-byte
// signature. Such an envelope compresses (lz4: by about a quarter), unlike
// storedDoc's random letters.
func jwsLike(id string, n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	given := []string{"Mira", "Anna", "Olga", "Vera", "Nina", "Illia", "Pavlo", "Taras", "Roman", "Мира", "Ольга", "Тарас"}
	var p bytes.Buffer
	fmt.Fprintf(&p, `{"iss":"XA-RC","aud":"XB-RC","jti":%q,"kind":"case.create","body":{"case_id":%q,"persons":[`, id, id)
	for i := 0; p.Len() < n; i++ {
		if i > 0 {
			p.WriteByte(',')
		}
		fmt.Fprintf(&p, `{"person_id":"p%d","role":"sought","names":[{"type":"given","value":%q},{"type":"family","value":"%s%s"}],"birth_date":"%d","sex":"female","last_seen":{"place":"Kharkiv %d","date":"2026-%02d-%02d"}}`,
			i, given[r.IntN(len(given))], given[r.IntN(len(given))], "enko", 1925+r.IntN(80), r.IntN(100), 1+r.IntN(12), 1+r.IntN(28))
	}
	p.WriteString(`]}}`)
	sig := make([]byte, 64)
	for i := range sig {
		sig[i] = byte(r.Uint32())
	}
	enc := base64.RawURLEncoding
	return []byte(enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"XA-RC#1","typ":"flx+jws"}`)) + "." + enc.EncodeToString(p.Bytes()) + "." + enc.EncodeToString(sig))
}

// TestInboxTwoRowsAPage: on PostgreSQL a received envelope of a few KB
// with its receipt (an inbox row of about 4.5 KB, one per page before)
// is compressed in its row, so that two rows share a page (migration
// 0055): half the pages, extensions and dirty buffers per envelope.
// Nothing goes out of line for it (neither the envelope nor a small
// column moved to make the row fit), and every envelope and receipt reads
// back as received.
func TestInboxTwoRowsAPage(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	var lz4 bool
	if err := b.raw.GetContext(ctx, &lz4, `SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`); err != nil {
		t.Fatal(err)
	}
	if !lz4 {
		t.Skip("this PostgreSQL has no lz4: inbox rows stay as they were (migration 0055)")
	}
	const n = 40
	es := make([]store.ReceiveEntry, n)
	for i := range es {
		jti := fmt.Sprintf("two-a-page-%02d", i)
		env := jwsLike(jti, 2700, uint64(i))
		rcpt := jwsLike("receipt-"+jti, 350, uint64(1000+i))
		es[i] = store.ReceiveEntry{Item: store.InboxItem{JTI: jti, Iss: memberA, Aud: memberB, Kind: "case.create",
			CaseID: "XA-RC:" + jti, Envelope: env}, Receipt: store.Receipt{Status: "accepted", Raw: rcpt}}
		if i == 0 && (len(env) < 3500 || len(env)+len(rcpt) < 4200) {
			t.Fatalf("envelope %d and receipt %d bytes: not the size of a received case", len(env), len(rcpt))
		}
	}
	var got []store.ReceiveResult
	if err := b.s.Tx(ctx, func(tx store.Tx) (err error) {
		got, err = tx.ReceiveAll(ctx, es)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		it := must[store.InboxItem](t)(b.s.GetInbox(ctx, got[i].ID))
		if !bytes.Equal(it.Envelope, e.Item.Envelope) {
			t.Fatalf("%s: envelope of %d bytes read back as %d", e.Item.JTI, len(e.Item.Envelope), len(it.Envelope))
		}
		r := must[store.Receipt](t)(b.s.GetReceipt(ctx, e.Item.JTI))
		if !bytes.Equal(r.Raw, e.Receipt.Raw) {
			t.Fatalf("%s: receipt of %d bytes read back as %d", e.Item.JTI, len(e.Receipt.Raw), len(r.Raw))
		}
	}
	var pages, outOfLine int64
	if err := b.raw.GetContext(ctx, &pages, `SELECT pg_relation_size('inbox') / current_setting('block_size')::bigint`); err != nil {
		t.Fatal(err)
	}
	if err := b.raw.GetContext(ctx, &outOfLine, `SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'inbox'`); err != nil {
		t.Fatal(err)
	}
	if pages > n/2 || outOfLine != 0 {
		t.Errorf("%d inbox rows of %d-byte envelopes take %d pages and %d bytes out of line, want at most %d pages and none", n, len(es[0].Item.Envelope), pages, outOfLine, n/2)
	}
}
