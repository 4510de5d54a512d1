package api

import (
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
)

// addDrillRoutes: recorded drill reports (tandem drill records its report
// in the workspace it drilled, or with --record; the console lists them).
func (s *Server) addDrillRoutes() {
	s.route("POST", "/drills", "Record a drill's report (tandem drill; journalled and replicated)", "", handleJSON(s, 201, s.recordDrill))
	s.route("GET", "/drills", "List recorded drills, newest first (?limit=, at most 500)", "", handle(s, 200, s.listDrills))
}

// DrillList is what GET /drills answers.
type DrillList struct {
	Drills []tandem.DrillRecord `json:"drills"`
}

func (s *Server) recordDrill(r *http.Request, req *tandem.DrillRecord) (*tandem.DrillRecord, error) {
	by := ""
	if c := auth.CallerFrom(r.Context()); c != nil {
		by = c.Name
	}
	return s.store.RecordDrill(r.Context(), *req, by)
}

func (s *Server) listDrills(r *http.Request) (DrillList, error) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return DrillList{}, tandem.Errorf(tandem.EINVALID, "limit must be a positive integer")
		}
		limit = n
	}
	ds, err := s.store.Drills(r.Context(), limit)
	return DrillList{Drills: ds}, err
}
