package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// reviewCmd is what an operator reviews held items with: the queue
// (GET /api/v1/review), approve and reject.
func reviewCmd() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	var asJSON bool
	var note string
	root := &cobra.Command{
		Use:   "review",
		Short: "List, approve and reject what the policy holds for review, through a node's local API",
		Long: `The data-protection policy holds some forwards, responses and messages for an
operator's review. "list" shows each one: its decision id, kind, case,
destination, the rules that fired and since when it waits. "approve" judges
it again against the case and rules as they are now and sends it if they
still only hold it; when they now deny it nothing is sent (policy_denied),
and when they hold it for a new reason it waits again under a new decision
(conflict). --api and --token default to FLX_API and FLX_TOKEN (an operator's
token). An error prints the problem document and exits 1.`,
	}
	c.bind(root, "review")

	problemOr := c.problemOr
	list := &cobra.Command{Use: "list", Short: "List what waits for review, oldest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/review", nil)
			if err != nil {
				return problemOr(err)
			}
			if asJSON {
				return c.print(out)
			}
			var q struct {
				Held []struct {
					DecisionID  int64     `json:"decision_id"`
					Kind        string    `json:"kind"`
					CaseID      string    `json:"case_id"`
					Destination string    `json:"destination"`
					HeldSince   time.Time `json:"held_since"`
					Rules       []struct {
						RuleID string `json:"rule_id"`
						Effect string `json:"effect"`
						Reason string `json:"reason"`
					} `json:"rules"`
				} `json:"held"`
			}
			if err := json.Unmarshal(out, &q); err != nil {
				return fmt.Errorf("review list: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DECISION\tKIND\tCASE\tTO\tHELD SINCE\tWHY")
			for _, h := range q.Held {
				var why []string
				for _, r := range h.Rules {
					if r.Effect != "redact" {
						why = append(why, r.RuleID+": "+r.Reason)
					}
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.DecisionID, h.Kind, h.CaseID, h.Destination,
					h.HeldSince.UTC().Format(time.RFC3339), strings.Join(why, "; "))
			}
			return tw.Flush()
		}}
	list.Flags().BoolVar(&asJSON, "json", false, "print the queue as the local API answers it")
	root.AddCommand(list)
	verdict := func(v string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			var body []byte
			if note != "" {
				body, _ = json.Marshal(map[string]string{"note": note})
			}
			out, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/cases/"+url.PathEscape(args[0])+"/decisions/"+url.PathEscape(args[1])+"/"+v, body)
			if err != nil {
				return problemOr(err)
			}
			return c.print(out)
		}
	}
	for _, v := range []struct{ use, short string }{
		{"approve", "Approve a held item: judged again, sent if the policy still only holds it"},
		{"reject", "Reject a held item: nothing is sent and a held document's bytes are dropped"},
	} {
		cmd := &cobra.Command{Use: v.use + " CASE DECISION [--note TEXT]", Short: v.short, Args: cobra.ExactArgs(2), RunE: verdict(v.use)}
		cmd.Flags().StringVar(&note, "note", "", "why (kept with the decision; no personal data)")
		root.AddCommand(cmd)
	}
	return root
}
