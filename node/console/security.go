package console

import (
	"net"
	"net/http"
	"strings"
)

// ContentSecurityPolicy is sent with every console answer: scripts, styles,
// images and connections only from the node itself, no inline code, no
// plugins, no framing, forms only to the node.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// setSecurityHeaders sets the headers every console answer carries.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cache-Control", "no-store")
}

// sessionCookieName is the session cookie's name: with the __Host- prefix
// over HTTPS (the browser then refuses it unless Secure, host-only, Path=/).
func sessionCookieName(secure bool) string {
	if secure {
		return "__Host-flx_session"
	}
	return "flx_session"
}

// langCookie keeps the language chosen with the switcher.
const langCookie = "flx_lang"

// isHTTPS reports whether the browser talks HTTPS to the console.
func (c *Console) isHTTPS(r *http.Request) bool { return r.TLS != nil || c.o.HTTPS }

// loopbackHost reports whether the request's Host is a loopback name or
// address: browsers treat those as secure contexts, so a Secure cookie is
// kept even in plain HTTP.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// setSessionCookie sends the session id. Secure is always set: browsers keep
// Secure cookies from loopback hosts in plain HTTP, and anywhere else the
// console must be served over HTTPS (sign-in refuses otherwise).
func (c *Console) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookieName(c.isHTTPS(r)), Value: id, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) sessionID(r *http.Request) string {
	ck, err := r.Cookie(sessionCookieName(c.isHTTPS(r)))
	if err != nil {
		return ""
	}
	return ck.Value
}

// maxFormBytes bounds console form bodies (a case form is a few KiB).
const maxFormBytes = 1 << 20

// crossOriginDenied answers a request refused by the cross-origin checks.
func (c *Console) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	q := c.newReq(w, r)
	c.log.Warn("console: cross-origin request refused", "method", r.Method, "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	c.errorPage(w, q, http.StatusForbidden, "error.csrf")
}
