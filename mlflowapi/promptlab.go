package mlflowapi

// runs/create-promptlab-run: the MLflow UI's prompt engineering view saves
// one evaluated prompt as a finished run. What the run gets is MLflow's:
// the model parameters, model_route and prompt_template as params; the
// tags mlflow.loggedArtifacts (the evaluation table) and
// mlflow.runSourceType=PROMPT_ENGINEERING; a logged "model" (its
// mlflow.log-model.history entry and a pyfunc model directory whose loader
// is mlflow.prompt.promptlab_model); and eval_results_table.json, the
// table the UI's evaluation view shows.
//
// The model directory holds MLmodel, parameters.yaml, requirements.txt
// and the input examples. It has no conda.yaml or python_env.yaml:
// MLflow writes the server's own Python version there, and tandem has no
// Python of its own to name.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// pyStr is a request value as Python's str() shows it: MLflow turns every
// prompt-lab parameter value into a string that way (2 -> "2", 0.5 ->
// "0.5", true -> "True", null -> "None").
type pyStr string

func (p *pyStr) UnmarshalJSON(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return err
	}
	*p = pyStr(pythonStr(v))
	return nil
}

// pythonStr is Python's str() of a decoded JSON value (numbers as
// json.Number).
func pythonStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pythonRepr(v)
}

// pythonRepr is Python's repr() of a decoded JSON value.
func pythonRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			return s // a Python int
		}
		f, err := x.Float64()
		if err != nil {
			return s
		}
		return pythonFloat(f)
	case string:
		q := "'"
		if strings.Contains(x, "'") && !strings.Contains(x, `"`) {
			q = `"`
		}
		r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`, "\t", `\t`, q, `\`+q)
		return q + r.Replace(x) + q
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pythonRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		// JSON object keys keep their order in Python; a Go map has none,
		// so they are sorted (a nested object in a prompt-lab parameter is
		// not something the UI sends).
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pythonRepr(k) + ": " + pythonRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// pythonFloat is Python's repr() of a float: the shortest digits that
// read back the same, positional for exponents -4..15 (with ".0" when
// integral), else d.ddde±XX.
func pythonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

type promptlabParam struct {
	Key   string `json:"key"`
	Value pyStr  `json:"value"`
}

type createPromptlabRunReq struct {
	ExperimentID          string           `json:"experiment_id"`
	RunName               string           `json:"run_name"`
	Tags                  []reqTag         `json:"tags"`
	PromptTemplate        string           `json:"prompt_template"`
	PromptParameters      []promptlabParam `json:"prompt_parameters"`
	ModelRoute            string           `json:"model_route"`
	ModelParameters       []promptlabParam `json:"model_parameters"`
	ModelInput            json.RawMessage  `json:"model_input"`
	ModelOutput           json.RawMessage  `json:"model_output"`
	ModelOutputParameters []promptlabParam `json:"model_output_parameters"`
	MLflowVersion         string           `json:"mlflow_version"`
	UserID                *string          `json:"user_id"`
	StartTime             Int64            `json:"start_time"`
}

// check refuses what MLflow refuses, in its order and words: each of
// these must be given and not empty.
func (q *createPromptlabRunReq) check() error {
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"experiment_id", q.ExperimentID != ""},
		{"prompt_template", q.PromptTemplate != ""},
		{"prompt_parameters", len(q.PromptParameters) > 0},
		{"model_route", q.ModelRoute != ""},
		{"model_input", jsonTruthy(q.ModelInput)},
		{"mlflow_version", q.MLflowVersion != ""},
	} {
		if !f.ok {
			return tandem.Errorf(tandem.EINVALID, "CreatePromptlabRun request must specify %s.", f.name)
		}
	}
	return nil
}

// jsonTruthy: a JSON value Python treats as true (not absent, null, "",
// 0, false, [] or {}).
func jsonTruthy(b json.RawMessage) bool {
	switch s := strings.TrimSpace(string(b)); s {
	case "", "null", `""`, "0", "false", "[]", "{}":
		return false
	default:
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == 0 {
			return false
		}
		return true
	}
}

// checkJSONContentType refuses a POST whose body is not declared JSON,
// as MLflow's server does for the UI's JSON endpoints.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return tandem.Errorf(tandem.EINVALID, "Bad Request. Content-Type header is missing.")
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return tandem.Errorf(tandem.EINVALID, "Bad Request. Content-Type must be one of ['application/json'].")
	}
	return nil
}

// mlmodelFile is the MLmodel of a prompt-lab model, in MLflow's key order.
type mlmodelFile struct {
	ArtifactPath string `yaml:"artifact_path"`
	Flavors      struct {
		PythonFunction struct {
			LoaderModule   string `yaml:"loader_module"`
			ParametersPath string `yaml:"parameters_path"`
		} `yaml:"python_function"`
	} `yaml:"flavors"`
	MLflowVersion  string            `yaml:"mlflow_version"`
	ModelUUID      string            `yaml:"model_uuid"`
	RunID          string            `yaml:"run_id"`
	SavedInputInfo map[string]string `yaml:"saved_input_example_info"`
	Signature      map[string]any    `yaml:"signature"`
	UTCTimeCreated string            `yaml:"utc_time_created"`
}

// promptlabFiles are the artifacts of a prompt-lab run, by path relative
// to the run's artifact root.
func promptlabFiles(q *createPromptlabRunReq, runID, modelUUID, created string) (map[string][]byte, error) {
	params := func(ps []promptlabParam) map[string]string {
		m := make(map[string]string, len(ps))
		for _, p := range ps {
			m[p.Key] = string(p.Value)
		}
		return m
	}
	raw := func(b json.RawMessage) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage("null")
		}
		return b
	}
	// The evaluation table: one row of the prompt's parameters, the
	// prompt, the output and the output's parameters.
	var cols []string
	var row []any
	for _, p := range q.PromptParameters {
		cols, row = append(cols, p.Key), append(row, string(p.Value))
	}
	cols, row = append(cols, "prompt", "output"), append(row, raw(q.ModelInput), raw(q.ModelOutput))
	for _, p := range q.ModelOutputParameters {
		cols, row = append(cols, p.Key), append(row, string(p.Value))
	}
	table, err := json.Marshal(map[string]any{"columns": cols, "data": [][]any{row}})
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "model_input or model_output is not valid JSON")
	}

	type colSpec struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Required bool   `json:"required"`
	}
	var inputs []colSpec
	var example []string
	for _, p := range q.PromptParameters {
		inputs = append(inputs, colSpec{"string", p.Key, true})
		example = append(example, string(p.Value))
	}
	sigIn, _ := json.Marshal(inputs)
	sigOut, _ := json.Marshal([]colSpec{{"string", "output", true}})
	var m mlmodelFile
	m.ArtifactPath, m.MLflowVersion, m.ModelUUID, m.RunID, m.UTCTimeCreated = "model", tandem.MLflowCompat, modelUUID, runID, created
	m.Flavors.PythonFunction.LoaderModule = "mlflow.prompt.promptlab_model"
	m.Flavors.PythonFunction.ParametersPath = "parameters.yaml"
	m.SavedInputInfo = map[string]string{"artifact_path": "input_example.json",
		"serving_input_path": "serving_input_example.json", "type": "json_object"}
	m.Signature = map[string]any{"inputs": string(sigIn), "outputs": string(sigOut), "params": nil}
	mlmodel, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	parameters, err := yaml.Marshal(map[string]any{
		"prompt_template":   q.PromptTemplate,
		"prompt_parameters": params(q.PromptParameters),
		"model_parameters":  params(q.ModelParameters),
		"model_route":       q.ModelRoute,
	})
	if err != nil {
		return nil, err
	}
	inputExample, _ := json.Marshal(map[string]any{"inputs": example})
	servingExample, _ := json.MarshalIndent(map[string]any{"inputs": map[string]any{"inputs": example}}, "", "  ")
	return map[string][]byte{
		"eval_results_table.json":          table,
		"model/MLmodel":                    mlmodel,
		"model/parameters.yaml":            parameters,
		"model/requirements.txt":           []byte("mlflow[gateway]==" + tandem.MLflowCompat + "\n"),
		"model/input_example.json":         inputExample,
		"model/serving_input_example.json": servingExample,
	}, nil
}

// createPromptlabRun creates the run, logs what MLflow logs and ends it
// FINISHED; when a step after the run's creation fails, the run ends
// FAILED and is still returned, as MLflow does.
func (s *Server) createPromptlabRun(w http.ResponseWriter, r *http.Request) {
	if err := checkJSONContentType(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	handleJSON(s, s.promptlabRun)(w, r)
}

func (s *Server) promptlabRun(r *http.Request, q *createPromptlabRunReq) (any, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	ctx := r.Context()
	tags, err := tagsFrom(q.Tags, "tags")
	if err != nil {
		return nil, err
	}
	user := "unknown"
	if q.UserID != nil {
		user = *q.UserID
	}
	now := s.art.now()
	start := now.UnixMilli()
	if q.StartTime.Set {
		start = q.StartTime.V
	}
	run, err := s.Store.CreateRunFull(ctx, tandem.CreateRunInput{ExperimentID: q.ExperimentID, UserID: user,
		StartTime: start, RunName: q.RunName, Tags: tags})
	if err != nil {
		return nil, err
	}
	id := run.Info.RunID
	status := tandem.RunFinished
	if err := s.logPromptlab(ctx, q, id, run.Info.ArtifactURI, now); err != nil {
		s.Log.Warn("prompt-lab run failed", "run_id", id, "err", err)
		status = tandem.RunFailed
	}
	end := s.art.now().UnixMilli()
	if err := s.Store.UpdateRun(ctx, id, &status, &end, nil); err != nil {
		return nil, err
	}
	return s.runResponse(ctx, id)
}

// logPromptlab logs a new prompt-lab run's params, tags, model and files.
func (s *Server) logPromptlab(ctx context.Context, q *createPromptlabRunReq, id, artifactURI string, now time.Time) error {
	var params []tandem.Param
	for _, p := range q.ModelParameters {
		params = append(params, tandem.Param{Key: p.Key, Value: string(p.Value)})
	}
	params = append(params, tandem.Param{Key: "model_route", Value: q.ModelRoute},
		tandem.Param{Key: "prompt_template", Value: q.PromptTemplate})
	tags := []tandem.Tag{
		{Key: "mlflow.loggedArtifacts", Value: `[{"path": "eval_results_table.json", "type": "table"}]`},
		{Key: "mlflow.runSourceType", Value: "PROMPT_ENGINEERING"},
	}
	if err := s.Store.LogBatch(ctx, id, nil, params, tags); err != nil {
		return err
	}
	var u [16]byte
	rand.Read(u[:])
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80 // version 4, as Python's uuid4
	modelUUID := hex.EncodeToString(u[:])
	created := now.UTC().Format("2006-01-02 15:04:05.000000")
	model, _ := json.Marshal(map[string]any{"run_id": id, "artifact_path": "model",
		"utc_time_created": created, "model_uuid": modelUUID, "flavors": map[string]any{}})
	if err := s.Store.LogModel(ctx, id, string(model)); err != nil {
		return err
	}
	files, err := promptlabFiles(q, id, modelUUID, created)
	if err != nil {
		return err
	}
	root, err := ParseArtifactURI(artifactURI)
	if err != nil {
		return err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if _, err := s.storeArtifact(ctx, joinArtifactPath(root, p), bytes.NewReader(files[p])); err != nil {
			return err
		}
	}
	return nil
}
