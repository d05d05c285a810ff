package fedadmin

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// kidRE is what a kid must look like to name a key file (RFC 7638
// thumbprints, FLX's kids, are base64url).
var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// RotateOptions tune RotateKey.
type RotateOptions struct {
	// NotBefore is the new key's nbf (default now). Peers accept signatures
	// by it from then on.
	NotBefore time.Time
	// Overlap is how long after NotBefore the previous key stays valid
	// (its exp), so that envelopes signed before the switch and peers
	// holding the previous manifest keep working. Default DefaultOverlap.
	Overlap time.Duration
	// Alg of the new key; default the current key's.
	Alg jose.Alg
}

// Rotation is the outcome of RotateKey.
type Rotation struct {
	*Change
	OldKID     string
	NewKID     string
	NotBefore  time.Time // the new key's nbf
	OldExpires time.Time // the previous key's exp
	// Dropped lists kids of the member's keys that had expired: they were
	// removed from the manifest and their key files deleted.
	Dropped []string
}

// RotateKey gives member id a new signing key. The manifest lists the new
// key with nbf NotBefore and the current one with exp NotBefore+Overlap.
// In the member's data/keys/ the new private key becomes signing.jwk and
// the previous one is kept as signing.<kid>.jwk until its exp: a node signs
// with the newest key that is valid (nbf passed) and peers keep verifying
// the previous one until its exp.
func (a *Admin) RotateKey(id string, ro RotateOptions) (r *Rotation, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("federation rotate-key: %w", err)
		}
	}()
	now := a.o.now()
	mb, ok := a.cur.Member(id)
	if !ok {
		return nil, fmt.Errorf("no member %s in the federation", id)
	}
	signingPath := MemberPath(a.dir, id, MemberSigningKeyFile)
	old, err := jose.LoadPrivateKey(signingPath)
	if err != nil {
		return nil, fmt.Errorf("member %s's current signing key (its folder must be here to rotate): %w", id, err)
	}
	oldPub := mb.JWKS.Key(old.KID())
	if oldPub == nil || !oldPub.SameKey(old.Public()) {
		return nil, fmt.Errorf("%s (kid %s) is not one of member %s's keys in the manifest", signingPath, old.KID(), id)
	}
	if !kidRE.MatchString(old.KID()) {
		return nil, fmt.Errorf("kid %q cannot name a key file", old.KID())
	}
	overlap := ro.Overlap
	if overlap == 0 {
		overlap = DefaultOverlap
	}
	if overlap < 0 {
		return nil, fmt.Errorf("overlap %s is negative", overlap)
	}
	nbf := ro.NotBefore
	if nbf.IsZero() {
		nbf = now
	}
	nbf = nbf.UTC().Truncate(time.Second)
	oldExp := nbf.Add(overlap)
	if e := oldPub.Expires(); !e.IsZero() && e.Before(oldExp) {
		oldExp = e // already ending sooner: keep that
	}
	if !oldExp.After(nbf) {
		return nil, fmt.Errorf("member %s's current key expires at %s, not after the new key's nbf %s: there would be no overlap", id, oldExp.Format(time.RFC3339), nbf.Format(time.RFC3339))
	}
	alg := ro.Alg
	if alg == "" {
		alg = old.Alg()
	}
	key, err := jose.GenerateKey(alg)
	if err != nil {
		return nil, err
	}
	if _, _, used := a.cur.KeyByKID(key.KID()); used || !kidRE.MatchString(key.KID()) {
		return nil, fmt.Errorf("new kid %q is unusable", key.KID())
	}

	// The new key is saved under its kid first, so that it is never lost,
	// and becomes signing.jwk only once the manifest listing it is out.
	newPath := MemberPath(a.dir, id, oldSigningKeyFile(key.KID()))
	if err := savePrivateKey(newPath, key); err != nil {
		return nil, err
	}
	published := false
	defer func() {
		if err != nil && !published {
			_ = os.Remove(newPath)
		}
	}()

	r = &Rotation{OldKID: old.KID(), NewKID: key.KID(), NotBefore: nbf, OldExpires: oldExp}
	m, raw, err := a.resign(func(n *federation.Manifest) error {
		nm := findMember(n, id)
		keys := make(jose.KeySet, 0, len(nm.JWKS)+1)
		for _, k := range nm.JWKS {
			switch {
			case k.KID() == old.KID():
				keys = append(keys, k.WithValidity(k.NotBefore(), oldExp))
			case !k.Expires().IsZero() && !now.Before(k.Expires()):
				r.Dropped = append(r.Dropped, k.KID())
			default:
				keys = append(keys, k)
			}
		}
		nm.JWKS = append(keys, key.Public().WithValidity(nbf, time.Time{}))
		return nil
	})
	if err != nil {
		return nil, err
	}
	published = true
	if r.Change, err = a.publish(m, raw); err != nil {
		return r, err
	}

	// Keep the previous key under its kid, then make the new one signing.jwk
	// (a rename, so signing.jwk always exists).
	oldBytes, err := os.ReadFile(signingPath)
	if err != nil {
		return r, err
	}
	keepPath := MemberPath(a.dir, id, oldSigningKeyFile(old.KID()))
	if err := writeNew(keepPath, oldBytes, 0o600); err != nil {
		held, rerr := os.ReadFile(keepPath)
		if !errors.Is(err, fs.ErrExist) || rerr != nil || !bytes.Equal(held, oldBytes) {
			return r, fmt.Errorf("keeping the previous key: %w", err)
		}
	}
	if err := os.Rename(newPath, signingPath); err != nil {
		return r, fmt.Errorf("installing the new key (it is in %s): %w", newPath, err)
	}
	syncDir(MemberPath(a.dir, id, MemberKeysDir))
	for _, kid := range r.Dropped {
		if kidRE.MatchString(kid) {
			_ = os.Remove(MemberPath(a.dir, id, oldSigningKeyFile(kid)))
		}
	}
	return r, nil
}

// CurrentSigningKey picks the key a node signs with at now from its key
// files: signingKeyPath (data/keys/signing.jwk, the newest key) and the
// previous keys kept next to it as signing.<kid>.jwk. Of those listed for
// the member in the manifest and valid at now, it returns the one with the
// latest nbf, so that a key rotated in with a future nbf is used only from
// then on. With none valid it returns the key in signingKeyPath.
func CurrentSigningKey(signingKeyPath string, mb *federation.Member, now time.Time) (*jose.PrivateKey, error) {
	newest, err := jose.LoadPrivateKey(signingKeyPath)
	if err != nil {
		return nil, err
	}
	best, bestNBF := (*jose.PrivateKey)(nil), time.Time{}
	consider := func(k *jose.PrivateKey) {
		pub := mb.JWKS.Key(k.KID())
		if pub == nil || !pub.SameKey(k.Public()) || !pub.ValidAt(now, 0) {
			return
		}
		if best == nil || pub.NotBefore().After(bestNBF) {
			best, bestNBF = k, pub.NotBefore()
		}
	}
	consider(newest)
	dir := filepath.Dir(signingKeyPath)
	for _, pub := range mb.JWKS {
		if pub.KID() == newest.KID() || !kidRE.MatchString(pub.KID()) {
			continue
		}
		k, err := jose.LoadPrivateKey(filepath.Join(dir, "signing."+pub.KID()+".jwk"))
		if err != nil {
			continue
		}
		consider(k)
	}
	if best == nil {
		return newest, nil
	}
	return best, nil
}
