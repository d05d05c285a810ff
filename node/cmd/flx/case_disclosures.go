package main

import (
	"errors"
	"net/http"

	"github.com/spf13/cobra"
)

// caseDisclosuresCmd is `flx case disclosures ID [--format json|text]`: the
// per-person disclosure log for a subject access request (who received
// what about the person, when, under which decision, and whether they
// confirmed erasure).
func caseDisclosuresCmd(c *apiClient, id func(string) string) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "disclosures ID [--format json|text]",
		Short: "Disclosure log of a case for a subject access request (JSON or a readable report)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "text" {
				return errors.New("case disclosures: --format must be json or text")
			}
			out, err := c.do(cmd.Context(), http.MethodGet, id(args[0])+"/disclosures?format="+format, nil)
			if err != nil {
				return c.problemOr(err)
			}
			if format == "text" {
				_, err := c.out.Write(out)
				return err
			}
			return c.print(out)
		},
	}
	cmd.Flags().StringVar(&format, "format", "json", "json or text (a Markdown report)")
	return cmd
}
