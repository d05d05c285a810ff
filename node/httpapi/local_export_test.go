package httpapi

import (
	"log/slog"

	"github.com/gorilla/mux"
)

// LocalRoute is a route registered on the local API router, with the roles
// its guard allows (nil: no token needed).
type LocalRoute struct {
	Method string
	Path   string
	Roles  []string
}

// RegisteredLocalRoutes walks the real local API router.
func RegisteredLocalRoutes() ([]LocalRoute, error) {
	l := &localAPI{auth: &tokenAuth{}, log: slog.New(slog.DiscardHandler)}
	roles := map[string][]string{}
	for _, rt := range l.routes() {
		roles[rt.method+" "+rt.path] = rt.access
	}
	var out []LocalRoute
	err := l.router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			out = append(out, LocalRoute{Method: m, Path: tpl, Roles: roles[m+" "+tpl]})
		}
		return nil
	})
	return out, err
}
