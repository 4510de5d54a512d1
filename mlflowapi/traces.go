package mlflowapi

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
	"github.com/tandemml/tandem/pyjson"
	"github.com/tandemml/tandem/tracemetrics"
)

// MLflow 3 traces: the v3 trace API under /api/3.0/mlflow/ (and
// /ajax-api/3.0/mlflow/), the v2 routes the client still calls (start/end,
// tags, delete, link to run) and OTLP span ingestion (traces_otlp.go).

// V3Routes are the trace routes served under the 3.0 prefixes, as
// "METHOD name" relative to /api/3.0/mlflow/.
func (s *Server) routesTraces() {
	s.handle3("POST", "traces", handleJSON(s, s.startTraceV3))
	s.handle3("GET", "traces/get", handleJSON(s, s.getTrace))
	s.handle3("GET", "traces/batchGet", handleJSON(s, s.batchGetTraces))
	s.handle3("POST", "traces/batchGetInfos", handleJSON(s, s.batchGetTraceInfos))
	s.handle3("POST", "traces/search", handleJSON(s, s.searchTracesV3))
	s.handle3("POST", "traces/calculate-filter-correlation", handleJSON(s, s.correlateTraceFilters))
	s.handle3("POST", "traces/metrics", handleJSON(s, s.queryTraceMetrics))
	s.handle3("GET", "traces/{trace_id}", handleCall(s, s.getTraceInfoV3))
	s.handle3("PATCH", "traces/{trace_id}/tags", handleJSON(s, s.setTraceTag))
	s.handle3("DELETE", "traces/{trace_id}/tags", handleJSON(s, s.deleteTraceTag))
	s.handle3("POST", "traces/delete-traces", handleJSON(s, s.deleteTraces))
	s.handle3("POST", "traces/{trace_id}/assessments", handleJSON(s, s.createAssessment))
	s.handle3("GET", "traces/{trace_id}/assessments/{assessment_id}", handleCall(s, s.getAssessment))
	s.handle3("PATCH", "traces/{trace_id}/assessments/{assessment_id}", handleJSON(s, s.updateAssessment))
	s.handle3("DELETE", "traces/{trace_id}/assessments/{assessment_id}", handleCall(s, s.deleteAssessment))

	s.handle("POST", "traces", handleJSON(s, s.startTraceV2))
	s.handle("GET", "traces", handleJSON(s, s.searchTracesV2))
	s.handle("PATCH", "traces/{trace_id}", handleJSON(s, s.endTraceV2))
	s.handle("GET", "traces/{trace_id}/info", handleCall(s, s.getTraceInfoV2))
	s.handle("PATCH", "traces/{trace_id}/tags", handleJSON(s, s.setTraceTag))
	s.handle("DELETE", "traces/{trace_id}/tags", handleJSON(s, s.deleteTraceTag))
	s.handle("POST", "traces/delete-traces", handleJSON(s, s.deleteTraces))
	s.handle("POST", "traces/link-to-run", handleJSON(s, s.linkTracesToRun))
	s.handle("POST", "traces/link-prompts", handleJSON(s, s.linkPromptsToTrace))

	s.handleRaw("POST /v1/traces", s.otlpTraces)
}

// handle3 registers h under both 3.0 prefixes.
func (s *Server) handle3(method, name string, h http.HandlerFunc) {
	for _, p := range []string{"/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"} {
		s.handleRaw(method+" "+p+name, h)
	}
}

// JSON forms (proto3 JSON with proto field names, as MLflow writes them).

type traceLocationJSON struct {
	Type             string `json:"type"`
	MlflowExperiment *struct {
		ExperimentID string `json:"experiment_id"`
	} `json:"mlflow_experiment,omitempty"`
}

type traceInfoJSON struct {
	TraceID           string            `json:"trace_id"`
	ClientRequestID   string            `json:"client_request_id,omitempty"`
	TraceLocation     traceLocationJSON `json:"trace_location"`
	RequestPreview    string            `json:"request_preview,omitempty"`
	ResponsePreview   string            `json:"response_preview,omitempty"`
	RequestTime       string            `json:"request_time"`
	ExecutionDuration string            `json:"execution_duration,omitempty"`
	State             string            `json:"state"`
	// The maps and the list come encoded: a search's are the store's
	// listing as it is (tandem.TraceListing).
	TraceMetadata json.RawMessage `json:"trace_metadata,omitempty"`
	Tags          json.RawMessage `json:"tags,omitempty"`
	Assessments   json.RawMessage `json:"assessments,omitempty"`
}

type traceJSON struct {
	TraceInfo traceInfoJSON     `json:"trace_info"`
	Spans     []json.RawMessage `json:"spans"`
}

func protoTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func protoDuration(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) + "s"
}

func toTraceInfoJSON(t *tandem.TraceInfo) traceInfoJSON {
	out := traceInfoJSON{TraceID: t.TraceID, ClientRequestID: t.ClientRequestID, RequestPreview: t.RequestPreview,
		ResponsePreview: t.ResponsePreview, RequestTime: protoTime(t.RequestTime), ExecutionDuration: protoDuration(t.ExecutionDuration),
		State: t.State}
	out.TraceLocation.Type = "MLFLOW_EXPERIMENT"
	out.TraceLocation.MlflowExperiment = &struct {
		ExperimentID string `json:"experiment_id"`
	}{t.ExperimentID}
	if l := t.Listing; l != nil {
		out.Tags, out.TraceMetadata, out.Assessments = nonEmptyJSON(l.Tags), nonEmptyJSON(l.Metadata), nonEmptyJSON(l.Assessments)
		return out
	}
	if len(t.Metadata) > 0 {
		out.TraceMetadata, _ = json.Marshal(t.Metadata)
	}
	if len(t.Tags) > 0 {
		out.Tags, _ = json.Marshal(t.Tags)
	}
	if len(t.Assessments) > 0 {
		bodies := make([]json.RawMessage, len(t.Assessments))
		for i, a := range t.Assessments {
			bodies[i] = a.Body
		}
		out.Assessments, _ = json.Marshal(bodies)
	}
	return out
}

// nonEmptyJSON is nil for an empty JSON object or array ("{}", "[]"),
// which MLflow leaves out, and b otherwise.
func nonEmptyJSON(b json.RawMessage) json.RawMessage {
	if len(b) <= 2 {
		return nil
	}
	return b
}

// parseProtoTime reads a proto3 JSON Timestamp (RFC 3339) as milliseconds.
func parseProtoTime(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter '%s' supplied.", s, field)
	}
	return t.UnixMilli(), nil
}

// parseProtoDuration reads a proto3 JSON Duration ("1.5s") as milliseconds.
func parseProtoDuration(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil || !strings.HasSuffix(s, "s") || f < 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter '%s' supplied.", s, field)
	}
	return int64(f*1000 + 0.5), nil
}

type traceInfoIn struct {
	TraceID         string `json:"trace_id"`
	ClientRequestID string `json:"client_request_id"`
	TraceLocation   struct {
		Type             string `json:"type"`
		MlflowExperiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"mlflow_experiment"`
	} `json:"trace_location"`
	RequestPreview    string            `json:"request_preview"`
	ResponsePreview   string            `json:"response_preview"`
	RequestTime       string            `json:"request_time"`
	ExecutionDuration string            `json:"execution_duration"`
	State             string            `json:"state"`
	TraceMetadata     map[string]string `json:"trace_metadata"`
	Tags              map[string]string `json:"tags"`
	Assessments       []json.RawMessage `json:"assessments"`
}

func (in *traceInfoIn) info() (tandem.TraceInfo, error) {
	t := tandem.TraceInfo{TraceID: in.TraceID, ExperimentID: in.TraceLocation.MlflowExperiment.ExperimentID,
		ClientRequestID: in.ClientRequestID, RequestPreview: in.RequestPreview, ResponsePreview: in.ResponsePreview,
		State: in.State, Tags: in.Tags, Metadata: in.TraceMetadata}
	if in.TraceLocation.Type != "" && in.TraceLocation.Type != "MLFLOW_EXPERIMENT" {
		return t, tandem.Errorf(tandem.EINVALID, "Trace location type %s is not supported by this server; only MLFLOW_EXPERIMENT is.", in.TraceLocation.Type)
	}
	var err error
	if t.RequestTime, err = parseProtoTime("request_time", in.RequestTime); err != nil {
		return t, err
	}
	if t.ExecutionDuration, err = parseProtoDuration("execution_duration", in.ExecutionDuration); err != nil {
		return t, err
	}
	for _, raw := range in.Assessments {
		a, _, err := assessmentIn(raw)
		if err != nil {
			return t, err
		}
		t.Assessments = append(t.Assessments, a)
	}
	return t, nil
}

// expectationOut is an assessment's expectation as MLflow keeps it: a
// string, number or boolean stays its value; any other value (an object,
// a list, null) is kept as JSON text under serialized_value, as MLflow's
// ExpectationValue writes it (json.dumps, numbers read as doubles). raw is
// the assessment's JSON; an expectation already serialized stays so.
func expectationOut(raw json.RawMessage) (json.RawMessage, error) {
	var a struct {
		Expectation json.RawMessage `json:"expectation"`
	}
	var e map[string]json.RawMessage
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal(a.Expectation, &e) != nil || e == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value for parameter 'expectation' supplied: expected an object.")
	}
	v, ok := e["value"]
	if !ok {
		return a.Expectation, nil
	}
	switch t := bytes.TrimSpace(v); {
	case len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == 'n'):
		text, err := pyjson.Dumps(t, true, true)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value for parameter 'expectation' supplied: %v", err)
		}
		delete(e, "value")
		e["serialized_value"], _ = json.Marshal(map[string]string{"serialization_format": "JSON_FORMAT", "value": text})
	}
	return json.Marshal(e)
}

// assessmentIn reads an assessment's JSON: its name, its trace and the
// assessment it overrides; the body is kept as sent less the fields the
// server chooses.
func assessmentIn(raw json.RawMessage) (tandem.Assessment, string, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return tandem.Assessment{}, "", tandem.Errorf(tandem.EINVALID, "Invalid value for parameter 'assessment' supplied: expected an object.")
	}
	name, _ := m["assessment_name"].(string)
	trace, _ := m["trace_id"].(string)
	over, _ := m["overrides"].(string)
	_, fb := m["feedback"]
	_, ex := m["expectation"]
	if fb && ex {
		return tandem.Assessment{}, "", tandem.Errorf(tandem.EINVALID, "An assessment has either a feedback or an expectation, not both.")
	}
	if _, ok := m["valid"]; !ok {
		m["valid"] = true
	}
	if ex {
		e, err := expectationOut(raw)
		if err != nil {
			return tandem.Assessment{}, "", err
		}
		m["expectation"] = e
	}
	delete(m, "create_time")
	delete(m, "last_update_time")
	delete(m, "assessment_id")
	body, _ := json.Marshal(m)
	return tandem.Assessment{Name: name, TraceID: trace, Body: body}, over, nil
}

type startTraceV3Req struct {
	Trace struct {
		TraceInfo traceInfoIn `json:"trace_info"`
	} `json:"trace"`
}

func (s *Server) startTraceV3(r *http.Request, req *startTraceV3Req) (any, error) {
	in, err := req.Trace.TraceInfo.info()
	if err != nil {
		return nil, err
	}
	t, err := s.Store.StartTrace(r.Context(), in)
	if err != nil {
		return nil, err
	}
	return map[string]any{"trace": traceJSON{TraceInfo: toTraceInfoJSON(t), Spans: []json.RawMessage{}}}, nil
}

func (s *Server) getTraceInfoV3(r *http.Request) (any, error) {
	t, err := s.Store.GetTraceInfo(r.Context(), r.PathValue("trace_id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"trace": traceJSON{TraceInfo: toTraceInfoJSON(t), Spans: []json.RawMessage{}}}, nil
}

type getTraceReq struct {
	TraceID      string `json:"trace_id" mlflow:"required"`
	AllowPartial Bool   `json:"allow_partial"`
}

func (s *Server) getTrace(r *http.Request, req *getTraceReq) (any, error) {
	ts, err := s.fullTraces(r, []string{req.TraceID})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "Trace with ID %s is not found.", req.TraceID)
	}
	return map[string]any{"trace": ts[0]}, nil
}

// fullTraces returns the traces named that exist, with their spans.
func (s *Server) fullTraces(r *http.Request, ids []string) ([]traceJSON, error) {
	infos, err := s.Store.BatchTraceInfos(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	found := make([]string, len(infos))
	for i, t := range infos {
		found[i] = t.TraceID
	}
	spans, err := s.Store.TraceSpans(r.Context(), found)
	if err != nil {
		return nil, err
	}
	out := make([]traceJSON, 0, len(infos))
	for _, t := range infos {
		tj := traceJSON{TraceInfo: toTraceInfoJSON(t), Spans: []json.RawMessage{}}
		for _, sp := range spans[t.TraceID] {
			j, err := otlpspan.MLflowJSON(sp.Content)
			if err != nil {
				return nil, err
			}
			tj.Spans = append(tj.Spans, j)
		}
		out = append(out, tj)
	}
	return out, nil
}

type batchGetTracesReq struct {
	TraceIDs      []string `json:"trace_ids"`
	ExperimentIDs []string `json:"experiment_ids"`
}

// MLflow's bound on one batch get.
const maxBatchTraces = 100

func (req *batchGetTracesReq) check() error {
	if len(req.TraceIDs) > maxBatchTraces {
		return tandem.Errorf(tandem.EINVALID, "Cannot get more than %d traces in a single request. Provided %d.", maxBatchTraces, len(req.TraceIDs))
	}
	return nil
}

func (req *batchGetTracesReq) inExperiments(t *tandem.TraceInfo) bool {
	if len(req.ExperimentIDs) == 0 {
		return true
	}
	for _, e := range req.ExperimentIDs {
		if e == t.ExperimentID {
			return true
		}
	}
	return false
}

func (s *Server) batchGetTraces(r *http.Request, req *batchGetTracesReq) (any, error) {
	ts, err := s.fullTraces(r, req.TraceIDs)
	if err != nil {
		return nil, err
	}
	out := []traceJSON{}
	for _, t := range ts {
		if req.inExperiments(&tandem.TraceInfo{ExperimentID: t.TraceInfo.TraceLocation.MlflowExperiment.ExperimentID}) {
			out = append(out, t)
		}
	}
	return map[string]any{"traces": out}, nil
}

func (s *Server) batchGetTraceInfos(r *http.Request, req *batchGetTracesReq) (any, error) {
	infos, err := s.Store.BatchTraceInfos(r.Context(), req.TraceIDs)
	if err != nil {
		return nil, err
	}
	out := []traceInfoJSON{}
	for _, t := range infos {
		if req.inExperiments(t) {
			out = append(out, toTraceInfoJSON(t))
		}
	}
	return map[string]any{"trace_infos": out}, nil
}

type searchTracesV3Req struct {
	Locations []struct {
		Type             string `json:"type"`
		MlflowExperiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"mlflow_experiment"`
	} `json:"locations"`
	Filter     string   `json:"filter"`
	MaxResults Int64    `json:"max_results"`
	OrderBy    []string `json:"order_by"`
	PageToken  string   `json:"page_token"`
}

// maxSearchTraces is MLflow's limit on a trace search's max_results.
const maxSearchTraces = 500

func (s *Server) searchTracesV3(r *http.Request, req *searchTracesV3Req) (any, error) {
	var exps []string
	for _, l := range req.Locations {
		if l.Type != "" && l.Type != "MLFLOW_EXPERIMENT" {
			return nil, tandem.Errorf(tandem.EINVALID, "Trace location type %s is not supported by this server; only MLFLOW_EXPERIMENT is.", l.Type)
		}
		if l.MlflowExperiment.ExperimentID != "" {
			exps = append(exps, l.MlflowExperiment.ExperimentID)
		}
	}
	max, err := positiveMaxResults(req.MaxResults, maxSearchTraces, false)
	if err != nil {
		return nil, err
	}
	infos, next, err := s.Store.SearchTraces(r.Context(), exps, req.Filter, max, req.OrderBy, req.PageToken)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"traces": []traceInfoJSON{}}
	list := make([]traceInfoJSON, 0, len(infos))
	for _, t := range infos {
		list = append(list, toTraceInfoJSON(t))
	}
	out["traces"] = list
	if next != "" {
		out["next_page_token"] = next
	}
	return out, nil
}

type traceTagReq struct {
	Key   string `json:"key" mlflow:"required"`
	Value string `json:"value"`
}

func (s *Server) setTraceTag(r *http.Request, req *traceTagReq) (any, error) {
	return empty{}, s.Store.SetTraceTag(r.Context(), r.PathValue("trace_id"), req.Key, req.Value)
}

func (s *Server) deleteTraceTag(r *http.Request, req *traceTagReq) (any, error) {
	return empty{}, s.Store.DeleteTraceTag(r.Context(), r.PathValue("trace_id"), req.Key)
}

type deleteTracesReq struct {
	ExperimentID       string   `json:"experiment_id" mlflow:"required"`
	MaxTimestampMillis Int64    `json:"max_timestamp_millis"`
	MaxTraces          Int64    `json:"max_traces"`
	RequestIDs         []string `json:"request_ids"`
}

func (s *Server) deleteTraces(r *http.Request, req *deleteTracesReq) (any, error) {
	n, err := s.Store.DeleteTraces(r.Context(), req.ExperimentID, req.MaxTimestampMillis.V, int(req.MaxTraces.V), req.RequestIDs)
	if err != nil {
		return nil, err
	}
	return map[string]int{"traces_deleted": n}, nil
}

type linkTracesReq struct {
	TraceIDs []string `json:"trace_ids"`
	RunID    string   `json:"run_id" mlflow:"required"`
}

type linkPromptsReq struct {
	TraceID        string `json:"trace_id" mlflow:"required"`
	PromptVersions []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"prompt_versions" mlflow:"required"`
}

// linkPromptsToTrace links prompt versions to a trace (what the stock
// client does when a traced call loads a prompt); search_traces' filter
// prompt = "NAME/VERSION" finds them.
func (s *Server) linkPromptsToTrace(r *http.Request, req *linkPromptsReq) (any, error) {
	ids := make([]string, 0, len(req.PromptVersions))
	for _, pv := range req.PromptVersions {
		v, err := strconv.Atoi(pv.Version)
		if pv.Name == "" || err != nil || v < 1 {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid prompt version %q of prompt %q: a name and a version number are required.", pv.Version, pv.Name)
		}
		ids = append(ids, pv.Name+"/"+strconv.Itoa(v))
	}
	return empty{}, s.Store.LinkPromptsToTrace(r.Context(), req.TraceID, ids)
}

func (s *Server) linkTracesToRun(r *http.Request, req *linkTracesReq) (any, error) {
	return empty{}, s.Store.LinkTracesToRun(r.Context(), req.TraceIDs, req.RunID)
}

// Assessments.

type createAssessmentReq struct {
	Assessment json.RawMessage `json:"assessment" mlflow:"required"`
}

func (s *Server) createAssessment(r *http.Request, req *createAssessmentReq) (any, error) {
	a, over, err := assessmentIn(req.Assessment)
	if err != nil {
		return nil, err
	}
	if a.TraceID == "" {
		a.TraceID = r.PathValue("trace_id")
	}
	if a.TraceID != r.PathValue("trace_id") {
		return nil, tandem.Errorf(tandem.EINVALID, "The assessment's trace_id '%s' is not the trace of the path, '%s'.", a.TraceID, r.PathValue("trace_id"))
	}
	out, err := s.Store.CreateAssessment(r.Context(), a, over)
	if err != nil {
		return nil, err
	}
	return map[string]json.RawMessage{"assessment": out.Body}, nil
}

func (s *Server) getAssessment(r *http.Request) (any, error) {
	a, err := s.Store.GetAssessment(r.Context(), r.PathValue("trace_id"), r.PathValue("assessment_id"))
	if err != nil {
		return nil, err
	}
	return map[string]json.RawMessage{"assessment": a.Body}, nil
}

type updateAssessmentReq struct {
	Assessment json.RawMessage `json:"assessment" mlflow:"required"`
	UpdateMask string          `json:"update_mask"`
}

// The fields an update may change, as MLflow's UpdateAssessment allows.
var updatableAssessmentFields = map[string]bool{"assessment_name": true, "feedback": true, "expectation": true,
	"rationale": true, "metadata": true, "valid": true}

func (s *Server) updateAssessment(r *http.Request, req *updateAssessmentReq) (any, error) {
	var m map[string]any
	if err := json.Unmarshal(req.Assessment, &m); err != nil || m == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value for parameter 'assessment' supplied: expected an object.")
	}
	var paths []string
	for _, p := range strings.Split(req.UpdateMask, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, snakeCase(p)) // FieldMask JSON writes lowerCamel paths
		}
	}
	if len(paths) == 0 {
		for k := range m {
			if updatableAssessmentFields[k] {
				paths = append(paths, k)
			}
		}
		sort.Strings(paths)
	}
	fields := map[string]any{}
	for _, p := range paths {
		if !updatableAssessmentFields[p] {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter 'update_mask' supplied: the field cannot be updated.", p)
		}
		fields[p] = m[p]
	}
	if _, ok := fields["feedback"]; ok {
		fields["expectation"] = nil
	}
	if _, ok := fields["expectation"]; ok && m["expectation"] != nil {
		fields["feedback"] = nil
		e, err := expectationOut(req.Assessment)
		if err != nil {
			return nil, err
		}
		fields["expectation"] = e
	}
	a, err := s.Store.UpdateAssessment(r.Context(), r.PathValue("trace_id"), r.PathValue("assessment_id"), fields)
	if err != nil {
		return nil, err
	}
	return map[string]json.RawMessage{"assessment": a.Body}, nil
}

func (s *Server) deleteAssessment(r *http.Request) (any, error) {
	return empty{}, s.Store.DeleteAssessment(r.Context(), r.PathValue("trace_id"), r.PathValue("assessment_id"))
}

// MLflow 2's trace API (the client falls back to it, and tools still call
// it): TraceInfo with request ids, millisecond fields and key/value lists.

type kvJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func kvMap(l []kvJSON) map[string]string {
	if len(l) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range l {
		m[kv.Key] = kv.Value
	}
	return m
}

func kvList(m map[string]string) []kvJSON {
	out := []kvJSON{}
	for _, k := range sortedKeysOf(m) {
		out = append(out, kvJSON{k, m[k]})
	}
	return out
}

func sortedKeysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func traceInfoV2(t *tandem.TraceInfo) map[string]any {
	status := t.State
	if status == tandem.TraceStateUnspecified {
		status = "TRACE_STATUS_UNSPECIFIED"
	}
	return map[string]any{"request_id": t.TraceID, "experiment_id": t.ExperimentID, "timestamp_ms": t.RequestTime,
		"execution_time_ms": t.ExecutionDuration, "status": status, "request_metadata": kvList(t.Metadata), "tags": kvList(t.Tags)}
}

type startTraceV2Req struct {
	ExperimentID    string   `json:"experiment_id" mlflow:"required"`
	TimestampMs     Int64    `json:"timestamp_ms"`
	RequestMetadata []kvJSON `json:"request_metadata"`
	Tags            []kvJSON `json:"tags"`
}

func (s *Server) startTraceV2(r *http.Request, req *startTraceV2Req) (any, error) {
	t, err := s.Store.StartTraceV2(r.Context(), req.ExperimentID, req.TimestampMs.V, kvMap(req.RequestMetadata), kvMap(req.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]any{"trace_info": traceInfoV2(t)}, nil
}

type endTraceV2Req struct {
	TimestampMs     Int64    `json:"timestamp_ms"`
	Status          string   `json:"status"`
	RequestMetadata []kvJSON `json:"request_metadata"`
	Tags            []kvJSON `json:"tags"`
}

func (s *Server) endTraceV2(r *http.Request, req *endTraceV2Req) (any, error) {
	state := req.Status
	if state == "TRACE_STATUS_UNSPECIFIED" || state == "" {
		state = tandem.TraceStateUnspecified
	}
	t, err := s.Store.EndTraceV2(r.Context(), r.PathValue("trace_id"), req.TimestampMs.V, state, kvMap(req.RequestMetadata), kvMap(req.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]any{"trace_info": traceInfoV2(t)}, nil
}

func (s *Server) getTraceInfoV2(r *http.Request) (any, error) {
	t, err := s.Store.GetTraceInfo(r.Context(), r.PathValue("trace_id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"trace_info": traceInfoV2(t)}, nil
}

// snakeCase turns a lowerCamel FieldMask path into its proto field name.
func snakeCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

type correlationReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter1       string   `json:"filter_string1"`
	Filter2       string   `json:"filter_string2"`
	BaseFilter    string   `json:"base_filter"`
}

// protoDouble writes a double as proto3 JSON does (NaN as "NaN").
func protoDouble(v float64) json.RawMessage {
	switch {
	case math.IsNaN(v):
		return json.RawMessage(`"NaN"`)
	case math.IsInf(v, 1):
		return json.RawMessage(`"Infinity"`)
	case math.IsInf(v, -1):
		return json.RawMessage(`"-Infinity"`)
	}
	return json.RawMessage(strconv.FormatFloat(v, 'g', -1, 64))
}

func (s *Server) correlateTraceFilters(r *http.Request, req *correlationReq) (any, error) {
	c, err := s.Store.CorrelateTraceFilters(r.Context(), req.ExperimentIDs, req.Filter1, req.Filter2, req.BaseFilter)
	if err != nil {
		return nil, err
	}
	return map[string]any{"npmi": protoDouble(c.NPMI), "npmi_smoothed": protoDouble(c.NPMISmoothed),
		"filter1_count": c.Filter1Count, "filter2_count": c.Filter2Count, "joint_count": c.JointCount, "total_count": c.Total}, nil
}

// queryTraceMetricsReq is MLflow's QueryTraceMetrics (enums by name or
// number, int64s as numbers or strings).
type queryTraceMetricsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	ViewType      enumStr  `json:"view_type"`
	MetricName    string   `json:"metric_name"`
	Aggregations  []struct {
		AggregationType enumStr `json:"aggregation_type"`
		PercentileValue Float64 `json:"percentile_value"`
	} `json:"aggregations"`
	Dimensions          []string `json:"dimensions"`
	Filters             []string `json:"filters"`
	TimeIntervalSeconds Int64    `json:"time_interval_seconds"`
	StartTimeMs         Int64    `json:"start_time_ms"`
	EndTimeMs           Int64    `json:"end_time_ms"`
	MaxResults          Int64    `json:"max_results"`
	PageToken           string   `json:"page_token"`
}

type metricDataPointJSON struct {
	MetricName string             `json:"metric_name"`
	Dimensions map[string]string  `json:"dimensions,omitempty"`
	Values     map[string]float64 `json:"values,omitempty"`
}

func (s *Server) queryTraceMetrics(r *http.Request, req *queryTraceMetricsReq) (any, error) {
	q := tracemetrics.Query{ExperimentIDs: req.ExperimentIDs, Metric: req.MetricName,
		Dimensions: req.Dimensions, Filters: req.Filters, MaxResults: int(req.MaxResults.V)}
	if req.ViewType == "" {
		return nil, tandem.MissingParam("view_type")
	}
	v, ok := tracemetrics.ParseView(string(req.ViewType))
	if !ok {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %s for parameter 'view_type' supplied.", req.ViewType)
	}
	q.View = v
	for _, a := range req.Aggregations {
		t, ok := tracemetrics.ParseAgg(string(a.AggregationType))
		if !ok {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %s for parameter 'aggregation_type' supplied.", a.AggregationType)
		}
		q.Aggregations = append(q.Aggregations, tracemetrics.Aggregation{Type: t, Percentile: a.PercentileValue.V})
	}
	if req.TimeIntervalSeconds.Set {
		q.IntervalSeconds = req.TimeIntervalSeconds.V
	}
	if req.StartTimeMs.Set {
		q.Start = &req.StartTimeMs.V
	}
	if req.EndTimeMs.Set {
		q.End = &req.EndTimeMs.V
	}
	points, err := s.Store.QueryTraceMetrics(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := make([]metricDataPointJSON, len(points))
	for i, p := range points {
		out[i] = metricDataPointJSON{MetricName: p.Metric, Dimensions: p.Dimensions, Values: p.Values}
	}
	return map[string]any{"data_points": out}, nil
}

// searchTracesV2Req is MLflow 2's SearchTraces (GET traces), which MLflow
// 3 still serves: at most 500 results a page, 100 by default.
type searchTracesV2Req struct {
	ExperimentIDs []string `json:"experiment_ids" mlflow:"required"`
	Filter        string   `json:"filter"`
	MaxResults    Int64    `json:"max_results"`
	OrderBy       []string `json:"order_by"`
	PageToken     string   `json:"page_token"`
}

func (s *Server) searchTracesV2(r *http.Request, req *searchTracesV2Req) (any, error) {
	if err := maxResultsAtMost(req.MaxResults, 500); err != nil {
		return nil, err
	}
	max := 100
	if req.MaxResults.Set {
		max = int(req.MaxResults.V)
	}
	infos, next, err := s.Store.SearchTraces(r.Context(), req.ExperimentIDs, req.Filter, max, req.OrderBy, req.PageToken)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(infos))
	for _, t := range infos {
		if err := t.Decode(); err != nil {
			return nil, err
		}
		list = append(list, traceInfoV2(t))
	}
	out := map[string]any{"traces": list}
	if next != "" {
		out["next_page_token"] = next
	}
	return out, nil
}
