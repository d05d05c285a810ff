package node

import (
	"context"
	"encoding/base64"

	"github.com/familylinks/flx/federation"
)

// ===========================================================================
// DELIBERATE BREAKAGES FOR THE CONFORMANCE SUITE'S OWN TESTS. NEVER SET.
//
// conformance/teeth_test.go proves that each conformance check fails
// against a node that breaks the requirement it checks. It builds the flx
// binary with one Go build tag of the form flx_broken_<name>; the file
// node/breakage_<name>.go (and, for the body limit,
// node/httpapi/breakage_nolimit.go) compiled only under that tag sets one
// of the variables below. A normal build has no such tag: every variable
// keeps its zero value, every hook stays nil, and the broken code paths are
// not even compiled in. Each variable is consulted at exactly one spot,
// named in its comment.
// ===========================================================================
var (
	// brokenSkipReplay (receive.go, Receive): the same (iss, jti) with
	// other bytes is answered as accepted instead of replay.
	brokenSkipReplay bool
	// brokenAckBeforeStore (receive.go, Receive): the receipt is answered
	// before the envelope is stored; storing happens later, in the background.
	brokenAckBeforeStore bool
	// brokenNoBodyLimit (receive.go, Receive; and httpapi's own variable):
	// bodies over MaxBodyBytes are not refused.
	brokenNoBodyLimit bool
	// brokenNoWithdrawConfirm (process.go, applyWithdraw): a withdrawal is
	// applied but never confirmed to the origin.
	brokenNoWithdrawConfirm bool
	// brokenVerify (receive.go, Receive) replaces signature and claim
	// verification (accepting alg none, ignoring the audience).
	brokenVerify func(v *federation.Verifier, ctx context.Context, raw []byte, peer string) (*federation.Envelope, error)
	// brokenReceiptSHA256 (receive.go, receiptSHA256) binds receipts to
	// something other than the exact envelope bytes.
	brokenReceiptSHA256 func(raw []byte, env *federation.Envelope) string
)

var b64 = base64.RawURLEncoding
