package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/familylinks/flx/federation/problem"
)

// writeProblem writes the problem document of code with its status (from
// the one code table, federation/problem). detail must hold no personal
// data.
func writeProblem(w http.ResponseWriter, code problem.Code, detail string) {
	problem.Of(code, detail).Write(w)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, problem.Internal, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}
