// Command flx is the Family Links Exchange node: it serves the federation and
// local APIs, administers a federation (keys, certificates, signed manifest),
// runs the local demo federation and the conformance suite.
//
// It is the composition root: the only place that wires the store, the
// federation trust layer, the policy engine and the HTTP listeners together.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "flx:", err)
		os.Exit(1)
	}
}

// exitError carries a specific exit status (already reported to the user).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
