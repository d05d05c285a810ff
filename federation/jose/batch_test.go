package jose

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
)

// testSigner is an Ed25519 key whose secret scalar the tests use to craft
// the signatures only a key's holder can make.
type testSigner struct {
	kid  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	a    *edwards25519.Scalar // the secret scalar
}

func newTestSigner(t testing.TB, seed byte) *testSigner {
	t.Helper()
	s := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(s)
	h := sha512.Sum512(s)
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	return &testSigner{kid: fmt.Sprintf("k%d", seed), priv: priv, pub: priv.Public().(ed25519.PublicKey), a: a}
}

func (s *testSigner) key() *PublicKey { return &PublicKey{alg: EdDSA, kid: s.kid, ed: s.pub} }

// token builds a token over msg with sig, as Parse would have.
func token(kid string, msg, sig []byte) *Token {
	return &Token{hdr: Header{Alg: EdDSA, KID: kid, Typ: "t"}, input: msg, payload: msg, sig: sig}
}

// smallOrder returns the canonical encoding of a point of order 8 (any
// point of order 8 works: multiples of it give every small-order point).
func smallOrder(t testing.TB) *edwards25519.Point {
	t.Helper()
	// A known point of order 8 (its y is the RFC 8032 / libsodium
	// blocklist entry 0x26e8958f...).
	enc := []byte{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}
	p, err := new(edwards25519.Point).SetBytes(enc)
	if err != nil {
		t.Fatal(err)
	}
	id := edwards25519.NewIdentityPoint()
	q := new(edwards25519.Point).Set(p)
	for i := 1; i < 8; i++ {
		if q.Equal(id) == 1 {
			t.Fatalf("point has order %d, not 8", i)
		}
		q.Add(q, p)
	}
	if q.Equal(id) != 1 {
		t.Fatal("point is not of order 8")
	}
	return p
}

// craft signs msg with R = r·B + T and S = r + k·a (k = H(R || A || msg)):
// what only the key's holder can make. rEnc, when set, replaces R's
// encoding (a non-canonical encoding of the same point).
func (s *testSigner) craft(msg []byte, T *edwards25519.Point, rEnc []byte) []byte {
	var rb [64]byte
	copy(rb[:], msg)
	rb[63] = 7
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb[:])
	R := new(edwards25519.Point).ScalarBaseMult(r)
	if T != nil {
		R.Add(R, T)
	}
	enc := R.Bytes()
	if rEnc != nil {
		enc = rEnc
	}
	h := sha512.New()
	h.Write(enc)
	h.Write(s.pub)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, s.a, r)
	return append(append([]byte{}, enc...), S.Bytes()...)
}

func mustPoint(t testing.TB, b []byte) *edwards25519.Point {
	t.Helper()
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verdicts runs VerifyAll and returns whether each token verified.
func verdicts(toks []*Token, keys []*PublicKey) []bool {
	errs := VerifyAll(toks, keys)
	ok := make([]bool, len(errs))
	for i, err := range errs {
		ok[i] = err == nil
	}
	return ok
}

func honestBatch(s []*testSigner, n int) ([]*Token, []*PublicKey) {
	toks := make([]*Token, n)
	keys := make([]*PublicKey, n)
	for i := range toks {
		sg := s[i%len(s)]
		msg := fmt.Appendf(nil, "envelope %d of the batch", i)
		toks[i], keys[i] = token(sg.kid, msg, ed25519.Sign(sg.priv, msg)), sg.key()
	}
	return toks, keys
}

// TestVerifyAllRefusesAloneAtEveryPosition forges one signature of a batch
// at each position in turn (a flipped bit of R, of S, another message, a
// signature by another key): that one is refused with ErrBadSignature,
// the others are accepted.
func TestVerifyAllRefusesAloneAtEveryPosition(t *testing.T) {
	a, b := newTestSigner(t, 1), newTestSigner(t, 2)
	forgeries := map[string]func(tok *Token, key **PublicKey){
		"R bit":   func(tok *Token, _ **PublicKey) { tok.sig[3] ^= 0x10 },
		"S bit":   func(tok *Token, _ **PublicKey) { tok.sig[40] ^= 0x01 },
		"message": func(tok *Token, _ **PublicKey) { tok.input = append(bytes.Clone(tok.input), '!') },
		"wrong key": func(tok *Token, key **PublicKey) {
			*key = &PublicKey{alg: EdDSA, kid: tok.hdr.KID, ed: b.pub}
		},
	}
	for name, forge := range forgeries {
		for _, n := range []int{2, 3, 50, 2*maxBatch + 3} {
			for pos := range n {
				if n == 50 && pos%7 != 0 && pos != n-1 {
					continue // the ends and every seventh: a fallback costs n checks
				}
				if n > maxBatch && pos != 1 && pos != maxBatch && pos != n-1 {
					continue // one in each equation of maxBatch
				}
				toks, keys := honestBatch([]*testSigner{a}, n)
				forge(toks[pos], &keys[pos])
				errs := VerifyAll(toks, keys)
				for i, err := range errs {
					if i == pos {
						if !errors.Is(err, ErrBadSignature) {
							t.Fatalf("%s, batch of %d, forged at %d: %v, want ErrBadSignature", name, n, pos, err)
						}
					} else if err != nil {
						t.Fatalf("%s, batch of %d, forged at %d: honest %d refused: %v", name, n, pos, i, err)
					}
				}
			}
		}
	}
}

func TestVerifyAllEmptyAndOne(t *testing.T) {
	if errs := VerifyAll(nil, nil); len(errs) != 0 {
		t.Fatalf("empty: %v", errs)
	}
	if !ed25519Batch(nil) {
		t.Fatal("an empty batch holds no bad signature")
	}
	a := newTestSigner(t, 1)
	toks, keys := honestBatch([]*testSigner{a}, 1)
	if errs := VerifyAll(toks, keys); errs[0] != nil {
		t.Fatal(errs[0])
	}
	toks[0].sig[0] ^= 1
	if errs := VerifyAll(toks, keys); !errors.Is(errs[0], ErrBadSignature) {
		t.Fatalf("one forged: %v", errs[0])
	}
}

// TestVerifyAllMixedKeys: a batch of three keys, one of them ES256 and one
// token naming another kid than its key, has Verify's verdict for each.
func TestVerifyAllMixedKeys(t *testing.T) {
	s := []*testSigner{newTestSigner(t, 1), newTestSigner(t, 2), newTestSigner(t, 3)}
	toks, keys := honestBatch(s, 30)
	ec, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ec.sign([]byte("ec"))
	if err != nil {
		t.Fatal(err)
	}
	toks = append(toks, &Token{hdr: Header{Alg: ES256, KID: ec.kid}, input: []byte("ec"), sig: sig})
	keys = append(keys, ec.Public())
	if errs := VerifyAll(toks, keys); errors.Join(errs...) != nil {
		t.Fatalf("honest mixed batch: %v", errors.Join(errs...))
	}
	if !ed25519Batch(itemsOf(toks[:30], keys[:30])) {
		t.Fatal("the Ed25519 signatures of three keys do not verify as one batch")
	}
	keys[7] = keys[8]                     // another kid
	toks[11].sig[50] ^= 4                 // a forgery
	keys[30] = s[0].key().WithKID(ec.kid) // an Ed25519 key for an ES256 token
	errs := VerifyAll(toks, keys)
	for i, err := range errs {
		switch i {
		case 7:
			if !errors.Is(err, ErrUnknownKey) {
				t.Errorf("%d: %v, want ErrUnknownKey", i, err)
			}
		case 11:
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("%d: %v, want ErrBadSignature", i, err)
			}
		case 30:
			if !errors.Is(err, ErrAlgMismatch) {
				t.Errorf("%d: %v, want ErrAlgMismatch", i, err)
			}
		default:
			if err != nil {
				t.Errorf("%d: %v", i, err)
			}
		}
	}
}

func itemsOf(toks []*Token, keys []*PublicKey) []batchItem {
	items := make([]batchItem, len(toks))
	for i := range toks {
		items[i] = batchItem{pub: keys[i].ed, msg: toks[i].input, sig: toks[i].sig}
	}
	return items
}

// TestVerifyAllNonCanonical: S + L (the same signature with S not reduced)
// and non-canonical encodings of R, which crypto/ed25519 refuses, are
// refused in a batch too, though the point they decode to satisfies the
// batch equation.
func TestVerifyAllNonCanonical(t *testing.T) {
	a := newTestSigner(t, 1)
	// S + L: L = 2^252 + 27742317777372353535851937790883648493.
	addL := func(sig []byte) []byte {
		l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
		out := bytes.Clone(sig)
		var carry uint16
		for i := range 32 {
			v := uint16(out[32+i]) + uint16(l[i]) + carry
			out[32+i], carry = byte(v), v>>8
		}
		return out
	}
	id := edwards25519.NewIdentityPoint()
	T4 := smallOrder(t)
	T4.Add(T4, T4)
	T4.Add(T4, T4)                  // order 2: (0, -1)
	yPlusP := func(y byte) []byte { // y + p for small y, sign bit clear
		b := bytes.Repeat([]byte{0xff}, 32)
		b[0], b[31] = 0xed+y, 0x7f
		return b
	}
	withSign := func(enc []byte) []byte { b := bytes.Clone(enc); b[31] |= 0x80; return b }
	cases := map[string]func(msg []byte) []byte{
		"S+L": func(msg []byte) []byte { return addL(ed25519.Sign(a.priv, msg)) },
		// Identity R encoded as y = p + 1, and with the sign bit set; the
		// order-2 point (0, -1) with the sign bit set. S = k·a satisfies
		// the batch equation for each.
		"R y=p+1":        func(msg []byte) []byte { return a.craftAt(msg, id, yPlusP(1)) },
		"R -0 identity":  func(msg []byte) []byte { return a.craftAt(msg, id, withSign(id.Bytes())) },
		"R -0 order two": func(msg []byte) []byte { return a.craftAt(msg, T4, withSign(T4.Bytes())) },
	}
	for name, mk := range cases {
		for _, n := range []int{2, 7} {
			for pos := range n {
				toks, keys := honestBatch([]*testSigner{a}, n)
				toks[pos].sig = mk(toks[pos].input)
				if ed25519.Verify(a.pub, toks[pos].input, toks[pos].sig) {
					t.Fatalf("%s: crypto/ed25519 accepts it", name)
				}
				errs := VerifyAll(toks, keys)
				for i, err := range errs {
					if (i == pos) != (err != nil) {
						t.Fatalf("%s, batch of %d at %d: token %d: %v", name, n, pos, i, err)
					}
				}
			}
		}
	}
}

// craftAt signs msg with R = P (a point whose discrete log is 0, the
// identity or a small-order point) encoded as enc, and S = k·a: it
// satisfies the cofactored equation, [8](S·B - k·A - R) = [8](-R) = 0.
func (s *testSigner) craftAt(msg []byte, P *edwards25519.Point, enc []byte) []byte {
	h := sha512.New()
	h.Write(enc)
	h.Write(s.pub)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	S := edwards25519.NewScalar().Multiply(k, s.a)
	return append(bytes.Clone(enc), S.Bytes()...)
}

// TestVerifyAllSmallOrderKeys: keys with a small-order component, and
// small-order keys (under which anyone can sign), are checked alone, so a
// batch's verdicts are crypto/ed25519's. Each set below satisfies the
// cofactored batch equation as a whole, so a batch that took such keys
// would accept every signature; crypto/ed25519 accepts about 1 in 8.
func TestVerifyAllSmallOrderKeys(t *testing.T) {
	a := newTestSigner(t, 1)
	T := smallOrder(t)
	torsioned := new(edwards25519.Point).Add(mustPoint(t, a.pub), T).Bytes()
	sets := map[string]func(i int) (pub, msg, sig []byte){
		// The key A + T, published by a's holder, who signs with S = r +
		// k·a, k hashing A + T: S·B - R - k·(A + T) = -k·T.
		"torsioned key, its holder signs": func(i int) ([]byte, []byte, []byte) {
			msg := fmt.Appendf(nil, "m%d", i)
			return torsioned, msg, a.craftUnder(torsioned, msg)
		},
		// Under a small-order key T, anyone signs: R = s·B, S = s, and
		// S·B - R - k·T = -k·T.
		"small-order key, anyone signs": func(i int) ([]byte, []byte, []byte) {
			return T.Bytes(), fmt.Appendf(nil, "forged %d", i), anyoneSigns(i)
		},
		// Under the identity, every such signature verifies both ways.
		"identity key, anyone signs": func(i int) ([]byte, []byte, []byte) {
			return edwards25519.NewIdentityPoint().Bytes(), fmt.Appendf(nil, "forged %d", i), anyoneSigns(i)
		},
	}
	for name, mk := range sets {
		var toks []*Token
		var keys []*PublicKey
		var want []bool
		acc := 0
		for i := range 24 {
			pub, msg, sig := mk(i)
			toks = append(toks, token("s", msg, sig))
			keys = append(keys, &PublicKey{alg: EdDSA, kid: "s", ed: pub})
			want = append(want, ed25519.Verify(pub, msg, sig))
			if want[i] {
				acc++
			}
		}
		// And a's honest signatures.
		ht, hk := honestBatch([]*testSigner{a}, 3)
		toks, keys, want = append(toks, ht...), append(keys, hk...), append(want, true, true, true)
		got := verdicts(toks, keys)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: token %d: batch %v, crypto/ed25519 %v", name, i, got[i], want[i])
			}
		}
		if name != "identity key, anyone signs" && (acc == 0 || acc == 24) {
			t.Fatalf("%s: crypto/ed25519 accepts %d of 24: the set does not tell the equations apart", name, acc)
		}
	}
	if _, ok := primeOrderKey(torsioned); ok {
		t.Fatal("a key with a small-order component is taken as of prime order")
	}
}

// anyoneSigns returns R = s·B, S = s for an s of its own.
func anyoneSigns(i int) []byte {
	sc, _ := edwards25519.NewScalar().SetUniformBytes(bytes.Repeat([]byte{byte(i + 1)}, 64))
	return append(new(edwards25519.Point).ScalarBaseMult(sc).Bytes(), sc.Bytes()...)
}

// craftUnder signs msg with s's secret scalar as if pub were its key (k
// hashes pub): an honest signature under a key that is s's plus a
// small-order point.
func (s *testSigner) craftUnder(pub, msg []byte) []byte {
	var rb [64]byte
	copy(rb[:], msg)
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb[:])
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	h := sha512.New()
	h.Write(R)
	h.Write(pub)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	return append(R, edwards25519.NewScalar().MultiplyAdd(k, s.a, r).Bytes()...)
}

// TestVerifyAllTorsionedR pins the one documented difference: a signature
// whose R has a small-order component, made with the private key, passes
// in a batch that verifies (the cofactored equation) and is refused alone
// (crypto/ed25519); the same R made by anyone else (an honest signature's
// R moved by T) is refused both ways.
func TestVerifyAllTorsionedR(t *testing.T) {
	a := newTestSigner(t, 1)
	T := smallOrder(t)
	msg := []byte("crafted by the key's holder")
	crafted := a.craft(msg, T, nil)
	if ed25519.Verify(a.pub, msg, crafted) {
		t.Fatal("crypto/ed25519 accepts a torsioned R")
	}
	toks, keys := honestBatch([]*testSigner{a}, 4)
	toks = append(toks, token(a.kid, msg, crafted))
	keys = append(keys, a.key())
	if errs := VerifyAll(toks, keys); errors.Join(errs...) != nil {
		t.Fatalf("the holder's torsioned R in a verifying batch: %v", errors.Join(errs...))
	}
	// In a batch that fails, it is checked alone and refused.
	toks[0].sig[9] ^= 1
	errs := VerifyAll(toks, keys)
	if !errors.Is(errs[0], ErrBadSignature) || !errors.Is(errs[4], ErrBadSignature) {
		t.Fatalf("in a failing batch: %v", errs)
	}
	// Anyone else: R + T on an honest signature.
	toks, keys = honestBatch([]*testSigner{a}, 4)
	R, _ := new(edwards25519.Point).SetBytes(toks[2].sig[:32])
	copy(toks[2].sig, R.Add(R, T).Bytes())
	errs = VerifyAll(toks, keys)
	for i, err := range errs {
		if (i == 2) != errors.Is(err, ErrBadSignature) {
			t.Fatalf("R + T by another: token %d: %v", i, err)
		}
	}
}

// breakages are what anyone can do to an honest signature.
var breakages = []func(r *rand.Rand, sig, msg []byte, other ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey){
	func(r *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // a bit of sig
		sig[r.IntN(64)] ^= 1 << r.IntN(8)
		return sig, msg, nil
	},
	func(r *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // the message
		return sig, append(msg, byte(r.Uint32())), nil
	},
	func(_ *rand.Rand, sig, msg []byte, other ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // another key
		return sig, msg, other
	},
	func(r *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // random R
		for i := range 32 {
			sig[i] = byte(r.Uint32())
		}
		return sig, msg, nil
	},
	func(r *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // random S, maybe ≥ L
		for i := 32; i < 64; i++ {
			sig[i] = byte(r.Uint32())
		}
		sig[63] &= 0x1f
		return sig, msg, nil
	},
	func(r *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // top bits of S
		sig[63] |= 0x20 << r.IntN(3)
		return sig, msg, nil
	},
	func(_ *rand.Rand, sig, msg []byte, _ ed25519.PublicKey) ([]byte, []byte, ed25519.PublicKey) { // R's sign bit
		sig[31] ^= 0x80
		return sig, msg, nil
	},
}

// TestVerifyAllDifferential generates batches of honest and broken
// signatures over random keys and messages and compares VerifyAll's
// verdict on each with crypto/ed25519's.
func TestVerifyAllDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	signers := []*testSigner{newTestSigner(t, 1), newTestSigner(t, 2), newTestSigner(t, 3), newTestSigner(t, 4)}
	rounds, accepted, refused := 60, 0, 0
	for round := range rounds {
		n := 1 + r.IntN(50)
		bad := r.IntN(4) // 0 or up to a few broken signatures
		toks := make([]*Token, n)
		keys := make([]*PublicKey, n)
		want := make([]bool, n)
		for i := range n {
			sg := signers[r.IntN(len(signers))]
			if round%2 == 0 {
				sg = signers[0] // one origin, as a batch usually is
			}
			msg := make([]byte, 1+r.IntN(300))
			for j := range msg {
				msg[j] = byte(r.Uint32())
			}
			sig, pub := ed25519.Sign(sg.priv, msg), sg.pub
			if bad > 0 && r.IntN(n) < bad {
				var p ed25519.PublicKey
				sig, msg, p = breakages[r.IntN(len(breakages))](r, sig, msg, signers[(r.IntN(3)+1)%len(signers)].pub)
				if p != nil {
					pub = p
				}
			}
			toks[i] = token("k", msg, sig)
			keys[i] = &PublicKey{alg: EdDSA, kid: "k", ed: pub}
			want[i] = ed25519.Verify(pub, msg, sig)
		}
		got := verdicts(toks, keys)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("round %d, token %d of %d: VerifyAll %v, crypto/ed25519 %v", round, i, n, got[i], want[i])
			}
			if want[i] {
				accepted++
			} else {
				refused++
			}
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("accepted %d, refused %d: the generator tests one verdict only", accepted, refused)
	}
}

// FuzzVerifyAll patches the bytes (key, signature, message) of a batch of
// honest signatures as the fuzzer says and compares each verdict with
// crypto/ed25519's. Input: the batch size in its first byte, then patches
// of four bytes: item, offset (two bytes), value.
func FuzzVerifyAll(f *testing.F) {
	signers := []*testSigner{newTestSigner(f, 1), newTestSigner(f, 2)}
	f.Add([]byte{3})
	f.Add([]byte{5, 1, 40, 0, 0x80})
	f.Add([]byte{2, 0, 63, 0, 0x10, 1, 33, 0, 0xff})
	f.Add([]byte{4, 2, 0, 0, 1, 2, 31, 0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := 1 + int(data[0])%12
		bufs := make([][]byte, n) // pub || sig || msg
		for i := range bufs {
			sg := signers[i%len(signers)]
			msg := fmt.Appendf(nil, "fuzzed message %d", i)
			bufs[i] = append(append(bytes.Clone(sg.pub), ed25519.Sign(sg.priv, msg)...), msg...)
		}
		for p := data[1:]; len(p) >= 4; p = p[4:] {
			b := bufs[int(p[0])%n]
			b[int(binary.LittleEndian.Uint16(p[1:3]))%len(b)] = p[3]
		}
		toks := make([]*Token, n)
		keys := make([]*PublicKey, n)
		for i, b := range bufs {
			toks[i] = token("k", b[96:], b[32:96])
			keys[i] = &PublicKey{alg: EdDSA, kid: "k", ed: b[:32]}
		}
		got := verdicts(toks, keys)
		for i, b := range bufs {
			if want := ed25519.Verify(b[:32], b[96:], b[32:96]); got[i] != want {
				t.Fatalf("token %d of %d: VerifyAll %v, crypto/ed25519 %v", i, n, got[i], want)
			}
		}
	})
}

func benchBatch(b *testing.B, n int, all bool) {
	a := newTestSigner(b, 1)
	toks, keys := honestBatch([]*testSigner{a}, n)
	for i := range toks {
		toks[i].input = bytes.Repeat(toks[i].input, 40) // about an envelope's size
		toks[i].sig = ed25519.Sign(a.priv, toks[i].input)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if all {
			if err := errors.Join(VerifyAll(toks, keys)...); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for i, tok := range toks {
			if _, err := tok.Verify(keys[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1e3, "µs/sig")
}

func BenchmarkVerifyEach50(b *testing.B) { benchBatch(b, 50, false) }
func BenchmarkVerifyAll50(b *testing.B)  { benchBatch(b, 50, true) }
func BenchmarkVerifyAll10(b *testing.B)  { benchBatch(b, 10, true) }
