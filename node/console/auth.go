package console

import (
	"errors"
	"net/http"
	"strings"
)

// maxTokenBytes bounds what sign-in accepts as a token.
const maxTokenBytes = 512

func (c *Console) signinPage(w http.ResponseWriter, q *req) {
	if q.se != nil {
		http.Redirect(w, q.Request, c.o.Prefix+"/", http.StatusSeeOther)
		return
	}
	c.renderSignin(w, q, http.StatusOK, "")
}

func (c *Console) renderSignin(w http.ResponseWriter, q *req, status int, problemKey string) {
	v := c.newView(q, "signin.title")
	if problemKey != "" {
		v.Problem = q.lc.T(problemKey)
	}
	c.render(w, q, status, "signin", struct {
		*view
		Next string
	}{v, c.safeNext(q.FormValue("next"))})
}

// signin exchanges a token for a session. The session id is new at every
// sign-in (no fixation), and an earlier session of this browser ends.
func (c *Console) signin(w http.ResponseWriter, q *req) {
	if !c.isHTTPS(q.Request) && !loopbackHost(q.Host) {
		c.renderSignin(w, q, http.StatusForbidden, "signin.https_needed")
		return
	}
	tok := strings.TrimSpace(q.PostForm.Get("token"))
	if tok == "" || len(tok) > maxTokenBytes {
		c.renderSignin(w, q, http.StatusUnauthorized, "signin.bad_token")
		return
	}
	p, err := c.o.Auth.Authenticate(q.Context(), tok)
	if err != nil {
		if !errors.Is(err, ErrBadCredential) {
			// Not the person's token: the node could not check it (its
			// database, say). Saying "not accepted" would send them after a
			// new token that would fail the same way.
			c.log.Error("console: authenticator failed", "err", err.Error())
			c.renderSignin(w, q, http.StatusServiceUnavailable, "signin.unavailable")
			return
		}
		c.log.Info("console: sign-in refused")
		c.renderSignin(w, q, http.StatusUnauthorized, "signin.bad_token")
		return
	}
	if q.sid != "" {
		c.sessions.close(q.sid)
	}
	sid, se := c.sessions.open(p)
	c.setSessionCookie(w, q.Request, sid, int(se.expires.Sub(se.created).Seconds()))
	c.log.Info("console: signed in", "actor", p.Name, "role", p.Role)
	next := c.safeNext(q.PostForm.Get("next"))
	if p.Role == RoleAdmin && next == c.o.Prefix+"/" { // an admin has the tokens page only
		next = c.o.Prefix + "/admin/tokens"
	}
	http.Redirect(w, q.Request, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, q *req) {
	c.sessions.close(q.sid)
	c.setSessionCookie(w, q.Request, "", -1)
	c.log.Info("console: signed out", "actor", q.se.principal.Name)
	http.Redirect(w, q.Request, c.o.Prefix+"/signin?done=signed_out", http.StatusSeeOther)
}
