package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiClient calls a node's local API with a bearer token.
type apiClient struct {
	base  string
	token string
	http  *http.Client
	out   io.Writer
	errs  io.Writer // where a hint on a refusal goes (stderr)
}

// apiError is a problem document answered by the local API.
type apiError struct {
	Status int
	Code   string
	Detail string
	Body   []byte
}

// newAPIError is the error of an answer with status and body b, with the
// code and detail of its problem document when it is one.
func newAPIError(status int, b []byte) *apiError {
	e := &apiError{Status: status, Body: b}
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil {
		e.Code, e.Detail = p.Code, p.Detail
	}
	return e
}

func (e *apiError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// bind gives the command group root the --api and --token flags (FLX_API,
// FLX_TOKEN) and refuses to run one of its commands without them; name
// starts the error. The token is read from FLX_TOKEN only when the command
// runs, so that --help never prints it as the flag's default.
func (c *apiClient) bind(root *cobra.Command, name string) {
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		c.out, c.errs = cmd.OutOrStdout(), cmd.ErrOrStderr()
		if c.token == "" {
			c.token = os.Getenv("FLX_TOKEN")
		}
		if c.base == "" {
			return fmt.Errorf("%s: --api (or FLX_API) is required, e.g. http://127.0.0.1:8080", name)
		}
		if c.token == "" {
			return fmt.Errorf("%s: --token (or FLX_TOKEN) is required", name)
		}
		return nil
	}
	root.PersistentFlags().StringVar(&c.base, "api", os.Getenv("FLX_API"), "local API base URL (env FLX_API)")
	root.PersistentFlags().StringVar(&c.token, "token", "", "bearer token (default: env FLX_TOKEN)")
}

// problemOr prints the problem document of an error the local API answered
// and exits 1, with a line on stderr saying what to do when the token was
// refused; any other error is returned as it is.
func (c *apiClient) problemOr(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && len(ae.Body) > 0 {
		c.print(ae.Body)
		if hint := refusalHint(ae.Code); hint != "" && c.errs != nil {
			fmt.Fprintln(c.errs, "flx:", hint)
		}
		return exitError{1}
	}
	return err
}

// refusalHint says what to do about a refused token ("" for other codes,
// whose problem document says it).
func refusalHint(code string) string {
	switch code {
	case "unauthenticated":
		return "the node did not accept the token: give one of this node's tokens with --token or FLX_TOKEN " +
			"(one that is not revoked or expired; an operator lists them with flx token list and makes one with flx token create)"
	case "forbidden":
		return "this token's role may not do this: use a token with the role the command needs " +
			"(caseworker for cases, operator for the outbox, review and rematch, auditor for audit reads)"
	}
	return ""
}

func (c *apiClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.base, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return nil, fmt.Errorf("cannot reach the node's local API at %s: is the node running, and is --api (or FLX_API) "+
				"its local_api.listen address? %w", c.base, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, newAPIError(resp.StatusCode, b)
	}
	return b, nil
}

// printJSON writes v as indented JSON.
func (c *apiClient) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.print(b)
}

// print writes a JSON answer indented.
func (c *apiClient) print(b []byte) error {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		_, err := c.out.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := c.out.Write(buf.Bytes())
	return err
}

func caseCmd() *cobra.Command {
	c := &apiClient{http: &http.Client{Timeout: 60 * time.Second}}
	root := &cobra.Command{
		Use:   "case",
		Short: "Work with cases through a node's local API",
		Long: `Create, read, update, list, forward, check, answer, message and withdraw cases
through a node's local API. --api and --token default to FLX_API and
FLX_TOKEN. Answers are printed as JSON; an error prints the problem
document and exits 1.`,
	}
	c.bind(root, "case")

	id := func(s string) string { return "/api/v1/cases/" + url.PathEscape(s) }
	run := func(method string, path func(args []string) string, body func(args []string) ([]byte, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			var b []byte
			if body != nil {
				var err error
				if b, err = body(args); err != nil {
					return err
				}
			}
			out, err := c.do(cmd.Context(), method, path(args), b)
			if err != nil {
				return c.problemOr(err)
			}
			return c.print(out)
		}
	}
	file := func(i int) func([]string) ([]byte, error) {
		return func(args []string) ([]byte, error) { return os.ReadFile(args[i]) }
	}
	jsonBody := func(v func(args []string) any) func([]string) ([]byte, error) {
		return func(args []string) ([]byte, error) { return json.Marshal(v(args)) }
	}
	var to, reason, status, typ, origin, cursor string
	var limit int

	root.AddCommand(&cobra.Command{Use: "create FILE", Short: "Create a case from a schema v1 case document", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodPost, func([]string) string { return "/api/v1/cases" }, file(0))})
	root.AddCommand(&cobra.Command{Use: "get ID", Short: "Show a case, what was received about it and who received it", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodGet, func(a []string) string { return id(a[0]) }, nil)})
	root.AddCommand(&cobra.Command{Use: "update ID FILE", Short: "Store a new version (its version must be the current + 1)", Args: cobra.ExactArgs(2),
		RunE: run(http.MethodPut, func(a []string) string { return id(a[0]) }, file(1))})
	list := &cobra.Command{Use: "list", Short: "List cases (metadata only)", Args: cobra.NoArgs,
		RunE: run(http.MethodGet, func([]string) string {
			q := url.Values{}
			for k, v := range map[string]string{"status": status, "type": typ, "origin": origin, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			if len(q) == 0 {
				return "/api/v1/cases"
			}
			return "/api/v1/cases?" + q.Encode()
		}, nil)}
	list.Flags().StringVar(&status, "status", "", "filter by status")
	list.Flags().StringVar(&typ, "type", "", "filter by case type")
	list.Flags().StringVar(&origin, "origin", "", "filter by origin member")
	list.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page's next")
	list.Flags().IntVar(&limit, "limit", 0, "page size")
	root.AddCommand(list)

	toBody := jsonBody(func([]string) any { return map[string]string{"to": to} })
	forward := &cobra.Command{Use: "forward ID --to MEMBER", Short: "Run the policy and send the case to a member", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodPost, func(a []string) string { return id(a[0]) + "/forward" }, toBody)}
	checkRun := run(http.MethodPost, func(a []string) string { return id(a[0]) + "/policy-check" }, toBody)
	check := &cobra.Command{Use: "check ID --to MEMBER", Short: "Dry-run the policy for sending the case to a member", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkRun(cmd, args); err != nil {
				return err
			}
			// The answer's "state" is what a forward would do now: said on
			// stderr, so that "queued" is not read as sent.
			fmt.Fprintf(cmd.ErrOrStderr(), "dry run: nothing was stored or sent; \"state\" is what flx case forward %s --to %s would do now (queued: sent with the redactions shown; needs_review: held for an operator; denied: refused)\n", args[0], to)
			return nil
		}}
	message := &cobra.Command{Use: "message ID FILE --to MEMBER", Short: "Send a message document about the case to a member", Args: cobra.ExactArgs(2),
		RunE: run(http.MethodPost, func(a []string) string { return id(a[0]) + "/messages" }, func(a []string) ([]byte, error) {
			m, err := os.ReadFile(a[1])
			if err != nil {
				return nil, err
			}
			return json.Marshal(map[string]any{"to": to, "message": json.RawMessage(m)})
		})}
	for _, cmd := range []*cobra.Command{forward, check, message} {
		cmd.Flags().StringVar(&to, "to", "", "destination member id")
		cmd.MarkFlagRequired("to")
		root.AddCommand(cmd)
	}
	root.AddCommand(&cobra.Command{Use: "respond ID FILE", Short: "Send a response document to the case's origin", Args: cobra.ExactArgs(2),
		RunE: run(http.MethodPost, func(a []string) string { return id(a[0]) + "/responses" }, file(1))})
	withdraw := &cobra.Command{Use: "withdraw ID --reason REASON", Short: "Withdraw a case: erase it here and ask every recipient to erase and confirm", Args: cobra.ExactArgs(1),
		RunE: run(http.MethodPost, func(a []string) string { return id(a[0]) + "/withdraw" },
			jsonBody(func([]string) any { return map[string]string{"reason": reason} }))}
	withdraw.Flags().StringVar(&reason, "reason", "consent_withdrawn", "consent_withdrawn, case_closed, retention_expired or erasure_request")
	root.AddCommand(withdraw)
	root.AddCommand(&cobra.Command{Use: "withdrawals", Short: "List the members asked to erase our cases that have not confirmed (operator, auditor)", Args: cobra.NoArgs,
		RunE: run(http.MethodGet, func([]string) string { return "/api/v1/withdrawals" }, nil)})
	root.AddCommand(caseMediaCmd(c, id))
	root.AddCommand(caseDisclosuresCmd(c, id))
	addCaseworkCommands(root, c, run)
	return root
}
