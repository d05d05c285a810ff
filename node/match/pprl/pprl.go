package pprl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node/match"
)

// Version is the version of the encoding format.
const Version = 1

// Params are the encoding parameters; two encodings compare only when
// their parameters and key ids are equal.
type Params struct {
	// Bits is the length of each filter (multiple of 64).
	Bits int `json:"l"`
	// KSkeleton and KPhonetic are the bits set per bigram of a word's
	// skeleton and of its phonetic form; KYear the bits for the birth
	// years, spread over the years of the interval; KSex the bits for sex.
	KSkeleton int `json:"k_skel"`
	KPhonetic int `json:"k_phon"`
	KYear     int `json:"k_year"`
	KSex      int `json:"k_sex"`
	// Flip is the probability with which each bit is flipped (BLIP).
	Flip float64 `json:"flip"`
	// BlockBits is the size, in bits, of the keyed block hashes.
	BlockBits int `json:"block_bits"`
}

// DefaultParams are the parameters FLX uses; see doc.go for why.
var DefaultParams = Params{Bits: 1024, KSkeleton: 16, KPhonetic: 0, KYear: 24, KSex: 8, Flip: 0.02, BlockBits: 16}

// Limits of a decoded encoding: a hostile peer may send anything.
const (
	MaxFilters  = 8
	MaxBlocks   = 256
	MaxYearSpan = 12
	minSecret   = 32
)

// Secret is a federation matching secret for one key epoch.
type Secret struct {
	// ID names the epoch's key; it travels with every encoding.
	ID  string
	Key []byte
}

// Encoding is a person encoded for privacy-preserving matching: the wire
// form (JSON) is documented in doc.go.
type Encoding struct {
	V       int       `json:"v"`
	Alg     string    `json:"alg"`
	KeyID   string    `json:"kid"`
	Params  Params    `json:"params"`
	Expires time.Time `json:"exp"`
	// Filters are the Bloom filters (one per written form of the name,
	// with birth years and sex), base64 (standard, padded) of Bits/8
	// bytes.
	Filters []string `json:"filters"`
	// Blocks are keyed block hashes, base64url without padding.
	Blocks []string `json:"blocks"`

	filters [][]uint64
}

// Alg is the only algorithm of version 1.
const Alg = "clk-hmac-sha256-blip"

// Errors with stable codes.
var (
	ErrMalformed = errors.New("pprl: malformed encoding")
	ErrExpired   = errors.New("pprl: encoding expired")
	ErrMismatch  = errors.New("pprl: encodings made with other parameters or another key")
	ErrSecret    = errors.New("pprl: secret too short")
	ErrNoName    = errors.New("pprl: person has no name to encode")
)

// keyFor derives the key of one field (or of blocking) from the secret:
// HMAC-SHA256(secret, label), so that each field hashes with its own key.
func keyFor(s Secret, label string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("flx-pprl/v1/" + label))
	return m.Sum(nil)
}

type encoder struct {
	p      Params
	keys   map[string][]byte
	filter []uint64
}

// set sets k bits for token in field: positions come from
// HMAC-SHA256(field key, token) read two bytes at a time (Bits divides
// 65536, so each is uniform), with a counter for more than 16 positions;
// never double hashing, which leaks (Niedermeyer et al., 2014).
func (e *encoder) set(field, token string, k int) {
	key := e.keys[field]
	for c := 0; k > 0; c++ {
		m := hmac.New(sha256.New, key)
		m.Write([]byte{byte(c)})
		m.Write([]byte(token))
		sum := m.Sum(nil)
		for i := 0; i+1 < len(sum) && k > 0; i += 2 {
			pos := int(binary.BigEndian.Uint16(sum[i:])) % e.p.Bits
			e.filter[pos/64] |= 1 << (pos % 64)
			k--
		}
	}
}

func bigrams(s string) []string {
	s = "_" + s + "_"
	var out []string
	for i := 0; i+2 <= len(s); i++ {
		out = append(out, s[i:i+2])
	}
	return out
}

func (p Params) check() error {
	if p.Bits <= 0 || p.Bits%64 != 0 || 65536%p.Bits != 0 || p.Flip < 0 || p.Flip >= 0.5 || p.BlockBits < 8 || p.BlockBits > 64 {
		return fmt.Errorf("%w: bad parameters", ErrMalformed)
	}
	return nil
}

// Encode encodes a prepared person. rnd is the source of the bit flips
// (crypto/rand when nil). Encode a person once per key epoch and keep the
// encoding: fresh noise on every query would let a receiver average it
// away.
func Encode(p *match.Person, s Secret, params Params, expires time.Time, rnd io.Reader) (*Encoding, error) {
	if len(s.Key) < minSecret {
		return nil, ErrSecret
	}
	if err := params.check(); err != nil {
		return nil, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	e := &encoder{p: params, keys: map[string][]byte{}}
	for _, f := range []string{"skel", "phon", "year", "sex", "block"} {
		e.keys[f] = keyFor(s, f)
	}
	enc := &Encoding{V: Version, Alg: Alg, KeyID: s.ID, Params: params, Expires: expires.UTC().Truncate(time.Second)}
	lo, hi, hasYear := p.BirthYears()
	if hi-lo+1 > MaxYearSpan {
		hasYear = false
	}
	blocks := map[string]bool{}
	rend := p.Renderings()
	if len(rend) == 0 {
		return nil, ErrNoName
	}
	for ri, r := range rend {
		if ri == MaxFilters {
			break
		}
		e.filter = make([]uint64, params.Bits/64)
		for _, t := range r {
			for _, g := range bigrams(t.Skeleton) {
				e.set("skel", g, params.KSkeleton)
			}
			if !t.Abjad && params.KPhonetic > 0 {
				for _, g := range bigrams(t.Phonetic) {
					e.set("phon", g, params.KPhonetic)
				}
			}
		}
		if hasYear && params.KYear > 0 {
			n := hi - lo + 1
			for y := lo; y <= hi; y++ {
				e.set("year", strconv.Itoa(y), max(1, params.KYear/n))
			}
		}
		if sx := string(p.Sex()); sx == "female" || sx == "male" {
			e.set("sex", sx, params.KSex)
		}
		if err := blip(e.filter, params.Flip, rnd); err != nil {
			return nil, err
		}
		enc.filters = append(enc.filters, e.filter)
		enc.Filters = append(enc.Filters, base64.StdEncoding.EncodeToString(toBytes(e.filter)))
	}
	// Blocks: the keyed hash, cut to BlockBits, of each of the person's
	// name-pair blocking keys (the skeleton of one name part with the
	// first letter of another: see match.Person.Keys), so that many name
	// pairs share each block. Keys of one word alone are left out: they
	// are few, frequent values that would stand out.
	for _, k := range p.Keys() {
		if strings.HasPrefix(k, "np:") {
			blocks[blockHash(e.keys["block"], k, params.BlockBits)] = true
		}
	}
	for b := range blocks {
		enc.Blocks = append(enc.Blocks, b)
	}
	sort.Strings(enc.Blocks)
	if len(enc.Blocks) > MaxBlocks {
		enc.Blocks = enc.Blocks[:MaxBlocks]
	}
	return enc, nil
}

func blockHash(key []byte, s string, nbits int) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	v := binary.BigEndian.Uint64(m.Sum(nil)) >> (64 - nbits)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return base64.RawURLEncoding.EncodeToString(b[8-(nbits+7)/8:])
}

// blip flips each bit with probability f (randomised response): the
// filter then gives each bit differential privacy with epsilon
// ln((1-f)/f) (Schnell and Borgs, 2016).
func blip(f []uint64, p float64, rnd io.Reader) error {
	if p == 0 {
		return nil
	}
	buf := make([]byte, 8*64)
	thr := uint64(p * (1 << 53))
	for w := range f {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return fmt.Errorf("pprl: randomness: %w", err)
		}
		for b := 0; b < 64; b++ {
			if binary.LittleEndian.Uint64(buf[b*8:])>>11 < thr {
				f[w] ^= 1 << b
			}
		}
	}
	return nil
}

func toBytes(f []uint64) []byte {
	b := make([]byte, 8*len(f))
	for i, w := range f {
		binary.BigEndian.PutUint64(b[8*i:], w)
	}
	return b
}

// Parse decodes and checks an encoding received from a peer: version,
// algorithm, parameters, sizes, base64, expiry (against now).
func Parse(data []byte, now time.Time) (*Encoding, error) {
	if len(data) > 64<<10 {
		return nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	var e Encoding
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := e.check(now); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *Encoding) check(now time.Time) error {
	if e.V != Version || e.Alg != Alg || e.KeyID == "" || len(e.KeyID) > 128 {
		return fmt.Errorf("%w: version, algorithm or key id", ErrMalformed)
	}
	if err := e.Params.check(); err != nil {
		return err
	}
	if e.Expires.IsZero() || !now.Before(e.Expires) {
		return ErrExpired
	}
	if len(e.Filters) == 0 || len(e.Filters) > MaxFilters || len(e.Blocks) > MaxBlocks {
		return fmt.Errorf("%w: number of filters or blocks", ErrMalformed)
	}
	e.filters = e.filters[:0]
	for _, s := range e.Filters {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != e.Params.Bits/8 {
			return fmt.Errorf("%w: filter", ErrMalformed)
		}
		f := make([]uint64, len(b)/8)
		for i := range f {
			f[i] = binary.BigEndian.Uint64(b[8*i:])
		}
		e.filters = append(e.filters, f)
	}
	want := (e.Params.BlockBits + 7) / 8
	for _, s := range e.Blocks {
		if b, err := base64.RawURLEncoding.DecodeString(s); err != nil || len(b) != want {
			return fmt.Errorf("%w: block", ErrMalformed)
		}
	}
	return nil
}

// Dice returns the best Dice coefficient between a filter of a and a
// filter of b. Both must have been made with the same parameters and key,
// and must not have expired at now.
func Dice(a, b *Encoding, now time.Time) (float64, error) {
	if a.KeyID != b.KeyID || a.Params != b.Params {
		return 0, ErrMismatch
	}
	if !now.Before(a.Expires) || !now.Before(b.Expires) {
		return 0, ErrExpired
	}
	best := 0.0
	for _, x := range a.filters {
		for _, y := range b.filters {
			best = max(best, dice(x, y))
		}
	}
	return best, nil
}

func dice(x, y []uint64) float64 {
	var inter, nx, ny int
	for i := range x {
		inter += bits.OnesCount64(x[i] & y[i])
		nx += bits.OnesCount64(x[i])
		ny += bits.OnesCount64(y[i])
	}
	if nx+ny == 0 {
		return 0
	}
	return 2 * float64(inter) / float64(nx+ny)
}
