package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
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
	c.renderPlayer(w, q, http.StatusOK, "", nil)
}

func (c *Console) renderPlayer(w http.ResponseWriter, q *req, status int, problem string, d *policy.Decision) {
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
		if m.SHA256 != sum {
			continue
		}
		to, err := c.messageDestinations(q, id)
		if err != nil {
			c.fail(w, q, err)
			return
		}
		v := c.newView(q, "media.title")
		v.Problem = problem
		c.render(w, q, status, "player", struct {
			*view
			CaseID   string
			M        mediaRow
			Src      string
			To       []string
			Decision *policy.Decision
		}{v, id, m, c.o.Prefix + "/cases/" + url.PathEscape(id) + "/media/" + sum + "/raw", to, d})
		return
	}
	c.errorPage(w, q, http.StatusNotFound, "error.not_found")
}

// messageDestinations are the members a message about a case may go to
// from here: the case's origin when it was received, its recipients when
// it is this node's own.
func (c *Console) messageDestinations(q *req, id string) ([]string, error) {
	cv, err := c.o.Backend.ReadCase(q.Context(), q.actor(), id, false)
	if err != nil || cv.Case.Erased() {
		return nil, err
	}
	if cv.Case.Origin != c.o.Backend.Self() {
		return []string{cv.Case.Origin}, nil
	}
	var out []string
	for _, r := range cv.Recipients {
		out = append(out, r.Member)
	}
	return out, nil
}

// sendRecording sends a recording of the case as a voice or video message
// (schema v1 message referencing it; the node completes the reference from
// the stored bytes and pushes them before the envelope).
func (c *Console) sendRecording(w http.ResponseWriter, q *req) {
	id, sum, to := q.PathValue("id"), q.PathValue("sha"), q.PostForm.Get("to")
	dur, err := strconv.ParseFloat(q.PostForm.Get("duration"), 64)
	if !sha256RE.MatchString(sum) || !validMember(to) || err != nil || !(dur >= 0 && dur <= 86400) {
		c.renderPlayer(w, q, http.StatusUnprocessableEntity, q.lc.T("media.send_invalid"), nil)
		return
	}
	rows, err := c.caseMedia(q, id)
	if err != nil {
		c.fail(w, q, err)
		return
	}
	var m *mediaRow
	for i := range rows {
		if rows[i].SHA256 == sum {
			m = &rows[i]
		}
	}
	if m == nil || m.Kind == "other" {
		c.errorPage(w, q, http.StatusNotFound, "error.not_found")
		return
	}
	kind, channel := "voice_message", "voice"
	if m.Kind == "video" {
		kind, channel = "video_message", "video"
	}
	self := c.o.Backend.Self()
	now := c.o.Now().UTC()
	doc, _ := json.Marshal(map[string]any{"schema": schema.KindMessage.SchemaTag(), "message_id": self + ":MSG-" + newLocalID(now),
		"case_id": id, "kind": kind, "channel": channel, "created_at": now.Format(time.RFC3339),
		"from": map[string]any{"member": self}, "to": map[string]any{"member": to},
		"media": map[string]any{"sha256": sum, "media_type": m.MediaType, "size_bytes": m.SizeBytes, "duration_seconds": dur}})
	res, err := c.o.Backend.SendMessage(q.Context(), q.actor(), id, to, doc)
	if err != nil {
		fl := failureOf(err)
		if fl.Code == string(node.CodeInternal) {
			c.fail(w, q, err)
			return
		}
		c.renderPlayer(w, q, statusOf(fl.Code), c.codeText(q.lc, fl), fl.Decision)
		return
	}
	if res.State == "denied" {
		c.renderPlayer(w, q, http.StatusUnprocessableEntity, q.lc.T("done.denied"), &res.Decision)
		return
	}
	done := "message_queued"
	if res.State == "needs_review" {
		done = "needs_review"
	}
	http.Redirect(w, q.Request, c.o.Prefix+"/cases/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
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
