package devca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/familylinks/flx/federation/devca"
	"github.com/familylinks/flx/federation/mtls"
)

func newCA(t *testing.T) *devca.CA {
	t.Helper()
	ca, err := devca.New("XA test federation CA", 24*time.Hour)
	if err != nil {
		t.Fatalf("devca.New: %v", err)
	}
	return ca
}

func TestNewCA(t *testing.T) {
	ca := newCA(t)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || !c.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%t BasicConstraintsValid=%t MaxPathLenZero=%t", c.IsCA, c.BasicConstraintsValid, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA key usage %v lacks cert sign", c.KeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA not self-signed: %v", err)
	}
	if c.Subject.CommonName != "XA test federation CA" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	pemCert, err := tls.X509KeyPair(ca.CertPEM(), mustKeyPEM(t, ca))
	if err != nil || !slices.Equal(pemCert.Certificate[0], c.Raw) {
		t.Errorf("CertPEM does not round-trip: %v", err)
	}
}

// mustKeyPEM gets the CA key PEM through Save, the only way it leaves.
func mustKeyPEM(t *testing.T, ca *devca.CA) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, devca.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name     string
		cn       string
		validity time.Duration
	}{
		{"empty common name", "", time.Hour},
		{"zero validity", "CA", 0},
		{"negative validity", "CA", -time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := devca.New(tc.cn, tc.validity); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestIssueMember(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name      string
		dnsNames  []string
		ips       []net.IP
		wantDNS   []string
		wantIPs   []string
		verifyFor string // host name or IP the certificate must verify for
	}{
		{
			name:      "defaults to localhost",
			wantDNS:   []string{"localhost"},
			wantIPs:   []string{"127.0.0.1", "::1"},
			verifyFor: "127.0.0.1",
		},
		{
			name:      "explicit names replace the defaults",
			dnsNames:  []string{"flx.xa-rc.example"},
			ips:       []net.IP{net.ParseIP("192.0.2.10")},
			wantDNS:   []string{"flx.xa-rc.example"},
			wantIPs:   []string{"192.0.2.10"},
			verifyFor: "flx.xa-rc.example",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := ca.IssueMember("XA-RC", tc.dnsNames, tc.ips, time.Hour)
			if err != nil {
				t.Fatalf("IssueMember: %v", err)
			}
			c := iss.Cert
			if c.Subject.CommonName != "XA-RC" {
				t.Errorf("CN = %q, want XA-RC", c.Subject.CommonName)
			}
			if len(c.URIs) != 1 || c.URIs[0].String() != "urn:flx:member:XA-RC" {
				t.Errorf("URIs = %v, want [urn:flx:member:XA-RC]", c.URIs)
			}
			if !slices.Equal(c.DNSNames, tc.wantDNS) {
				t.Errorf("DNSNames = %v, want %v", c.DNSNames, tc.wantDNS)
			}
			var ips []string
			for _, ip := range c.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tc.wantIPs) {
				t.Errorf("IPAddresses = %v, want %v", ips, tc.wantIPs)
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
				if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: tc.verifyFor, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
					t.Errorf("verify for usage %v: %v", usage, err)
				}
			}
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if got := time.Until(c.NotAfter); got < 59*time.Minute || got > time.Hour {
				t.Errorf("NotAfter in %s, want about 1h", got)
			}
			if time.Since(c.NotBefore) < time.Minute {
				t.Errorf("NotBefore %s not backdated", c.NotBefore)
			}
			if iss.SPKIPin() != mtls.SPKIPin(c) || len(iss.SPKIPin()) != 64 {
				t.Errorf("SPKIPin = %q", iss.SPKIPin())
			}
			pair, err := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
			if err != nil {
				t.Fatalf("PEM pair: %v", err)
			}
			if !slices.Equal(pair.Certificate[0], iss.TLS.Certificate[0]) || iss.TLS.Leaf != c {
				t.Error("TLS certificate does not match the PEM")
			}
		})
	}
}

func TestIssueRequest(t *testing.T) {
	ca := newCA(t)
	past := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name    string
		req     devca.Request
		wantErr bool
		check   func(t *testing.T, c *x509.Certificate)
	}{
		{
			name: "expired",
			req:  devca.Request{MemberID: "XB-RC", NotBefore: past, NotAfter: past.Add(time.Hour)},
			check: func(t *testing.T, c *x509.Certificate) {
				if !c.NotAfter.Before(time.Now()) {
					t.Errorf("NotAfter %s not in the past", c.NotAfter)
				}
			},
		},
		{
			name: "server auth only",
			req:  devca.Request{MemberID: "XB-RC", Validity: time.Hour, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
			check: func(t *testing.T, c *x509.Certificate) {
				if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
					t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
				}
			},
		},
		{
			name: "no extended key usage",
			req:  devca.Request{MemberID: "XB-RC", Validity: time.Hour, ExtKeyUsage: []x509.ExtKeyUsage{}},
			check: func(t *testing.T, c *x509.Certificate) {
				if len(c.ExtKeyUsage) != 0 {
					t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
				}
			},
		},
		{
			name: "clamped to the CA",
			req:  devca.Request{MemberID: "ICRC-CTA", Validity: 10 * 365 * 24 * time.Hour},
			check: func(t *testing.T, c *x509.Certificate) {
				if !c.NotAfter.Equal(ca.Cert.NotAfter) {
					t.Errorf("NotAfter %s, want the CA's %s", c.NotAfter, ca.Cert.NotAfter)
				}
			},
		},
		{name: "lowercase member id", req: devca.Request{MemberID: "xa-rc", Validity: time.Hour}, wantErr: true},
		{name: "member id with a path", req: devca.Request{MemberID: "XA-RC/../X", Validity: time.Hour}, wantErr: true},
		{name: "member id too short", req: devca.Request{MemberID: "X", Validity: time.Hour}, wantErr: true},
		{name: "no validity", req: devca.Request{MemberID: "XA-RC"}, wantErr: true},
		{name: "NotAfter before NotBefore", req: devca.Request{MemberID: "XA-RC", NotBefore: past, NotAfter: past.Add(-time.Hour)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := ca.Issue(tc.req)
			if tc.wantErr {
				if err == nil {
					t.Fatal("Issue succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if err := iss.Cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			tc.check(t, iss.Cert)
		})
	}
}

func TestSerialNumbers(t *testing.T) {
	ca := newCA(t)
	seen := map[string]bool{ca.Cert.SerialNumber.String(): true}
	for range 20 {
		iss, err := ca.IssueMember("XC-RC", nil, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		s := iss.Cert.SerialNumber
		if s.Sign() <= 0 || s.BitLen() > 128 {
			t.Errorf("serial %s: sign %d, %d bits", s, s.Sign(), s.BitLen())
		}
		if seen[s.String()] {
			t.Errorf("serial %s repeated", s)
		}
		seen[s.String()] = true
	}
	// 21 random 128-bit serials all shorter than 100 bits would mean they are
	// not random 128-bit numbers.
	long := 0
	for s := range seen {
		n, _ := new(big.Int).SetString(s, 10)
		if n.BitLen() > 100 {
			long++
		}
	}
	if long == 0 {
		t.Error("no serial longer than 100 bits")
	}
}

func TestSaveLoad(t *testing.T) {
	ca := newCA(t)
	dir := filepath.Join(t.TempDir(), "ca")
	if err := ca.Save(dir); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if runtime.GOOS != "windows" {
		wantModes := map[string]fs.FileMode{devca.CAKeyFile: 0o600, devca.CACertFile: 0o644}
		for name, want := range wantModes {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			// The umask may only remove bits.
			if got := fi.Mode().Perm(); got&^want != 0 || (name == devca.CAKeyFile && got != want) {
				t.Errorf("%s mode %04o, want %04o", name, got, want)
			}
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("directory mode %04o, want 0700", fi.Mode().Perm())
		}
	}

	loaded, err := devca.Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !loaded.Cert.Equal(ca.Cert) || string(loaded.CertPEM()) != string(ca.CertPEM()) {
		t.Error("loaded CA certificate differs")
	}
	iss, err := loaded.IssueMember("XA-RC", nil, nil, time.Hour)
	if err != nil {
		t.Fatalf("issue from loaded CA: %v", err)
	}
	if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate from the loaded CA does not verify against the original: %v", err)
	}

	if err := ca.Save(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Save: %v, want fs.ErrExist", err)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
	}{
		{"key readable by others", func(t *testing.T, dir string) {
			if runtime.GOOS == "windows" {
				t.Skip("no Unix modes")
			}
			if err := os.Chmod(filepath.Join(dir, devca.CAKeyFile), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"key of another CA", func(t *testing.T, dir string) {
			other := newCA(t)
			odir := t.TempDir()
			if err := other.Save(odir); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(odir, devca.CAKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, devca.CAKeyFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing key", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, devca.CAKeyFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{"leaf certificate instead of the CA", func(t *testing.T, dir string) {
			ca, err := devca.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			iss, err := ca.IssueMember("XA-RC", nil, nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, devca.CACertFile), iss.CertPEM, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage certificate", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, devca.CACertFile), []byte("not pem"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := newCA(t).Save(dir); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, dir)
			if _, err := devca.Load(dir); err == nil {
				t.Fatal("Load succeeded")
			}
		})
	}
}

func TestIssuedSave(t *testing.T) {
	ca := newCA(t)
	iss, err := ca.IssueMember("XB-RC", nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := iss.Save(dir, "xb-rc"); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, "xb-rc.key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("key mode %04o, want 0600", fi.Mode().Perm())
		}
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "xb-rc.crt"), filepath.Join(dir, "xb-rc.key"))
	if err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	if !slices.Equal(pair.Certificate[0], iss.Cert.Raw) {
		t.Error("saved certificate differs")
	}
	if err := iss.Save(dir, "xb-rc"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Save: %v, want fs.ErrExist", err)
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b"} {
		if err := iss.Save(dir, bad); err == nil {
			t.Errorf("Save(%q) succeeded", bad)
		}
	}
}
