package variant

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestLockedRunsOneBuildAtATime holds the build lock of a tree and checks
// that a second holder (its own open file, as another test process has)
// waits until the first lets go, while another tree's lock is free.
func TestLockedRunsOneBuildAtATime(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no build lock on windows")
	}
	root, other := t.TempDir(), t.TempDir()
	for _, r := range []string{root, other} {
		t.Cleanup(func() {
			if dir, err := treeDir(r); err == nil {
				os.RemoveAll(dir)
			}
		})
	}
	release := make(chan struct{})
	held := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- Locked(root, func() error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	if err := Locked(other, func() error { return nil }); err != nil {
		t.Fatalf("another tree's lock: %v", err)
	}
	second := make(chan time.Time, 1)
	go func() {
		Locked(root, func() error {
			second <- time.Now()
			return nil
		})
	}()
	select {
	case <-second:
		t.Fatal("the second build ran while the first held the lock")
	case <-time.After(300 * time.Millisecond):
	}
	let := time.Now()
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-second:
		if at.Before(let) {
			t.Fatal("the second build ran before the first let go")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second build never ran after the first let go")
	}
}
