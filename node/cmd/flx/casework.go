package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

type runFunc func(method string, path func(args []string) string, body func(args []string) ([]byte, error)) func(*cobra.Command, []string) error

// addCaseworkCommands adds what a caseworker follows cases with: the
// inbox, reading a received document, a case's thread and search.
func addCaseworkCommands(root *cobra.Command, c *apiClient, run runFunc) {
	withQuery := func(path string, q url.Values) string {
		for k, v := range q {
			if len(v) == 0 || v[0] == "" {
				delete(q, k)
			}
		}
		if len(q) == 0 {
			return path
		}
		return path + "?" + q.Encode()
	}

	var caseID, kind, state string
	var after int64
	var limit int
	inbox := &cobra.Command{Use: "inbox", Short: "List what was received (metadata; read one with 'case read')", Args: cobra.NoArgs,
		RunE: run(http.MethodGet, func([]string) string {
			q := url.Values{"case_id": {caseID}, "kind": {kind}, "state": {state}}
			if after > 0 {
				q.Set("after", fmt.Sprint(after))
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			return withQuery("/api/v1/inbox", q)
		}, nil)}
	inbox.Flags().StringVar(&caseID, "case", "", "only about this case")
	inbox.Flags().StringVar(&kind, "kind", "", "only this kind (case.response, message.deliver, ...)")
	inbox.Flags().StringVar(&state, "state", "", "unprocessed, processed or failed")
	inbox.Flags().Int64Var(&after, "after", 0, "continue after this id (a previous page's next)")
	inbox.Flags().IntVar(&limit, "limit", 0, "page size")
	root.AddCommand(inbox)

	root.AddCommand(&cobra.Command{Use: "read INBOX-ID", Short: "Read a received response, message or version in full", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodGet, func(a []string) string { return "/api/v1/inbox/" + url.PathEscape(a[0]) }, nil)})
	root.AddCommand(&cobra.Command{Use: "thread ID", Short: "Show what happened to a case, in time order", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodGet, func(a []string) string { return "/api/v1/cases/" + url.PathEscape(a[0]) + "/thread" }, nil)})

	var name, text, place, born, bornFrom, bornTo, ageMin, ageMax, status, typ, origin, sort, cursor string
	search := &cobra.Command{Use: "search [NAME...]", Short: "Search cases by name in any script, dates, ages, place, free text and filters",
		Long: `Search cases through the node's search index. Names match across scripts and
transliterations (Hovhannisyan finds Հովհաննիսյան, Ovanesyan, Oganesyan and
Оганесян). Every criterion given must hold. Examples:

  flx case search Oganesyan --born 1984
  flx case search --name "Muhammad Abdurrahman" --age-min 30 --age-max 40 --status open,tracing_in_progress
  flx case search --place Mockford --q river --sort created_at`,
		RunE: run(http.MethodGet, func(args []string) string {
			n := name
			if len(args) > 0 {
				n = strings.TrimSpace(n + " " + strings.Join(args, " "))
			}
			q := url.Values{"name": {n}, "q": {text}, "place": {place}, "born": {born}, "born_from": {bornFrom}, "born_to": {bornTo},
				"age_min": {ageMin}, "age_max": {ageMax}, "status": {status}, "type": {typ}, "origin": {origin}, "sort": {sort}, "cursor": {cursor}}
			if sort == "" {
				q.Set("sort", "-updated_at")
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			return withQuery("/api/v1/cases", q)
		}, nil)}
	fl := search.Flags()
	fl.StringVar(&name, "name", "", "a name in any script")
	fl.StringVar(&text, "q", "", "free-text words")
	fl.StringVar(&place, "place", "", "place words or a country code")
	fl.StringVar(&born, "born", "", "birth date YYYY, YYYY-MM or YYYY-MM-DD")
	fl.StringVar(&bornFrom, "born-from", "", "born in this year or later")
	fl.StringVar(&bornTo, "born-to", "", "born in this year or earlier")
	fl.StringVar(&ageMin, "age-min", "", "at least this old today")
	fl.StringVar(&ageMax, "age-max", "", "at most this old today")
	fl.StringVar(&status, "status", "", "statuses, comma-separated")
	fl.StringVar(&typ, "type", "", "case types, comma-separated")
	fl.StringVar(&origin, "origin", "", "origin member")
	fl.StringVar(&sort, "sort", "", "-updated_at (default), updated_at, -created_at, created_at or case_id")
	fl.StringVar(&cursor, "cursor", "", "continue from a previous page's next")
	fl.IntVar(&limit, "limit", 0, "page size")
	root.AddCommand(search)
	root.AddCommand(importCmd(c))
}
