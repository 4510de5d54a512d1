package api

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// The workspace-wide settings tandem apply writes (workspace.yaml's jobs:
// and quotas: sections), replicated with the workspace state: every region
// uses the applied ones over its own file's, with no restart.
func (s *Server) addSettingsRoutes() {
	s.route("GET", "/settings/jobs", "The workspace-wide job settings tandem apply wrote (404: none; regions use their workspace file's)", "", handle(s, 200, s.getJobSettings))
	s.route("PUT", "/settings/jobs", "Write the workspace-wide job settings (jobs.max_instances, jobs.resubmit): every region schedules by them at once", "", handleJSON(s, 200, s.putJobSettings))
	s.route("DELETE", "/settings/jobs", "Remove the applied job settings: regions use their workspace file's again", "", handle(s, 200, s.deleteJobSettings))
	s.route("GET", "/settings/quotas", "The workspace's quotas tandem apply wrote (404: none; regions use their workspace file's)", "", handle(s, 200, s.getQuotaSettings))
	s.route("PUT", "/settings/quotas", "Write the workspace's quotas (quotas.endpoint_instances, per region): every region checks endpoint and deployment writes by them at once", "", handleJSON(s, 200, s.putQuotaSettings))
	s.route("DELETE", "/settings/quotas", "Remove the applied quotas: regions use their workspace file's again", "", handle(s, 200, s.deleteQuotaSettings))
}

func (s *Server) getJobSettings(r *http.Request) (*tandem.JobSettings, error) {
	return s.store.JobSettings(r.Context())
}

func (s *Server) putJobSettings(r *http.Request, js *tandem.JobSettings) (*tandem.JobSettings, error) {
	if err := s.store.PutJobSettings(r.Context(), *js); err != nil {
		return nil, err
	}
	if s.runner != nil {
		s.runner.Wake()
	}
	return js, nil
}

func (s *Server) deleteJobSettings(r *http.Request) (map[string]string, error) {
	if err := s.store.DeleteJobSettings(r.Context()); err != nil {
		return nil, err
	}
	if s.runner != nil {
		s.runner.Wake()
	}
	return map[string]string{}, nil
}

func (s *Server) getQuotaSettings(r *http.Request) (*tandem.QuotaSettings, error) {
	return s.store.QuotaSettings(r.Context())
}

func (s *Server) putQuotaSettings(r *http.Request, q *tandem.QuotaSettings) (*tandem.QuotaSettings, error) {
	if err := s.store.PutQuotaSettings(r.Context(), *q); err != nil {
		return nil, err
	}
	return q, nil
}

func (s *Server) deleteQuotaSettings(r *http.Request) (map[string]string, error) {
	if err := s.store.DeleteQuotaSettings(r.Context()); err != nil {
		return nil, err
	}
	return map[string]string{}, nil
}
