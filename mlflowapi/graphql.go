package mlflowapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/tandemml/tandem"
)

// MLflow's /graphql, as its UI queries it (run page, run table, experiment
// page, metric charts, artifact listing, datasets): the same reads as the
// REST API, answered by calling this server's own REST handlers, so the
// checks, limits and messages are the REST ones. Every object read is
// checked against the caller's visible experiments (the route is a
// filtered read, auth.GraphQLRule). The answer is MLflow's: {"data": ...,
// "errors": null | ["message", ...]}.

// graphqlSchema is MLflow's GraphQL schema, as far as tandem serves it
// (the fields of MLflow's protos in camelCase; 64-bit integers as the
// LongString scalar; graphene's nullable-by-default types).
const graphqlSchema = `
schema { query: Query mutation: Mutation }

directive @component(name: String!) on QUERY | MUTATION

scalar LongString

type Query {
  mlflowGetExperiment(input: MlflowGetExperimentInput): MlflowGetExperimentResponse
  mlflowGetRun(input: MlflowGetRunInput): MlflowGetRunResponse
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
  mlflowGetMetricHistoryBulkInterval(input: MlflowGetMetricHistoryBulkIntervalInput): MlflowGetMetricHistoryBulkIntervalResponse
  mlflowListArtifacts(input: MlflowListArtifactsInput): MlflowListArtifactsResponse
  mlflowSearchModelVersions(input: MlflowSearchModelVersionsInput): MlflowSearchModelVersionsResponse
  test(inputString: String): Test
}

type Mutation {
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
  mlflowSearchDatasets(input: MlflowSearchDatasetsInput): MlflowSearchDatasetsResponse
  testMutation(inputString: String): Test
}

type Test { output: String }

enum MlflowRunStatus { RUNNING SCHEDULED FINISHED FAILED KILLED }
enum MlflowViewType { ACTIVE_ONLY DELETED_ONLY ALL }
enum MlflowModelVersionStatus { PENDING_REGISTRATION FAILED_REGISTRATION READY }

input MlflowGetExperimentInput { experimentId: String }
input MlflowGetRunInput { runId: String runUuid: String }
input MlflowSearchRunsInput {
  experimentIds: [String] filter: String runViewType: MlflowViewType
  maxResults: Int orderBy: [String] pageToken: String
}
input MlflowGetMetricHistoryBulkIntervalInput {
  runIds: [String] metricKey: String startStep: Int endStep: Int maxResults: Int
}
input MlflowListArtifactsInput { runId: String runUuid: String path: String pageToken: String }
input MlflowSearchModelVersionsInput { filter: String maxResults: LongString orderBy: [String] pageToken: String }
input MlflowSearchDatasetsInput { experimentIds: [String] }

type ErrorDetail { field: String message: String }
type ApiError { code: String message: String helpUrl: String traceId: String errorDetails: [ErrorDetail] }

type MlflowExperimentTag { key: String value: String }
type MlflowExperiment {
  experimentId: String name: String artifactLocation: String lifecycleStage: String
  lastUpdateTime: LongString creationTime: LongString tags: [MlflowExperimentTag!]
  effectiveTraceArchivalRetention: String workspace: String
}
type MlflowGetExperimentResponse { experiment: MlflowExperiment apiError: ApiError }

type MlflowRunInfo {
  runId: String runUuid: String runName: String experimentId: String userId: String
  status: MlflowRunStatus startTime: LongString endTime: LongString artifactUri: String lifecycleStage: String
}
type MlflowMetric {
  key: String value: Float timestamp: LongString step: LongString
  datasetName: String datasetDigest: String modelId: String runId: String
}
type MlflowParam { key: String value: String }
type MlflowRunTag { key: String value: String }
type MlflowRunData { metrics: [MlflowMetric!] params: [MlflowParam!] tags: [MlflowRunTag!] }
type MlflowDataset { name: String digest: String sourceType: String source: String schema: String profile: String }
type MlflowInputTag { key: String value: String }
type MlflowDatasetInput { tags: [MlflowInputTag!] dataset: MlflowDataset }
type MlflowModelInput { modelId: String }
type MlflowRunInputs { datasetInputs: [MlflowDatasetInput!] modelInputs: [MlflowModelInput!] }
type MlflowModelOutput { modelId: String step: LongString }
type MlflowRunOutputs { modelOutputs: [MlflowModelOutput!] }
type MlflowModelVersionTag { key: String value: String }
type MlflowModelVersion {
  name: String version: String creationTimestamp: LongString lastUpdatedTimestamp: LongString
  userId: String currentStage: String description: String source: String runId: String
  status: MlflowModelVersionStatus statusMessage: String tags: [MlflowModelVersionTag!]
  runLink: String aliases: [String] modelId: String
}
type MlflowRunExtension {
  info: MlflowRunInfo data: MlflowRunData inputs: MlflowRunInputs outputs: MlflowRunOutputs
  experiment: MlflowExperiment modelVersions: [MlflowModelVersion!]
}
type MlflowGetRunResponse { run: MlflowRunExtension apiError: ApiError }
type MlflowSearchRunsResponse { runs: [MlflowRunExtension!] nextPageToken: String apiError: ApiError }

type MlflowMetricWithRunId { key: String value: Float timestamp: LongString step: LongString runId: String }
type MlflowGetMetricHistoryBulkIntervalResponse { metrics: [MlflowMetricWithRunId!] apiError: ApiError }

type MlflowFileInfo { path: String isDir: Boolean fileSize: LongString }
type MlflowListArtifactsResponse { rootUri: String files: [MlflowFileInfo!] nextPageToken: String apiError: ApiError }

type MlflowSearchModelVersionsResponse { modelVersions: [MlflowModelVersion!] nextPageToken: String apiError: ApiError }

type MlflowDatasetSummary { experimentId: String name: String digest: String context: String }
type MlflowSearchDatasetsResponse { datasetSummaries: [MlflowDatasetSummary!] apiError: ApiError }
`

// LongString is MLflow's scalar for 64-bit integers: written as a string
// (JavaScript numbers lose precision past 2^53), read from a number or a
// string, in GraphQL and in the REST JSON it is decoded from.
type LongString struct{ V int64 }

// ImplementsGraphQLType names the scalar.
func (LongString) ImplementsGraphQLType(name string) bool { return name == "LongString" }

// UnmarshalGraphQL reads an input value.
func (l *LongString) UnmarshalGraphQL(input any) error {
	switch v := input.(type) {
	case int32:
		l.V = int64(v)
	case int64:
		l.V = v
	case float64:
		l.V = int64(v)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("LongString: %q is not an integer", v)
		}
		l.V = n
	default:
		return fmt.Errorf("LongString: %v is not an integer", input)
	}
	return nil
}

// MarshalJSON writes the value as a string.
func (l LongString) MarshalJSON() ([]byte, error) { return json.Marshal(strconv.FormatInt(l.V, 10)) }

// UnmarshalJSON reads the REST JSON (a number or a string).
func (l *LongString) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	l.V = n
	return nil
}

// gqlFloat is a metric value: NaN and infinities have no GraphQL Float, so
// they are null, as MLflow answers NaN.
type gqlFloat struct {
	V     float64
	Valid bool
}

func (f *gqlFloat) UnmarshalJSON(b []byte) error {
	var x Float64
	if err := x.UnmarshalJSON(b); err != nil {
		return err
	}
	f.V, f.Valid = x.V, x.Set && !math.IsNaN(x.V) && !math.IsInf(x.V, 0)
	return nil
}

// The answers, decoded from the REST JSON; graph-gophers resolves their
// fields by name (UseFieldResolvers). Pointers are nullable fields.
type (
	gqlKV struct {
		Key   *string `json:"key"`
		Value *string `json:"value"`
	}
	gqlExperiment struct {
		ExperimentID                    *string     `json:"experiment_id"`
		Name                            *string     `json:"name"`
		ArtifactLocation                *string     `json:"artifact_location"`
		LifecycleStage                  *string     `json:"lifecycle_stage"`
		LastUpdateTime                  *LongString `json:"last_update_time"`
		CreationTime                    *LongString `json:"creation_time"`
		Tags                            *[]gqlKV    `json:"tags"`
		EffectiveTraceArchivalRetention *string     `json:"effective_trace_archival_retention"`
		Workspace                       *string     `json:"workspace"`
	}
	gqlRunInfo struct {
		RunID          *string     `json:"run_id"`
		RunUUID        *string     `json:"run_uuid"`
		RunName        *string     `json:"run_name"`
		ExperimentID   *string     `json:"experiment_id"`
		UserID         *string     `json:"user_id"`
		Status         *string     `json:"status"`
		StartTime      *LongString `json:"start_time"`
		EndTime        *LongString `json:"end_time"`
		ArtifactURI    *string     `json:"artifact_uri"`
		LifecycleStage *string     `json:"lifecycle_stage"`
	}
	gqlMetric struct {
		Key           *string     `json:"key"`
		RawValue      gqlFloat    `json:"value"`
		Timestamp     *LongString `json:"timestamp"`
		Step          *LongString `json:"step"`
		DatasetName   *string     `json:"dataset_name"`
		DatasetDigest *string     `json:"dataset_digest"`
		ModelID       *string     `json:"model_id"`
		RunID         *string     `json:"run_id"`
	}
	gqlRunData struct {
		Metrics *[]gqlMetric `json:"metrics"`
		Params  *[]gqlKV     `json:"params"`
		Tags    *[]gqlKV     `json:"tags"`
	}
	gqlDataset struct {
		Name       *string `json:"name"`
		Digest     *string `json:"digest"`
		SourceType *string `json:"source_type"`
		Source     *string `json:"source"`
		Schema     *string `json:"schema"`
		Profile    *string `json:"profile"`
	}
	gqlDatasetInput struct {
		Tags    *[]gqlKV    `json:"tags"`
		Dataset *gqlDataset `json:"dataset"`
	}
	gqlModelRef struct {
		ModelID *string     `json:"model_id"`
		Step    *LongString `json:"step"`
	}
	gqlRunInputs struct {
		DatasetInputs *[]gqlDatasetInput `json:"dataset_inputs"`
		ModelInputs   *[]gqlModelRef     `json:"model_inputs"`
	}
	gqlRunOutputs struct {
		ModelOutputs *[]gqlModelRef `json:"model_outputs"`
	}
	gqlModelVersion struct {
		Name                 *string     `json:"name"`
		Version              *string     `json:"version"`
		CreationTimestamp    *LongString `json:"creation_timestamp"`
		LastUpdatedTimestamp *LongString `json:"last_updated_timestamp"`
		UserID               *string     `json:"user_id"`
		CurrentStage         *string     `json:"current_stage"`
		Description          *string     `json:"description"`
		Source               *string     `json:"source"`
		RunID                *string     `json:"run_id"`
		Status               *string     `json:"status"`
		StatusMessage        *string     `json:"status_message"`
		Tags                 *[]gqlKV    `json:"tags"`
		RunLink              *string     `json:"run_link"`
		Aliases              *[]*string  `json:"aliases"`
		ModelID              *string     `json:"model_id"`
	}
	gqlFileInfo struct {
		Path     *string     `json:"path"`
		IsDir    *bool       `json:"is_dir"`
		FileSize *LongString `json:"file_size"`
	}
	gqlDatasetSummary struct {
		ExperimentID *string `json:"experiment_id"`
		Name         *string `json:"name"`
		Digest       *string `json:"digest"`
		Context      *string `json:"context"`
	}
	gqlAPIError struct {
		Code         *string
		Message      *string
		HelpURL      *string
		TraceID      *string
		ErrorDetails *[]*gqlErrorDetail
	}
	gqlErrorDetail struct {
		Field   *string
		Message *string
	}
	gqlTest struct{ Output *string }
)

// Value is the metric's value (null for NaN and infinities).
func (m gqlMetric) Value() *float64 {
	if !m.RawValue.Valid {
		return nil
	}
	return &m.RawValue.V
}

// gqlRun is a run with the experiment and model versions the UI asks
// with it (MLflow's MlflowRunExtension), read when asked.
type gqlRun struct {
	s        *Server
	ctx      context.Context
	RunInfo  *gqlRunInfo    `json:"info"`
	RunData  *gqlRunData    `json:"data"`
	RunIn    *gqlRunInputs  `json:"inputs"`
	RunOut   *gqlRunOutputs `json:"outputs"`
	expCache *gqlExperiment
}

func (r *gqlRun) Info() *gqlRunInfo       { return r.RunInfo }
func (r *gqlRun) Data() *gqlRunData       { return r.RunData }
func (r *gqlRun) Inputs() *gqlRunInputs   { return r.RunIn }
func (r *gqlRun) Outputs() *gqlRunOutputs { return r.RunOut }

func (r *gqlRun) experimentID() string {
	if r.RunInfo == nil || r.RunInfo.ExperimentID == nil {
		return ""
	}
	return *r.RunInfo.ExperimentID
}

// Experiment is the run's experiment.
func (r *gqlRun) Experiment() (*gqlExperiment, error) {
	if r.expCache != nil {
		return r.expCache, nil
	}
	var out struct {
		Experiment *gqlExperiment `json:"experiment"`
	}
	if err := r.s.gqlCall(r.ctx, "GET", "experiments/get", url.Values{"experiment_id": {r.experimentID()}}, nil, &out); err != nil {
		return nil, err
	}
	r.expCache = out.Experiment
	return out.Experiment, nil
}

// ModelVersions are the registered versions made from the run that the
// caller may read.
func (r *gqlRun) ModelVersions() (*[]gqlModelVersion, error) {
	id := ""
	if r.RunInfo != nil && r.RunInfo.RunID != nil {
		id = *r.RunInfo.RunID
	}
	var out struct {
		ModelVersions []gqlModelVersion `json:"model_versions"`
	}
	if err := r.s.gqlCall(r.ctx, "GET", "model-versions/search", url.Values{"filter": {"run_id='" + strings.ReplaceAll(id, "'", "") + "'"}}, nil, &out); err != nil {
		return nil, err
	}
	vs := make([]gqlModelVersion, 0, len(out.ModelVersions))
	for _, v := range out.ModelVersions {
		if v.Name != nil && tandem.Visible(r.ctx, tandem.ModelScope(*v.Name)) {
			vs = append(vs, v)
		}
	}
	return &vs, nil
}

// gqlResolver is the root of the schema.
type gqlResolver struct{ s *Server }

type gqlExperimentResponse struct {
	Experiment *gqlExperiment `json:"experiment"`
	APIError   *gqlAPIError
}
type gqlRunResponse struct {
	Run      *gqlRun `json:"run"`
	APIError *gqlAPIError
}
type gqlRunsResponse struct {
	Runs          *[]*gqlRun `json:"runs"`
	NextPageToken *string    `json:"next_page_token"`
	APIError      *gqlAPIError
}
type gqlBulkResponse struct {
	Metrics  *[]gqlMetric `json:"metrics"`
	APIError *gqlAPIError
}
type gqlArtifactsResponse struct {
	RootURI       *string        `json:"root_uri"`
	Files         *[]gqlFileInfo `json:"files"`
	NextPageToken *string        `json:"next_page_token"`
	APIError      *gqlAPIError
}
type gqlModelVersionsResponse struct {
	ModelVersions *[]gqlModelVersion `json:"model_versions"`
	NextPageToken *string            `json:"next_page_token"`
	APIError      *gqlAPIError
}
type gqlDatasetsResponse struct {
	DatasetSummaries *[]gqlDatasetSummary `json:"dataset_summaries"`
	APIError         *gqlAPIError
}

// forbidden is the REST answer to a read of an experiment the caller may
// not read.
func forbidden(what string) error {
	return tandem.Errorf(tandem.EFORBIDDEN, "Permission denied: you may not read %s", what)
}

func (g *gqlResolver) MlflowGetExperiment(ctx context.Context, args struct {
	Input *struct{ ExperimentID *string }
}) (*gqlExperimentResponse, error) {
	id := ""
	if args.Input != nil && args.Input.ExperimentID != nil {
		id = *args.Input.ExperimentID
	}
	if id != "" && !tandem.Visible(ctx, tandem.ExperimentScope(id)) {
		return nil, forbidden("experiment " + id)
	}
	var out gqlExperimentResponse
	if err := g.s.gqlCall(ctx, "GET", "experiments/get", url.Values{"experiment_id": {id}}, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

type gqlRunInput struct {
	RunID   *string
	RunUUID *string
}

func (g *gqlResolver) MlflowGetRun(ctx context.Context, args struct{ Input *gqlRunInput }) (*gqlRunResponse, error) {
	q := url.Values{}
	if in := args.Input; in != nil {
		if in.RunID != nil {
			q.Set("run_id", *in.RunID)
		}
		if in.RunUUID != nil {
			q.Set("run_uuid", *in.RunUUID)
		}
	}
	var out gqlRunResponse
	if err := g.s.gqlCall(ctx, "GET", "runs/get", q, nil, &out); err != nil {
		return nil, err
	}
	if out.Run != nil {
		if !tandem.Visible(ctx, tandem.ExperimentScope(out.Run.experimentID())) {
			return nil, forbidden("this run")
		}
		out.Run.s, out.Run.ctx = g.s, ctx
	}
	return &out, nil
}

type gqlSearchRunsInput struct {
	ExperimentIDs *[]*string
	Filter        *string
	RunViewType   *string
	MaxResults    *int32
	OrderBy       *[]*string
	PageToken     *string
}

func strings0(l *[]*string) []string {
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(*l))
	for _, s := range *l {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

func (g *gqlResolver) MlflowSearchRuns(ctx context.Context, args struct{ Input *gqlSearchRunsInput }) (*gqlRunsResponse, error) {
	body := map[string]any{}
	if in := args.Input; in != nil {
		ids := strings0(in.ExperimentIDs)
		for _, id := range ids {
			if !tandem.Visible(ctx, tandem.ExperimentScope(id)) {
				return nil, forbidden("experiment " + id)
			}
		}
		body["experiment_ids"] = ids
		if in.Filter != nil {
			body["filter"] = *in.Filter
		}
		if in.RunViewType != nil {
			body["run_view_type"] = *in.RunViewType
		}
		if in.MaxResults != nil {
			body["max_results"] = *in.MaxResults
		}
		if in.OrderBy != nil {
			body["order_by"] = strings0(in.OrderBy)
		}
		if in.PageToken != nil {
			body["page_token"] = *in.PageToken
		}
	}
	var out gqlRunsResponse
	if err := g.s.gqlCall(ctx, "POST", "runs/search", nil, body, &out); err != nil {
		return nil, err
	}
	if out.Runs == nil {
		out.Runs = &[]*gqlRun{}
	}
	for _, r := range *out.Runs {
		r.s, r.ctx = g.s, ctx
	}
	return &out, nil
}

func (g *gqlResolver) MlflowGetMetricHistoryBulkInterval(ctx context.Context, args struct {
	Input *struct {
		RunIDs     *[]*string
		MetricKey  *string
		StartStep  *int32
		EndStep    *int32
		MaxResults *int32
	}
}) (*gqlBulkResponse, error) {
	body := map[string]any{}
	if in := args.Input; in != nil {
		ids := strings0(in.RunIDs)
		for _, id := range ids {
			exp, err := g.s.Store.RunExperiment(ctx, id)
			if err == nil && !tandem.Visible(ctx, tandem.ExperimentScope(exp)) {
				return nil, forbidden("run " + id)
			}
		}
		body["run_ids"] = ids
		if in.MetricKey != nil {
			body["metric_key"] = *in.MetricKey
		}
		if in.StartStep != nil {
			body["start_step"] = *in.StartStep
		}
		if in.EndStep != nil {
			body["end_step"] = *in.EndStep
		}
		if in.MaxResults != nil {
			body["max_results"] = *in.MaxResults
		}
	}
	q := url.Values{}
	for k, v := range body {
		switch x := v.(type) {
		case []string:
			q[k] = x
		case string:
			q.Set(k, x)
		case int32:
			q.Set(k, strconv.Itoa(int(x)))
		}
	}
	var out gqlBulkResponse
	if err := g.s.gqlCall(ctx, "GET", "metrics/get-history-bulk-interval", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (g *gqlResolver) MlflowListArtifacts(ctx context.Context, args struct {
	Input *struct {
		RunID     *string
		RunUUID   *string
		Path      *string
		PageToken *string
	}
}) (*gqlArtifactsResponse, error) {
	q := url.Values{}
	if in := args.Input; in != nil {
		for k, v := range map[string]*string{"run_id": in.RunID, "run_uuid": in.RunUUID, "path": in.Path, "page_token": in.PageToken} {
			if v != nil {
				q.Set(k, *v)
			}
		}
	}
	id := q.Get("run_id")
	if id == "" {
		id = q.Get("run_uuid")
	}
	if exp, err := g.s.Store.RunExperiment(ctx, id); err == nil && !tandem.Visible(ctx, tandem.ExperimentScope(exp)) {
		return nil, forbidden("run " + id)
	}
	var out gqlArtifactsResponse
	if err := g.s.gqlCall(ctx, "GET", "artifacts/list", q, nil, &out); err != nil {
		return nil, err
	}
	// MLflow's GraphQL reads proto fields, so a field REST leaves out
	// (a folder's size) reads as its zero value.
	if out.Files != nil {
		for i := range *out.Files {
			f := &(*out.Files)[i]
			if f.FileSize == nil {
				f.FileSize = &LongString{}
			}
			if f.IsDir == nil {
				f.IsDir = new(bool)
			}
		}
	}
	return &out, nil
}

func (g *gqlResolver) MlflowSearchModelVersions(ctx context.Context, args struct {
	Input *struct {
		Filter     *string
		MaxResults *LongString
		OrderBy    *[]*string
		PageToken  *string
	}
}) (*gqlModelVersionsResponse, error) {
	q := url.Values{}
	if in := args.Input; in != nil {
		if in.Filter != nil {
			q.Set("filter", *in.Filter)
		}
		if in.MaxResults != nil {
			q.Set("max_results", strconv.FormatInt(in.MaxResults.V, 10))
		}
		q["order_by"] = strings0(in.OrderBy)
		if in.PageToken != nil {
			q.Set("page_token", *in.PageToken)
		}
	}
	var out gqlModelVersionsResponse
	if err := g.s.gqlCall(ctx, "GET", "model-versions/search", q, nil, &out); err != nil {
		return nil, err
	}
	if out.ModelVersions != nil {
		vs := (*out.ModelVersions)[:0]
		for _, v := range *out.ModelVersions {
			if v.Name != nil && tandem.Visible(ctx, tandem.ModelScope(*v.Name)) {
				vs = append(vs, v)
			}
		}
		out.ModelVersions = &vs
	}
	return &out, nil
}

func (g *gqlResolver) MlflowSearchDatasets(ctx context.Context, args struct {
	Input *struct{ ExperimentIDs *[]*string }
}) (*gqlDatasetsResponse, error) {
	var ids []string
	if args.Input != nil {
		ids = strings0(args.Input.ExperimentIDs)
	}
	for _, id := range ids {
		if !tandem.Visible(ctx, tandem.ExperimentScope(id)) {
			return nil, forbidden("experiment " + id)
		}
	}
	var out gqlDatasetsResponse
	if err := g.s.gqlCall(ctx, "POST", "experiments/search-datasets", nil, map[string]any{"experiment_ids": ids}, &out); err != nil {
		return nil, err
	}
	if out.DatasetSummaries != nil { // proto zero values, as for files above
		for i := range *out.DatasetSummaries {
			if d := &(*out.DatasetSummaries)[i]; d.Context == nil {
				d.Context = new(string)
			}
		}
	}
	return &out, nil
}

func (g *gqlResolver) Test(args struct{ InputString *string }) *gqlTest {
	return &gqlTest{Output: args.InputString}
}

func (g *gqlResolver) TestMutation(args struct{ InputString *string }) *gqlTest {
	return &gqlTest{Output: args.InputString}
}

// gqlCall runs one REST read of this server in process, with the caller's
// context, and decodes its JSON into out; a REST error becomes the error
// (its message, as MLflow's resolvers raise it).
func (s *Server) gqlCall(ctx context.Context, method, name string, q url.Values, body any, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "/api/2.0/mlflow/" + name
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req := httptest.NewRequestWithContext(ctx, method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.mux.ServeHTTP(rec, req)
	if rec.Code/100 != 2 {
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		json.Unmarshal(rec.Body.Bytes(), &e)
		if e.Message == "" {
			e.Message = http.StatusText(rec.Code)
		}
		return fmt.Errorf("%s", e.Message)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		return err
	}
	emptyLists(reflect.ValueOf(out))
	return nil
}

// emptyLists turns every absent list of v into an empty one: the REST JSON
// leaves empty repeated fields out, while MLflow's GraphQL answers [] for
// them (the UI maps over them).
func emptyLists(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			if v.Type().Elem().Kind() == reflect.Slice && v.CanSet() {
				v.Set(reflect.New(v.Type().Elem()))
				v.Elem().Set(reflect.MakeSlice(v.Type().Elem(), 0, 0))
			}
			return
		}
		emptyLists(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				emptyLists(f)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			emptyLists(v.Index(i))
		}
	}
}

// graphqlMaxDepth and graphqlMaxBody bound a query, as MLflow bounds its
// depth.
const (
	graphqlMaxDepth = 10
	graphqlMaxBody  = 1 << 20
)

func (s *Server) newGraphQL() *graphql.Schema {
	s.graphqlBounds = graphqlBoundsFromEnv()
	return graphql.MustParseSchema(graphqlSchema, &gqlResolver{s: s}, graphql.UseFieldResolvers(), graphql.MaxDepth(graphqlMaxDepth),
		graphql.MaxSelections(graphqlMaxSelections))
}

// serveGraphQL answers POST (and GET) /graphql: {"query", "variables",
// "operationName"}, in the body or, for GET, the query string.
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &req.Variables); err != nil {
				s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "variables: %v", err))
				return
			}
		}
	} else {
		b, err := io.ReadAll(io.LimitReader(r.Body, graphqlMaxBody+1))
		if err != nil || len(b) > graphqlMaxBody {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "GraphQL request body too large or unreadable"))
			return
		}
		if err := json.Unmarshal(b, &req); err != nil {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Malformed GraphQL request: %v", err))
			return
		}
	}
	if strings.TrimSpace(req.Query) == "" {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'query'."))
		return
	}
	if why := s.graphqlBounds.check(req.Query); why != "" {
		// Refused whole, before any field runs, as MLflow refuses it.
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": nil, "errors": []string{why}})
		return
	}
	res := s.graphql.Exec(r.Context(), req.Query, req.OperationName, req.Variables)
	out := struct {
		Data   json.RawMessage `json:"data"`
		Errors []string        `json:"errors"`
	}{Data: res.Data}
	if len(out.Data) == 0 {
		out.Data = json.RawMessage("null")
	}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, e.Message)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
