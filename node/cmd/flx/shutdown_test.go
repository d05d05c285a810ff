package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShutdownDoesNotWaitForIdleHTTP2Peers: a node's graceful shutdown
// closes idle HTTP/2 peer connections at once. Go's HTTP/2 server answers
// Shutdown with a GOAWAY and keeps an idle connection open for a second
// after it; serve's shutdown took about that second per idle peer. The
// test times the shutdown of a node with no peer and with several idle
// ones (each an mTLS HTTP/2 connection that made one request) and fails
// when the peers add half of one peer's second or more, whatever their
// number (the old shutdown took the whole second). A peer whose envelope
// is still being uploaded when the shutdown starts gets its answer.
func TestShutdownDoesNotWaitForIdleHTTP2Peers(t *testing.T) {
	const peers = 6
	stopWith := func(n int) time.Duration {
		t.Helper()
		rn, cert := serveAsPeer(t)
		for range n {
			tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
			t.Cleanup(tr.CloseIdleConnections)
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + rn.FedAddr + "/.well-known/flx")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("peer connection over %s, want HTTP/2", resp.Proto)
			}
		}
		// One request in flight: its body arrives after the shutdown began.
		pr, pw := io.Pipe()
		answered := make(chan error, 1)
		if n > 0 {
			tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
			t.Cleanup(tr.CloseIdleConnections)
			go func() {
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post("https://"+rn.FedAddr+"/flx/v1/envelopes", "application/jose", pr)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				answered <- err
			}()
			pw.Write([]byte("eyJ"))
			time.Sleep(100 * time.Millisecond) // the request reaches the handler
		}
		start := time.Now()
		rn.Stop()
		if n > 0 {
			go func() {
				time.Sleep(200 * time.Millisecond)
				pw.Write([]byte(strings.Repeat("A", 10)))
				pw.Close()
			}()
			if err := <-answered; err != nil {
				t.Errorf("the request in flight at shutdown was cut: %v", err)
			}
		}
		if err := rn.Wait(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	none := stopWith(0)
	some := stopWith(peers)
	t.Logf("shutdown: %v with no peer, %v with %d idle HTTP/2 peers", none, some, peers)
	if extra := some - none - 200*time.Millisecond; extra > time.Second/2 {
		t.Errorf("%d idle HTTP/2 peers added %v to the shutdown beyond the request in flight: it waits for idle connections", peers, extra)
	}
}
