package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/trust"
)

// healthStatus is the body of /healthz and /readyz when all is well.
type healthStatus struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process serves HTTP.
func (l *localAPI) healthz(w http.ResponseWriter, _ *http.Request, _ node.Actor) {
	writeJSON(w, http.StatusOK, healthStatus{Status: "ok"})
}

// readyz answers 200 when the node holds a usable (unexpired) federation
// manifest and its database answers, else 503 unavailable.
func (l *localAPI) readyz(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := l.n.Ready(ctx); err != nil {
		detail := "the database does not answer"
		if errors.Is(err, trust.ErrNoManifest) || l.n.Manifest() == nil {
			detail = "no usable federation manifest (none held, or it expired)"
		}
		w.Header().Set("Retry-After", "10")
		writeProblem(w, problem.Unavailable, detail)
		return
	}
	writeJSON(w, http.StatusOK, healthStatus{Status: "ready"})
}

func (l *localAPI) serveMetrics(w http.ResponseWriter, r *http.Request, _ node.Actor) {
	if l.metrics == nil {
		writeProblem(w, problem.NotFound, "metrics are not enabled")
		return
	}
	l.metrics.ServeHTTP(w, r)
}
