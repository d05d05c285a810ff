package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// matchItem is what the local API answers for a candidate match; printed
// as is (one compact JSON object a line) with --json.
type matchItem struct {
	ID int64 `json:"id"`
	A  struct {
		CaseID   string `json:"case_id"`
		PersonID string `json:"person_id"`
	} `json:"a"`
	B struct {
		CaseID   string `json:"case_id"`
		PersonID string `json:"person_id"`
	} `json:"b"`
	Score float64 `json:"score"`
	State string  `json:"state"`
}

func matchCmd() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	var asJSON bool
	root := &cobra.Command{
		Use:   "match",
		Short: "List, confirm and reject candidate matches, ask other members and rematch, through a node's local API",
		Long: `The node computes candidate matches between sought persons and the persons of
the other cases it holds whenever a case is created, updated, imported or
received. A candidate is only a candidate: a caseworker confirms or rejects
it, and nothing is disclosed or sent because of it. "ask" asks another
member whether it holds a likely match, sending a privacy-preserving
encoding of the person, never a name; its answer arrives in the inbox.
"rematch" (operators) runs the bulk match job: every candidate computed
again, confirmed and rejected ones kept; it prints the counts when done.
--api and --token
default to FLX_API and FLX_TOKEN. An error prints the problem document and
exits 1.`,
	}
	c.bind(root, "match")
	root.PersistentFlags().BoolVar(&asJSON, "json", false, "print one JSON object a line")

	problemOr := c.problemOr
	var state, caseID string
	var limit int
	list := &cobra.Command{Use: "list", Short: "List candidate matches (open ones unless --state)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			if caseID != "" {
				q.Set("case_id", caseID)
			}
			page := 1000
			if limit > 0 {
				page = min(limit, 1000)
			}
			q.Set("limit", strconv.Itoa(page))
			tw := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
			if !asJSON {
				fmt.Fprintln(tw, "ID\tSCORE\tSTATE\tCASE A\tPERSON A\tCASE B\tPERSON B")
			}
			n := 0
			for {
				b, err := c.do(cmd.Context(), http.MethodGet, "/api/v1/matches?"+q.Encode(), nil)
				if err != nil {
					return problemOr(err)
				}
				var res struct {
					Matches []json.RawMessage `json:"matches"`
					Next    int64             `json:"next"`
				}
				if err := json.Unmarshal(b, &res); err != nil {
					return fmt.Errorf("match list: %w", err)
				}
				for _, raw := range res.Matches {
					if limit > 0 && n == limit {
						break
					}
					n++
					if asJSON {
						fmt.Fprintf(c.out, "%s\n", raw)
						continue
					}
					var m matchItem
					if err := json.Unmarshal(raw, &m); err != nil {
						return fmt.Errorf("match list: %w", err)
					}
					fmt.Fprintf(tw, "%d\t%.3f\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Score, m.State, m.A.CaseID, m.A.PersonID, m.B.CaseID, m.B.PersonID)
				}
				if res.Next == 0 || (limit > 0 && n >= limit) {
					break
				}
				q.Set("after", strconv.FormatInt(res.Next, 10))
			}
			if !asJSON {
				return tw.Flush()
			}
			return nil
		}}
	list.Flags().StringVar(&state, "state", "", "open (default), confirmed, rejected or all")
	list.Flags().StringVar(&caseID, "case", "", "only candidates naming this case id")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many (default: all)")
	root.AddCommand(list)

	one := func(method, suffix string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("match: %q is not a match id", args[0])
			}
			b, err := c.do(cmd.Context(), method, fmt.Sprintf("/api/v1/matches/%d%s", id, suffix), nil)
			if err != nil {
				return problemOr(err)
			}
			if asJSON {
				var m json.RawMessage = b
				out, _ := json.Marshal(m)
				_, err := fmt.Fprintf(c.out, "%s\n", out)
				return err
			}
			return c.print(b)
		}
	}
	root.AddCommand(&cobra.Command{Use: "get ID", Short: "Show one candidate with its explanation", Args: cobra.ExactArgs(1), RunE: one(http.MethodGet, "")})
	root.AddCommand(&cobra.Command{Use: "confirm ID", Short: "Confirm a candidate (audited; discloses and sends nothing)", Args: cobra.ExactArgs(1), RunE: one(http.MethodPost, "/confirm")})
	root.AddCommand(&cobra.Command{Use: "reject ID", Short: "Reject a candidate (audited)", Args: cobra.ExactArgs(1), RunE: one(http.MethodPost, "/reject")})

	root.AddCommand(&cobra.Command{Use: "rematch", Short: "Run the bulk match job: compute every candidate again, decisions kept (operator; audited)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.http.Timeout = 0 // the job answers when done: as long as it takes
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/matches/rematch", nil)
			if err != nil {
				return problemOr(err)
			}
			var res struct {
				Cases             int     `json:"cases"`
				PersonsMatched    int     `json:"persons_matched"`
				CandidatesWritten int     `json:"candidates_written"`
				DurationSeconds   float64 `json:"duration_seconds"`
			}
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("match rematch: %w", err)
			}
			if asJSON {
				out, _ := json.Marshal(res)
				_, err := fmt.Fprintf(c.out, "%s\n", out)
				return err
			}
			_, err = fmt.Fprintf(c.out, "cases: %d\npersons matched: %d\ncandidates written: %d\nduration: %s\n", res.Cases, res.PersonsMatched,
				res.CandidatesWritten, time.Duration(res.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
			return err
		}})

	var to, personID string
	ask := &cobra.Command{Use: "ask CASE --person P --to MEMBER", Short: "Ask a member whether it holds a likely match for a sought person (sends an encoding, never a name)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, _ := json.Marshal(map[string]string{"to": to, "person_id": personID})
			b, err := c.do(cmd.Context(), http.MethodPost, "/api/v1/cases/"+url.PathEscape(args[0])+"/match-query", body)
			if err != nil {
				return problemOr(err)
			}
			return c.print(b)
		}}
	ask.Flags().StringVar(&to, "to", "", "member to ask (a peer or the coordinator)")
	ask.Flags().StringVar(&personID, "person", "", "the sought person's id in the case")
	ask.MarkFlagRequired("to")
	ask.MarkFlagRequired("person")
	root.AddCommand(ask)
	return root
}
