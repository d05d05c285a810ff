package runtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHelpers(t *testing.T) {
	if _, err := os.Stat(filepath.Join(ModuleRoot(t), "go.mod")); err != nil {
		t.Fatal("ModuleRoot has no go.mod")
	}
	addr := FreePort(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreePort gave a port that cannot be listened on: %v", err)
	}
	ln.Close()

	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Write([]byte("x")) }()
	}
	wg.Wait()
	if b.String() != strings.Repeat("x", 8) {
		t.Fatalf("SyncBuffer = %q", b.String())
	}

	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ok.Close)
	if err := GetOK(ok.Client(), ok.URL+"/ok"); err != nil {
		t.Fatal(err)
	}
	if err := GetOK(ok.Client(), ok.URL+"/missing"); err == nil {
		t.Fatal("GetOK accepted a 404")
	}
}

func TestProcessStopAndWait(t *testing.T) {
	sh, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	p := Start(t, exec.Command(sh, "30"))
	if err := p.WaitUntil(t, time.Now().Add(2*time.Second), "always", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitUntil(t, time.Now().Add(300*time.Millisecond), "never", func() error { return os.ErrNotExist }); err == nil {
		t.Fatal("WaitUntil returned nil although the condition never held")
	}
	if p.Logs() != "" {
		t.Fatalf("unexpected output %q", p.Logs())
	}
}
