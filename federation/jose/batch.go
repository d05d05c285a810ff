package jose

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"sync"

	"filippo.io/edwards25519"
)

// VerifyAll checks toks[i] against keys[i] exactly as toks[i].Verify(keys[i])
// would and returns one error per token: nil where the signature verified,
// otherwise the error Verify returns. The Ed25519 signatures among them are
// checked together in one batch equation (ed25519Batch), which costs a
// fraction of checking them one by one; when that batch fails, each is
// checked alone with crypto/ed25519, so a forged signature is refused alone,
// with Verify's error, and the others are accepted.
//
// What a batch accepts: every signature crypto/ed25519 accepts, and none it
// refuses but one whose R carries a small-order component (see ed25519Batch).
func VerifyAll(toks []*Token, keys []*PublicKey) []error {
	if len(toks) != len(keys) {
		panic("jose: VerifyAll: one key per token")
	}
	errs := make([]error, len(toks))
	var batch []int // tokens whose Ed25519 signature goes in the batch
	for i, t := range toks {
		k := keys[i]
		if k == nil || k.kid != t.hdr.KID || k.alg != EdDSA || t.hdr.Alg != EdDSA ||
			len(t.sig) != ed25519.SignatureSize || len(k.ed) != ed25519.PublicKeySize {
			// Refused (Verify says why), or not Ed25519: checked alone.
			_, errs[i] = t.Verify(k)
			continue
		}
		batch = append(batch, i)
	}
	// Equations of at most maxBatch signatures: their tables stay small,
	// and one forgery costs at most maxBatch checks alone.
	items := make([]batchItem, 0, min(len(batch), maxBatch))
	for len(batch) > 0 {
		part := batch[:min(len(batch), maxBatch)]
		batch = batch[len(part):]
		if len(part) == 1 {
			// A batch of one costs more than crypto/ed25519 alone.
			_, errs[part[0]] = toks[part[0]].Verify(keys[part[0]])
			continue
		}
		items = items[:0]
		for _, i := range part {
			items = append(items, batchItem{pub: keys[i].ed, msg: toks[i].input, sig: toks[i].sig})
		}
		if ed25519Batch(items) {
			continue
		}
		for _, i := range part {
			_, errs[i] = toks[i].Verify(keys[i])
		}
	}
	return errs
}

// maxBatch bounds the signatures of one equation (a node's batches hold
// up to 100 envelopes by default; a carried bundle many more).
const maxBatch = 128

// batchItem is one Ed25519 signature to check: sig over msg by pub.
type batchItem struct {
	pub ed25519.PublicKey
	msg []byte
	sig []byte
}

// ed25519Batch reports whether every signature of items verifies, checking
// them in one equation: with 128-bit random z_i from crypto/rand, k_i =
// SHA-512(R_i || A_i || M_i) and the keys grouped (one term per distinct
// key, so a batch from one origin costs one key term),
//
//	[8]( -(Σ z_i·S_i)·B + Σ z_i·R_i + Σ_A (Σ_{i∈A} z_i·k_i)·A ) == identity.
//
// It returns false, leaving each signature to crypto/ed25519 alone, for
// anything crypto/ed25519 would refuse before its equation (a key or R that
// does not decode, S ≥ L) and for what the two equations could judge
// differently:
//
//   - R must be the canonical encoding of a point: crypto/ed25519 compares
//     the encoding of the R it computes with the bytes received, so it
//     refuses a non-canonical R (y ≥ p, or x = 0 with the sign bit set)
//     that decodes to a valid point;
//   - the key must be of prime order (no small-order component, not the
//     identity): with such a key the cofactored equation below and
//     crypto/ed25519's cofactorless one differ on signatures anyone could
//     make. Manifest keys never are; this is checked once per key.
//
// The equation is the cofactored one (the [8]), as batch verification must
// be: without it, the small-order parts of two signatures could cancel each
// other in the sum, and a batch's verdict would depend on the random z_i.
// crypto/ed25519 checks one signature without the cofactor. With a key of
// prime order the two differ only on a signature whose R = r·B + T with T of
// small order (≠ identity) and S = r + k·a: it satisfies the cofactored
// equation, not the cofactorless one. Making one needs the private key a
// (S must match k, which hashes R), so only the key's holder can send such a
// signature, over what it could sign anyway; FLX's signer (crypto/ed25519)
// never makes one. Such a signature passes in a batch that verifies and is
// refused when checked alone. We accept that difference rather than pay, per
// signature, the scalar multiplication that would prove R of prime order
// (it would cost about what the batch saves).
func ed25519Batch(items []batchItem) bool {
	n := len(items)
	if n == 0 {
		return true
	}
	zs := make([]byte, 16*n)
	if _, err := rand.Read(zs); err != nil {
		return false // crypto/rand does not fail (Go 1.24+); be safe anyway
	}
	// scalars/points: B, then each R_i, then each distinct key.
	scalars := make([]*edwards25519.Scalar, 1, 2+n)
	points := make([]*edwards25519.Point, 1, 2+n)
	sVals := make([]edwards25519.Scalar, 2*n+1)
	rPts := make([]edwards25519.Point, n)
	bCoef := &sVals[2*n]
	keyIdx := make(map[string]int, 1) // key bytes -> index in keyPts
	var keyPts []*edwards25519.Point
	var (
		s, k, z edwards25519.Scalar
		zb      [32]byte
		h       [sha512.Size]byte
	)
	d := sha512.New()
	for i, it := range items {
		sig, pub := it.sig, it.pub
		if len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
			return false
		}
		if _, err := s.SetCanonicalBytes(sig[32:]); err != nil {
			return false // S ≥ L: crypto/ed25519 refuses it
		}
		if !canonicalPoint(sig[:32]) {
			return false
		}
		if _, err := rPts[i].SetBytes(sig[:32]); err != nil {
			return false
		}
		j, seen := keyIdx[string(pub)]
		if !seen {
			a, ok := primeOrderKey(pub)
			if !ok {
				return false
			}
			j = len(keyPts)
			keyIdx[string(pub)] = j
			keyPts = append(keyPts, a)
		}
		d.Reset()
		d.Write(sig[:32])
		d.Write(pub)
		d.Write(it.msg)
		d.Sum(h[:0])
		if _, err := k.SetUniformBytes(h[:]); err != nil {
			return false
		}
		copy(zb[:16], zs[16*i:16*i+16]) // zb[16:] stays zero: z < 2^128 < L
		if _, err := z.SetCanonicalBytes(zb[:]); err != nil {
			return false
		}
		// B's coefficient accumulates -Σ z_i·S_i (negated at the end).
		bCoef.MultiplyAdd(&z, &s, bCoef)
		zi := &sVals[i]
		zi.Set(&z)
		scalars = append(scalars, zi)
		points = append(points, &rPts[i])
		// The key's coefficient accumulates Σ z_i·k_i.
		kc := &sVals[n+j]
		kc.MultiplyAdd(&z, &k, kc)
	}
	// The key terms go after the R terms, in the order first seen.
	for j, a := range keyPts {
		scalars = append(scalars, &sVals[n+j])
		points = append(points, a)
	}
	bCoef.Negate(bCoef)
	scalars[0], points[0] = bCoef, edwards25519.NewGeneratorPoint()
	var sum edwards25519.Point
	sum.VarTimeMultiScalarMult(scalars, points)
	sum.MultByCofactor(&sum)
	return sum.Equal(edwards25519.NewIdentityPoint()) == 1
}

// canonicalPoint reports whether b is a canonical point encoding as far as
// its bytes tell: y < p = 2^255 - 19, and no sign bit when x = 0 (y = 1 or
// y = p - 1, the only points with x = 0). Whether it decodes at all is left
// to Point.SetBytes.
func canonicalPoint(b []byte) bool {
	sign := b[31] >> 7
	top := b[31] & 0x7f
	// y ≥ p: the top 31 bytes hold 2^255-1 (0x7f ff .. ff) and the lowest
	// byte is at least 0xed.
	allOnes := top == 0x7f
	for i := 1; i < 31 && allOnes; i++ {
		allOnes = b[i] == 0xff
	}
	if allOnes && b[0] >= 0xed {
		return false
	}
	if sign == 1 {
		// y = 1: 01 00 .. 00; y = p - 1: ec ff .. ff 7f.
		one, minusOne := b[0] == 0x01 && top == 0, b[0] == 0xec && allOnes
		for i := 1; i < 31 && one; i++ {
			one = b[i] == 0
		}
		if one || minusOne {
			return false
		}
	}
	return true
}

// primeKeys remembers, for the few keys a node verifies with, their
// decoded point and whether it is of prime order (checked with one scalar
// multiplication by L, the cost of a signature check, so once per key).
// At most primeKeysSize are kept (then each further key is checked anew,
// once per batch: a federation has far fewer keys).
var primeKeys = struct {
	sync.RWMutex
	m map[string]*edwards25519.Point // nil: not of prime order
}{m: map[string]*edwards25519.Point{}}

const primeKeysSize = 1024

// lMinus1 is L - 1, the largest scalar: [L]P is computed as [L-1]P + P.
var lMinus1 = func() *edwards25519.Scalar {
	one := make([]byte, 32)
	one[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(one)
	return edwards25519.NewScalar().Negate(s) // -1 mod L = L - 1
}()

// primeOrderKey decodes pub and reports whether it is a point of prime
// order L (neither the identity nor with a small-order component).
func primeOrderKey(pub []byte) (*edwards25519.Point, bool) {
	primeKeys.RLock()
	a, seen := primeKeys.m[string(pub)]
	primeKeys.RUnlock()
	if seen {
		return a, a != nil
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err == nil {
		id := edwards25519.NewIdentityPoint()
		lA := new(edwards25519.Point).ScalarMult(lMinus1, a)
		lA.Add(lA, a)
		if a.Equal(id) == 1 || lA.Equal(id) != 1 {
			a = nil
		}
	} else {
		a = nil
	}
	primeKeys.Lock()
	if len(primeKeys.m) < primeKeysSize {
		primeKeys.m[string(pub)] = a
	}
	primeKeys.Unlock()
	return a, a != nil
}
