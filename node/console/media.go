package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/familylinks/flx/node"
)

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// mediaRow is a recording of a case with how the page plays it.
type mediaRow struct {
	node.CaseMedia
	Kind string // video | audio | other
}

func mediaKind(mediaType string) string {
	switch {
	case strings.HasPrefix(mediaType, "video/"):
		return "video"
	case strings.HasPrefix(mediaType, "audio/"):
		return "audio"
	}
	return "other"
}

// caseMedia lists a case's recordings for roles that may play them (the
// local API's role for media: caseworkers); none for others.
func (c *Console) caseMedia(q *req, id string) ([]mediaRow, error) {
	if q.role() != RoleCaseworker {
		return nil, nil
	}
	items, err := c.o.Backend.ListCaseMedia(q.Context(), q.actor(), id)
	if err != nil {
		return nil, err
	}
	out := make([]mediaRow, 0, len(items))
	for _, m := range items {
		if !m.Erased {
			out = append(out, mediaRow{m, mediaKind(m.MediaType)})
		}
	}
	return out, nil
}

// playerPage shows one recording with the browser's own player; the
// bytes come from mediaRaw, on this origin.
func (c *Console) playerPage(w http.ResponseWriter, q *req) {
	id, sum := q.PathValue("id"), q.PathValue("sha")
	if !sha256RE.MatchString(sum) {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	rows, err := c.caseMedia(q, id)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	for _, m := range rows {
		if m.SHA256 == sum {
			c.render(w, q, http.StatusOK, "player", struct {
				*view
				CaseID string
				M      mediaRow
				Src    string
			}{c.newView(q, "media.title"), id, m, c.o.Prefix + "/cases/" + url.PathEscape(id) + "/media/" + sum + "/raw"})
			return
		}
	}
	c.errorPage(w, q, http.StatusNotFound, "error.not_found")
}

// mediaIdle bounds how long one write of a stream may take: a slow player
// keeps its stream, a stalled one is cut (the listener's write timeout is
// moved on at every write).
const mediaIdle = 2 * time.Minute

type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (s streamWriter) Write(b []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(mediaIdle))
	return s.ResponseWriter.Write(b)
}

func (s streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// mediaRaw streams a recording with HTTP ranges; every answer is a read
// audited by the node (media.read).
func (c *Console) mediaRaw(w http.ResponseWriter, q *req) {
	id, sum := q.PathValue("id"), q.PathValue("sha")
	if !sha256RE.MatchString(sum) {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	if err := c.o.Backend.ServeCaseMedia(streamWriter{w, http.NewResponseController(w)}, q.Request, q.actor(), id, sum); err != nil {
		c.fail(w, q, err)
	}
}
