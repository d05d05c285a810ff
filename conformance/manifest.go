package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/jose"
)

// Manifest mode (SPEC.md §13.2). The tester holds the conformance trust
// anchor, so it can sign any manifest, good or faulty. It writes each one
// to the file the candidate reads its manifest from and learns what the
// candidate holds from the manifest version of its metadata (FLX-API-001).
// A manifest the candidate must refuse stays in the file for two refresh
// intervals while the tester watches the version; one it must adopt is
// waited for up to the patience. Every manifest check ends by having the
// candidate adopt a fresh copy of the conformance manifest under a higher
// version, so that the checks after it see the federation of §13.1.

// manifestWriter is the state of manifest mode, shared by the checks of
// one run.
type manifestWriter struct {
	file    string
	refresh time.Duration
	anchor  *rawSigner
	// anchorPub is the anchor's public JWK as init wrote it (the "secret"
	// of the HS256 probe).
	anchorPub []byte
	// base is the payload of the conformance manifest.
	base []byte

	mu      sync.Mutex
	written int64 // highest version written so far
}

func newManifestWriter(id *Identity, file string, refresh time.Duration) (*manifestWriter, error) {
	if refresh <= 0 {
		refresh = time.Second
	}
	k, err := jose.LoadPrivateKey(filepath.Join(id.Dir, filepath.FromSlash(AnchorFile)))
	if err != nil {
		return nil, fmt.Errorf("conformance: manifest mode needs the trust anchor: %w", err)
	}
	pub, err := os.ReadFile(filepath.Join(id.Dir, filepath.FromSlash(AnchorPubFile)))
	if err != nil {
		return nil, fmt.Errorf("conformance: manifest mode: %w", err)
	}
	parts := strings.Split(string(id.Manifest.Raw()), ".")
	if len(parts) != 3 {
		return nil, errors.New("conformance: manifest mode: the conformance manifest is not a compact JWS")
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("conformance: manifest mode: %w", err)
	}
	if st, err := os.Stat(file); err != nil || st.IsDir() {
		return nil, fmt.Errorf("conformance: manifest mode: the candidate's manifest file %s: want an existing file", file)
	}
	return &manifestWriter{file: file, refresh: refresh, anchor: signerOf(k), anchorPub: bytes.TrimSpace(pub),
		base: payload, written: id.Manifest.Version}, nil
}

// manifestDoc is a manifest payload as generic JSON, for checks to break.
type manifestDoc map[string]any

// member returns the entry of member id (nil if absent).
func (d manifestDoc) member(id string) map[string]any {
	ms, _ := d["members"].([]any)
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok && mm["id"] == id {
			return mm
		}
	}
	return nil
}

func (d manifestDoc) payload() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// manifestDoc returns the conformance manifest's content under version
// (expiring in a day at the earliest, candidate's clock).
func (t *T) manifestDoc(version int64) manifestDoc {
	dec := json.NewDecoder(bytes.NewReader(t.manifest.base))
	dec.UseNumber()
	var d manifestDoc
	if err := dec.Decode(&d); err != nil {
		panic(err)
	}
	d["version"] = version
	if exp, err := time.Parse(time.RFC3339, fmt.Sprint(d["expires_at"])); err != nil || exp.Before(t.now().Add(24*time.Hour)) {
		d["issued_at"] = rfc3339(t.now().Add(-time.Minute))
		d["expires_at"] = rfc3339(t.now().Add(24 * time.Hour))
	}
	return d
}

func rfc3339(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }

// signManifest signs a payload as the trust anchor, with the exact header
// of FLX-MAN-001.
func (t *T) signManifest(payload []byte) []byte {
	s := t.manifest.anchor
	return compact(header(s.alg, s.kid, federation.TypManifest), payload, s)
}

// writeManifest replaces the candidate's manifest file with raw (nil
// removes it). The file is replaced in one rename, so that the candidate
// never reads half of it.
func (t *T) writeManifest(raw []byte, version int64) {
	t.Helper()
	m := t.manifest
	m.mu.Lock()
	defer m.mu.Unlock()
	if version > m.written {
		m.written = version
	}
	if raw == nil {
		if err := os.Remove(m.file); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Abortf("manifest mode: %v", err)
		}
		return
	}
	if err := writeAtomic(m.file, append(raw, '\n')); err != nil {
		t.Abortf("manifest mode: %v", err)
	}
}

// heldVersion reads the version of the manifest the candidate holds from
// its metadata, trying three times over a second (a busy machine).
func (t *T) heldVersion() (int64, error) {
	var err error
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(400 * time.Millisecond)
		}
		var ans *Answer
		ans, err = t.request(certTester, http.MethodGet, "/.well-known/flx", nil, "")
		if err != nil {
			continue
		}
		if ans.Status != http.StatusOK {
			err = fmt.Errorf("metadata: %s", ans)
			continue
		}
		md, perr := ParseMetadata(ans.Body)
		if perr != nil {
			return 0, fmt.Errorf("metadata: %v", perr)
		}
		return md.Manifest.Version, nil
	}
	return 0, err
}

// startManifest begins a manifest check: it returns the version the
// candidate holds and has the check end with the conformance manifest
// adopted again (restoreManifest).
func (t *T) startManifest() int64 {
	t.Helper()
	held, err := t.heldVersion()
	if err != nil {
		t.Abortf("manifest mode: the candidate's metadata before the check: %v", err)
	}
	return held
}

// adoptManifest writes a manifest the candidate must adopt and waits up to
// the patience for its metadata to show version. It reports whether the
// candidate adopted it.
func (t *T) adoptManifest(raw []byte, version int64) (bool, error) {
	t.writeManifest(raw, version)
	deadline := time.Now().Add(t.patience)
	var last error
	for {
		v, err := t.heldVersion()
		switch {
		case err == nil && v == version:
			return true, nil
		case err == nil:
			last = fmt.Errorf("the metadata shows version %d", v)
		default:
			last = err
		}
		if time.Now().After(deadline) || t.ctx.Err() != nil {
			return false, last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mustAdopt is adoptManifest for a manifest that sets up what the check
// probes: a candidate that does not adopt it cannot be checked (error).
func (t *T) mustAdopt(what string, d manifestDoc) int64 {
	t.Helper()
	v, _ := d["version"].(int64)
	if ok, err := t.adoptManifest(t.signManifest(d.payload()), v); !ok {
		t.Abortf("manifest mode: the candidate did not adopt %s (version %d) within %s (%v); is --manifest-file the file it reads, re-read every --manifest-refresh?",
			what, v, t.patience, err)
	}
	return v
}

// refuseManifest writes a manifest the candidate must not adopt, and
// watches its metadata for two refresh intervals: the held version must
// stay held, and the candidate must go on answering (FLX-MAN-005). It
// reports whether the candidate kept its manifest.
func (t *T) refuseManifest(what string, raw []byte, version, held int64) bool {
	t.Helper()
	t.writeManifest(raw, version)
	deadline := time.Now().Add(2*t.manifest.refresh + 300*time.Millisecond)
	for {
		v, err := t.heldVersion()
		switch {
		case err != nil:
			t.Errorf("%s: the candidate no longer answers its metadata after reading it (%v): it dropped its manifest or adopted this one", what, err)
			return false
		case v != held:
			t.Errorf("%s: adopted (the metadata shows version %d; version %d was held)", what, v, held)
			return false
		}
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restoreManifest has the candidate adopt the conformance manifest under
// a version above every one written, so that the next checks see the
// federation of §13.1, and keeps it as the tester's copy (ManifestFile),
// so that a later run expects that version in the metadata (FLX-API-001).
// It runs deferred, so it only records a failure.
func (t *T) restoreManifest() {
	m := t.manifest
	m.mu.Lock()
	v := m.written + 1
	m.mu.Unlock()
	if held, err := t.heldVersion(); err == nil && held >= v {
		v = held + 1
	}
	raw := t.signManifest(t.manifestDoc(v).payload())
	if ok, err := t.adoptManifest(raw, v); !ok {
		t.Errorf("after the check, the candidate did not adopt the conformance manifest again as version %d within %s (%v)", v, t.patience, err)
		return
	}
	if err := writeAtomic(filepath.Join(t.id.Dir, filepath.FromSlash(ManifestFile)), raw); err != nil {
		t.Logf("tester: keeping manifest version %d as %s: %v", v, ManifestFile, err)
	}
}

// writeAtomic replaces path with data in one rename, so that no reader
// sees half of it.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".conformance-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
