package node

import (
	"context"

	"github.com/familylinks/flx/federation"
)

// verdict is the verifier's answer on one envelope of a batch (an
// envelope, or the refusal VerifyUnkept would have answered).
type verdict struct {
	env *federation.Envelope
	err error
}

// verifyBatch verifies the envelopes of a batch from peer together
// (Verifier.VerifyBatch: their signatures, usually all by one origin key,
// in one equation), for admit to take each verdict in turn. An envelope
// over the size limit is left out: admit refuses it as too large before it
// would have been verified.
func (n *Node) verifyBatch(ctx context.Context, peer string, raws [][]byte) []verdict {
	out := make([]verdict, len(raws))
	in := make([][]byte, 0, len(raws))
	at := make([]int, 0, len(raws))
	for i, raw := range raws {
		if int64(len(raw)) <= n.o.MaxBodyBytes {
			in, at = append(in, raw), append(at, i)
		}
	}
	envs, errs, err := n.verifier.VerifyBatch(ctx, in, peer)
	for j, i := range at {
		if err != nil {
			out[i].err = err
			continue
		}
		out[i] = verdict{env: envs[j], err: errs[j]}
	}
	return out
}
