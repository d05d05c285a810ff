package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/store"
)

// verifyWitnessed is the second half of `flx audit verify`: the local
// chain (intact, rows entries) against the latest head a witness holds
// (SPEC.md §20). The head comes from --witness-head (a head as the
// witness's local API serves it: the authority, since whoever can rewrite
// this database can also rewrite its outbox) or else from the latest head a
// witness acknowledged with a signed receipt, found in this node's outbox.
// In both cases the head is read from the member's own signed audit.head
// envelope. A deleted tail or a rewrite exits 1; no witnessed head is
// reported and exits 0 (nothing to compare with yet).
func verifyWitnessed(cmd *cobra.Command, st store.Store, self string, rows int64, headFile string) error {
	out := cmd.OutOrStdout()
	var h federation.AuditHead
	var from string
	if headFile != "" {
		b, err := os.ReadFile(headFile)
		if err != nil {
			return err
		}
		var w struct {
			Heads    []struct{ Envelope string } `json:"heads"`
			Envelope string                      `json:"envelope"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return fmt.Errorf("audit verify: --witness-head: %w", err)
		}
		env := w.Envelope
		if env == "" && len(w.Heads) == 1 {
			env = w.Heads[0].Envelope
		}
		cl, err := federation.ClaimsOf([]byte(env))
		if err != nil {
			return fmt.Errorf("audit verify: --witness-head holds no audit.head envelope: %w", err)
		}
		if h, err = federation.ParseAuditHead(cl.Body); err != nil || cl.Kind != federation.KindAuditHead || h.Member != self || cl.Issuer != self {
			return fmt.Errorf("audit verify: --witness-head is not an audit head of %s", self)
		}
		from = "the head in " + headFile
	} else {
		sent, err := node.SentAuditHeads(cmd.Context(), st, self, "")
		if err != nil {
			return err
		}
		found := false
		for _, s := range sent {
			if s.Acknowledged && (!found || s.Count > h.Count) {
				h, found, from = s.AuditHead, true, "the latest head acknowledged by "+s.Witness
			}
		}
		if !found {
			fmt.Fprintln(out, "no witnessed audit head to compare with (none acknowledged yet; see coordination.audit_head_every)")
			return nil
		}
	}
	hc, err := node.CheckAgainstHead(cmd.Context(), st, rows, h)
	if err != nil {
		return err
	}
	if hc.Problem != "" {
		fmt.Fprintf(out, "AUDIT LOG TAMPERED: does not hold %s (%d entries, head %s): %s\n", from, h.Count, h.Head, hc.Problem)
		return exitError{1}
	}
	fmt.Fprintf(out, "audit log holds %s: %d entries, head %s, signed %s\n", from, h.Count, h.Head, h.SignedAt.UTC().Format("2006-01-02T15:04:05Z"))
	return nil
}
