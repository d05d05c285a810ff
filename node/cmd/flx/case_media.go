package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// caseMediaCmd is "flx case media": attach a recording to a case
// (resumable upload), list a case's media, fetch one (resumable, ranges).
func caseMediaCmd(c *apiClient, id func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "media",
		Short: "Recorded video and voice messages of a case: attach, list, get",
		Long: `attach uploads a recording to the node and attaches it to the case, resuming
after a cut from what the node holds. The node keeps and sends the recording
cleaned of its metadata (EXIF, XMP, tags, ...): put the printed sha256 (of
the cleaned copy; declared_sha256 is the file's) in a message's
media (with media_type and duration_seconds) and send it with
"flx case message": the node completes the signed reference and pushes the
bytes to the destination. list shows the media of a case, get fetches one,
resuming a partial --out file with a range request and checking its sha256.`,
	}
	stream := &http.Client{} // no overall timeout: recordings are large; stalls end with an error
	var mediaType string
	var attempts int
	attach := &cobra.Command{Use: "attach ID FILE --type TYPE", Short: "Upload a recording and attach it to the case (resumable)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			size, err := io.Copy(h, f)
			if err != nil {
				return err
			}
			sum := hex.EncodeToString(h.Sum(nil))
			body, _ := json.Marshal(map[string]any{"sha256": sum, "size_bytes": size, "media_type": mediaType})
			out, err := c.do(cmd.Context(), http.MethodPost, id(args[0])+"/media", body)
			if err != nil {
				return c.problemOr(err)
			}
			var up struct {
				URL      string `json:"url"`
				Offset   int64  `json:"offset"`
				Complete bool   `json:"complete"`
			}
			if err := json.Unmarshal(out, &up); err != nil {
				return err
			}
			final := out // the node's answer once the recording is attached
			for try := 1; !up.Complete; try++ {
				off, done, answer, err := patchFrom(cmd, stream, c, up.URL, f, up.Offset, size)
				if err == nil {
					up.Offset, up.Complete, final = off, done, answer
					if done {
						break
					}
					continue
				}
				var ae *apiError
				if errors.As(err, &ae) && ae.Code != "request_timeout" && ae.Code != "offset_mismatch" && ae.Status < 500 {
					return c.problemOr(err)
				}
				if try >= attempts {
					return fmt.Errorf("media attach: gave up after %d attempts: %w", try, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "upload interrupted at %d of %d bytes (%v); resuming\n", up.Offset, size, err)
				time.Sleep(time.Duration(min(try, 10)) * time.Second)
				if st, err := c.do(cmd.Context(), http.MethodGet, up.URL, nil); err == nil {
					_ = json.Unmarshal(st, &up)
				}
			}
			// The node stores and sends the recording cleaned of its
			// metadata, under the sha256 it answers: the one messages name.
			var done struct {
				SHA256  string `json:"sha256"`
				Cleaned *struct {
					SizeBytes int64          `json:"size_bytes"`
					Removed   map[string]int `json:"removed"`
				} `json:"cleaned"`
			}
			_ = json.Unmarshal(final, &done)
			stored, removed := sum, map[string]int{}
			if done.SHA256 != "" {
				stored = done.SHA256
			}
			if done.Cleaned != nil {
				size, removed = done.Cleaned.SizeBytes, done.Cleaned.Removed
			}
			rm, _ := json.Marshal(removed)
			return c.print(fmt.Appendf(nil, `{"case_id":%q,"sha256":%q,"declared_sha256":%q,"size_bytes":%d,"media_type":%q,"attached":true,"removed":%s}`,
				args[0], stored, sum, size, mediaType, rm))
		}}
	attach.Flags().StringVar(&mediaType, "type", "video/mp4", "media type of the recording (video/mp4, audio/ogg, ...)")
	attach.Flags().IntVar(&attempts, "attempts", 20, "attempts before giving up on a broken link")
	root.AddCommand(attach)

	root.AddCommand(&cobra.Command{Use: "list ID", Short: "List the media of a case (attached here and received)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := c.do(cmd.Context(), http.MethodGet, id(args[0])+"/media", nil)
			if err != nil {
				return c.problemOr(err)
			}
			return c.print(out)
		}})

	var outPath string
	get := &cobra.Command{Use: "get ID SHA256 --out FILE", Short: "Fetch a recording, resuming a partial file; the sha256 is checked", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.OpenFile(outPath, os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			have, err := f.Seek(0, io.SeekEnd)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, strings.TrimRight(c.base, "/")+id(args[0])+"/media/"+args[1], nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+c.token)
			if have > 0 {
				req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
			}
			resp, err := stream.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
				// Complete already: check it below.
			case resp.StatusCode == http.StatusOK:
				if err := f.Truncate(0); err != nil {
					return err
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				fallthrough
			case resp.StatusCode == http.StatusPartialContent:
				if _, err := io.Copy(f, resp.Body); err != nil {
					return fmt.Errorf("media get: cut after %d bytes; run again to resume: %w", have, err)
				}
			default:
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				c.print(b)
				return exitError{1}
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			if err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != args[1] {
				return fmt.Errorf("media get: %s has sha256 %s, not %s: remove it and fetch again", outPath, got, args[1])
			}
			return c.print(fmt.Appendf(nil, `{"sha256":%q,"size_bytes":%d,"file":%q}`, args[1], n, outPath))
		}}
	get.Flags().StringVar(&outPath, "out", "", "file to write (a partial one is resumed)")
	get.MarkFlagRequired("out")
	root.AddCommand(get)
	return root
}

// patchFrom sends the file from off to the upload; it returns the new
// offset, whether the recording is attached, and the node's answer.
func patchFrom(cmd *cobra.Command, hc *http.Client, c *apiClient, path string, f *os.File, off, size int64) (int64, bool, []byte, error) {
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPatch, strings.TrimRight(c.base, "/")+path, io.NewSectionReader(f, off, size-off))
	if err != nil {
		return off, false, nil, err
	}
	req.ContentLength = size - off
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	resp, err := hc.Do(req)
	if err != nil {
		return off, false, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return off, false, nil, newAPIError(resp.StatusCode, b)
	}
	var up struct {
		Offset   int64 `json:"offset"`
		Complete bool  `json:"complete"`
	}
	err = json.Unmarshal(b, &up)
	return up.Offset, up.Complete, b, err
}
