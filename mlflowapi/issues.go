package mlflowapi

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// MLflow 3 issues: quality problems found in an experiment's traces,
// served under the 3.0 prefixes as MLflow's server serves them. Traces are
// linked to an issue by assessments of type issue (traces.go).

func (s *Server) routesIssues() {
	s.handle3("POST", "issues", handleJSON(s, s.createIssue))
	s.handle3("POST", "issues/search", handleJSON(s, s.searchIssues))
	s.handle3("GET", "issues/{issue_id}", handleCall(s, s.getIssue))
	s.handle3("PATCH", "issues/{issue_id}", handleJSON(s, s.updateIssue))
}

type createIssueReq struct {
	ExperimentID string   `json:"experiment_id" mlflow:"required"`
	Name         string   `json:"name" mlflow:"required"`
	Description  string   `json:"description" mlflow:"required"`
	Status       string   `json:"status"`
	Severity     string   `json:"severity"`
	RootCauses   []string `json:"root_causes"`
	SourceRunID  string   `json:"source_run_id"`
	CreatedBy    string   `json:"created_by"`
	Categories   []string `json:"categories"`
}

type issueResp struct {
	Issue *tandem.Issue `json:"issue"`
}

func (s *Server) createIssue(r *http.Request, req *createIssueReq) (any, error) {
	is, err := s.Store.CreateIssue(r.Context(), tandem.Issue{ExperimentID: req.ExperimentID, Name: req.Name,
		Description: req.Description, Status: req.Status, Severity: req.Severity, RootCauses: req.RootCauses,
		SourceRunID: req.SourceRunID, CreatedBy: req.CreatedBy, Categories: req.Categories})
	if err != nil {
		return nil, err
	}
	return issueResp{is}, nil
}

func (s *Server) getIssue(r *http.Request) (any, error) {
	is, err := s.Store.GetIssue(r.Context(), r.PathValue("issue_id"))
	if err != nil {
		return nil, err
	}
	return issueResp{is}, nil
}

type updateIssueReq struct {
	IssueID     string `json:"issue_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Severity    string `json:"severity"`
}

func (s *Server) updateIssue(r *http.Request, req *updateIssueReq) (any, error) {
	id := r.PathValue("issue_id")
	if req.IssueID != "" && req.IssueID != id {
		return nil, tandem.Errorf(tandem.EINVALID, "The body names issue '%s', the path '%s'.", req.IssueID, id)
	}
	is, err := s.Store.UpdateIssue(r.Context(), id, tandem.IssueUpdate{Name: req.Name, Description: req.Description,
		Status: req.Status, Severity: req.Severity})
	if err != nil {
		return nil, err
	}
	return issueResp{is}, nil
}

type searchIssuesReq struct {
	ExperimentID      string `json:"experiment_id"`
	FilterString      string `json:"filter_string"`
	MaxResults        Int64  `json:"max_results"`
	PageToken         string `json:"page_token"`
	IncludeTraceCount Bool   `json:"include_trace_count"`
}

func (s *Server) searchIssues(r *http.Request, req *searchIssuesReq) (any, error) {
	in := tandem.IssueSearch{ExperimentID: req.ExperimentID, Filter: req.FilterString, PageToken: req.PageToken,
		IncludeTraceCount: req.IncludeTraceCount.V}
	if req.MaxResults.Set {
		if req.MaxResults.V < 1 || req.MaxResults.V > tandem.MaxIssueSearch {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", req.MaxResults.V)
		}
		in.MaxResults = int(req.MaxResults.V)
	}
	issues, next, err := s.Store.SearchIssues(r.Context(), in)
	if err != nil {
		return nil, err
	}
	// A search reads only the experiments the caller may read.
	out := issues[:0]
	for _, is := range issues {
		if tandem.Visible(r.Context(), tandem.ExperimentScope(is.ExperimentID)) {
			out = append(out, is)
		}
	}
	return struct {
		Issues        []tandem.Issue `json:"issues,omitempty"`
		NextPageToken string         `json:"next_page_token,omitempty"`
	}{out, next}, nil
}
