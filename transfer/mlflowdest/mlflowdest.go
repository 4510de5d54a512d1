// Package mlflowdest writes a tandem bundle into a stock MLflow tracking
// server through its REST API: `tandem export --to-mlflow URL`. MLflow
// chooses its own ids and times for new objects, so the writer keeps what
// the API lets it keep (start and end times, every metric point, params,
// tags, dataset inputs, artifacts, model version numbers, stages, aliases)
// and reports what it cannot (run, experiment and logged model ids,
// creation times of experiments, models and versions).
package mlflowdest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Report says what was written and what MLflow could not keep.
type Report struct {
	Experiments, Runs, MetricPoints, Artifacts, LoggedModels, Models, Versions int
	// Changed maps kind -> bundle id -> id in MLflow, for every id MLflow
	// chose differently.
	Changed map[string]map[string]string `json:"changed_ids"`
	// Lost lists what MLflow's API cannot keep, once per kind of loss.
	Lost []string `json:"lost"`
	// Skipped lists objects not written, with the reason.
	Skipped []string `json:"skipped,omitempty"`
}

func (r *Report) changed(kind, from, to string) {
	if from == to {
		return
	}
	if r.Changed == nil {
		r.Changed = map[string]map[string]string{}
	}
	if r.Changed[kind] == nil {
		r.Changed[kind] = map[string]string{}
	}
	r.Changed[kind][from] = to
}

// Writer writes into one MLflow server.
type Writer struct {
	base string
	http *http.Client
	rep  Report

	exps map[string]string // bundle experiment id -> MLflow id
	runs map[string]string // bundle run id -> MLflow run id
	lms  map[string]string // bundle logged model id -> MLflow id
	// artifact roots in MLflow of runs and logged models, by bundle owner
	roots map[string]string
	// parents to fix: MLflow run id -> bundle id of a parent created later
	parents map[string]string
}

// New returns a writer for the MLflow server at baseURL.
func New(baseURL string) (*Writer, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "MLflow URL %q: want http(s)://host[:port]", baseURL)
	}
	return &Writer{base: u.String(), http: &http.Client{Timeout: 10 * time.Minute},
		exps: map[string]string{}, runs: map[string]string{}, lms: map[string]string{}, roots: map[string]string{},
		parents: map[string]string{}}, nil
}

func (w *Writer) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.http.Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "MLflow server: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != 200 {
		var e struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		json.Unmarshal(b, &e)
		code := tandem.EINVALID
		switch {
		case e.ErrorCode == "RESOURCE_ALREADY_EXISTS":
			code = tandem.EEXISTS
		case resp.StatusCode == 404 || e.ErrorCode == "RESOURCE_DOES_NOT_EXIST":
			code = tandem.ENOTFOUND
		case resp.StatusCode >= 500:
			code = tandem.EUNAVAILABLE
		}
		return &tandem.Error{Code: code, Message: fmt.Sprintf("MLflow %s %s: %s %s", method, path, e.ErrorCode, e.Message)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Write copies the bundle (which the caller verified) into MLflow.
func (w *Writer) Write(ctx context.Context, r *bundle.Reader) (*Report, error) {
	var models []bundle.RegisteredModel
	versions := map[string][]bundle.ModelVersion{}
	notWritten := map[string]int{}
	// Pass 1: objects (experiments, runs, logged models), collecting the
	// registry for the end.
	err := r.Walk(ctx, func(it bundle.Item, body io.Reader) error {
		switch it.Kind {
		case bundle.KindExperiment:
			var x bundle.Experiment
			if err := bundle.Decode(body, &x); err != nil {
				return err
			}
			return w.experiment(ctx, x)
		case bundle.KindRun:
			var x bundle.Run
			if err := bundle.Decode(body, &x); err != nil {
				return err
			}
			return w.run(ctx, x)
		case bundle.KindLoggedModel:
			var x bundle.LoggedModel
			if err := bundle.Decode(body, &x); err != nil {
				return err
			}
			return w.loggedModel(ctx, x)
		case bundle.KindRegisteredModel:
			var x bundle.RegisteredModel
			if err := bundle.Decode(body, &x); err != nil {
				return err
			}
			models = append(models, x)
		case bundle.KindModelVersion:
			var x bundle.ModelVersion
			if err := bundle.Decode(body, &x); err != nil {
				return err
			}
			versions[x.Name] = append(versions[x.Name], x)
		case bundle.KindAsset:
			w.rep.Skipped = append(w.rep.Skipped, fmt.Sprintf("asset %s: MLflow has no such object", it.ID))
		case bundle.KindBlob:
		default:
			notWritten[string(it.Kind)]++
		}
		return nil
	})
	if err != nil {
		return &w.rep, err
	}
	// MLflow 3 has these (traces, evaluation datasets, scorers, issues,
	// webhooks), but this writer does not write them: said once per kind.
	for _, k := range tandem.SortedKeys(notWritten) {
		w.rep.Skipped = append(w.rep.Skipped, fmt.Sprintf("%d %s object(s): not written (tandem writes experiments, runs, logged models and the model registry into MLflow, not this kind yet)", notWritten[k], k))
	}
	for child, parent := range w.parents {
		if p, ok := w.runs[parent]; ok {
			if err := w.call(ctx, "POST", "/api/2.0/mlflow/runs/set-tag", map[string]any{"run_id": child, "key": "mlflow.parentRunId", "value": p}, nil); err != nil {
				return &w.rep, err
			}
		}
	}
	// Pass 2: artifact bytes, now that their owners exist in MLflow.
	err = r.Walk(ctx, func(it bundle.Item, body io.Reader) error {
		if it.Kind != bundle.KindBlob {
			return nil
		}
		root, ok := w.roots[it.Owner]
		if !ok {
			return nil
		}
		if root == "" {
			return nil // reported once per owner
		}
		return w.upload(ctx, root+"/"+it.ID, body, it.Size)
	})
	if err != nil {
		return &w.rep, err
	}
	for _, m := range models {
		if err := w.registeredModel(ctx, m, versions[m.Name]); err != nil {
			return &w.rep, fmt.Errorf("registered model %q: %w", m.Name, err)
		}
	}
	if len(w.rep.Changed["run"]) > 0 {
		w.rep.Lost = append(w.rep.Lost, "run ids: MLflow gives every created run a new id (mapping above)")
	}
	if len(w.rep.Changed["logged_model"]) > 0 {
		w.rep.Lost = append(w.rep.Lost, "logged model ids: MLflow gives every created logged model a new id")
	}
	if w.rep.Experiments > 0 {
		w.rep.Lost = append(w.rep.Lost, "experiment creation and last update times: MLflow sets them to now")
	}
	if w.rep.Models > 0 {
		w.rep.Lost = append(w.rep.Lost, "registered model and version creation and update times: MLflow sets them to now")
	}
	if w.rep.LoggedModels > 0 {
		w.rep.Lost = append(w.rep.Lost, "logged model creation times: MLflow sets them to now")
	}
	return &w.rep, nil
}

func (w *Writer) experiment(ctx context.Context, x bundle.Experiment) error {
	var got struct {
		Experiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	err := w.call(ctx, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+url.QueryEscape(x.Name), nil, &got)
	id := got.Experiment.ExperimentID
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		var created struct {
			ExperimentID string `json:"experiment_id"`
		}
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": x.Name}, &created); err != nil {
			return err
		}
		id = created.ExperimentID
		w.rep.Experiments++
	} else if err != nil {
		return err
	}
	for _, t := range x.Tags {
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/experiments/set-experiment-tag",
			map[string]any{"experiment_id": id, "key": t.Key, "value": t.Value}, nil); err != nil {
			return err
		}
	}
	if x.LifecycleStage == "deleted" && id != "0" {
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/experiments/delete", map[string]any{"experiment_id": id}, nil); err != nil {
			return err
		}
	}
	w.exps[x.ExperimentID] = id
	w.rep.changed("experiment", x.ExperimentID, id)
	return nil
}

func (w *Writer) expID(bundleID string) (string, error) {
	if id, ok := w.exps[bundleID]; ok {
		return id, nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "experiment %s is not in the bundle", bundleID)
}

func (w *Writer) run(ctx context.Context, x bundle.Run) error {
	exp, err := w.expID(x.ExperimentID)
	if err != nil {
		return err
	}
	var created struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := w.call(ctx, "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "start_time": x.StartTime,
		"run_name": x.RunName, "user_id": x.UserID}, &created); err != nil {
		return fmt.Errorf("run %s: %w", x.RunID, err)
	}
	id := created.Run.Info.RunID
	w.runs[x.RunID] = id
	w.rep.changed("run", x.RunID, id)
	w.roots["run/"+x.RunID] = w.proxyRoot(created.Run.Info.ArtifactURI, "run "+x.RunID)
	tags := make([]bundle.KV, 0, len(x.Tags))
	for _, t := range x.Tags {
		if t.Key == "mlflow.parentRunId" {
			if p, ok := w.runs[t.Value]; ok {
				t.Value = p
			} else {
				w.parents[id] = t.Value
			}
		}
		tags = append(tags, t)
	}
	for i := 0; i < len(x.Params); i += 100 {
		if err := w.batch(ctx, id, nil, x.Params[i:min(i+100, len(x.Params))], nil); err != nil {
			return err
		}
	}
	for i := 0; i < len(tags); i += 100 {
		if err := w.batch(ctx, id, nil, nil, tags[i:min(i+100, len(tags))]); err != nil {
			return err
		}
	}
	for i := 0; i < len(x.Metrics); i += 1000 {
		if err := w.batch(ctx, id, x.Metrics[i:min(i+1000, len(x.Metrics))], nil, nil); err != nil {
			return err
		}
	}
	if len(x.Inputs) > 0 {
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/runs/log-inputs", map[string]any{"run_id": id, "datasets": x.Inputs}, nil); err != nil {
			return err
		}
	}
	upd := map[string]any{"run_id": id, "status": x.Status}
	if x.EndTime != nil {
		upd["end_time"] = *x.EndTime
	}
	if err := w.call(ctx, "POST", "/api/2.0/mlflow/runs/update", upd, nil); err != nil {
		return err
	}
	if x.LifecycleStage == "deleted" {
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/runs/delete", map[string]any{"run_id": id}, nil); err != nil {
			return err
		}
	}
	w.rep.Runs++
	w.rep.MetricPoints += len(x.Metrics)
	return nil
}

func (w *Writer) batch(ctx context.Context, runID string, ms []bundle.Metric, ps, ts []bundle.KV) error {
	body := map[string]any{"run_id": runID}
	if len(ms) > 0 {
		out := make([]map[string]any, len(ms))
		for i, m := range ms {
			out[i] = map[string]any{"key": m.Key, "value": m.Value, "timestamp": m.Timestamp, "step": m.Step}
		}
		body["metrics"] = out
	}
	if len(ps) > 0 {
		body["params"] = ps
	}
	if len(ts) > 0 {
		body["tags"] = ts
	}
	return w.call(ctx, "POST", "/api/2.0/mlflow/runs/log-batch", body, nil)
}

// proxyRoot turns an mlflow-artifacts:/ root into the server path bytes
// are PUT to; other roots cannot be written through the API.
func (w *Writer) proxyRoot(uri, what string) string {
	if rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:"); ok {
		return "/api/2.0/mlflow-artifacts/artifacts/" + strings.TrimLeft(rest, "/")
	}
	w.rep.Skipped = append(w.rep.Skipped, fmt.Sprintf("artifacts of %s: MLflow stores them at %s, which its API does not proxy", what, uri))
	return ""
}

func (w *Writer) upload(ctx context.Context, path string, body io.Reader, size int64) error {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	req, err := http.NewRequestWithContext(ctx, "PUT", w.base+strings.Join(segs, "/"), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := w.http.Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "MLflow artifact upload: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return tandem.Errorf(tandem.EINVALID, "MLflow artifact upload %s: %s", path, resp.Status)
	}
	w.rep.Artifacts++
	return nil
}

func (w *Writer) loggedModel(ctx context.Context, x bundle.LoggedModel) error {
	exp, err := w.expID(x.ExperimentID)
	if err != nil {
		return err
	}
	req := map[string]any{"experiment_id": exp, "name": x.Name, "model_type": x.ModelType, "params": x.Params}
	var tags []bundle.KV
	for _, t := range x.Tags {
		if t.Key != "mlflow.modelVersions" { // MLflow rebuilds it as versions are registered
			tags = append(tags, t)
		}
	}
	req["tags"] = tags
	if x.SourceRunID != "" {
		if id, ok := w.runs[x.SourceRunID]; ok {
			req["source_run_id"] = id
		}
	}
	var created struct {
		Model struct {
			Info struct {
				ModelID     string `json:"model_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"model"`
	}
	if err := w.call(ctx, "POST", "/api/2.0/mlflow/logged-models", req, &created); err != nil {
		return fmt.Errorf("logged model %s: %w", x.ModelID, err)
	}
	id := created.Model.Info.ModelID
	w.lms[x.ModelID] = id
	w.rep.changed("logged_model", x.ModelID, id)
	w.roots["logged_model/"+x.ModelID] = w.proxyRoot(created.Model.Info.ArtifactURI, "logged model "+x.ModelID)
	if x.Status != "" && x.Status != "LOGGED_MODEL_PENDING" {
		if err := w.call(ctx, "PATCH", "/api/2.0/mlflow/logged-models/"+url.PathEscape(id), map[string]any{"model_id": id, "status": x.Status}, nil); err != nil {
			return err
		}
	}
	w.rep.LoggedModels++
	return nil
}

// registeredModel creates the model and its versions with their numbers:
// MLflow numbers versions 1, 2, ... and never reuses a number, so a hole
// in the bundle's numbering is filled by a placeholder version that is
// deleted right after.
func (w *Writer) registeredModel(ctx context.Context, m bundle.RegisteredModel, versions []bundle.ModelVersion) error {
	err := w.call(ctx, "POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": m.Name, "tags": m.Tags, "description": m.Description}, nil)
	if tandem.ErrorCode(err) == tandem.EEXISTS {
		w.rep.Skipped = append(w.rep.Skipped, fmt.Sprintf("registered model %q: already in MLflow, left as it is", m.Name))
		return nil
	} else if err != nil {
		return err
	}
	w.rep.Models++
	sort.Slice(versions, func(i, j int) bool { return num(versions[i].Version) < num(versions[j].Version) })
	next := int64(1)
	for _, v := range versions {
		want := num(v.Version)
		for ; next < want; next++ { // a hole: keep the numbering
			if err := w.createVersion(ctx, m.Name, "placeholder:/deleted", "", "", nil); err != nil {
				return err
			}
			if err := w.call(ctx, "DELETE", "/api/2.0/mlflow/model-versions/delete", map[string]any{"name": m.Name, "version": strconv.FormatInt(next, 10)}, nil); err != nil {
				return err
			}
		}
		next = want + 1
		if v.CurrentStage == "Deleted_Internal" {
			if err := w.createVersion(ctx, m.Name, "placeholder:/deleted", "", "", nil); err != nil {
				return err
			}
			if err := w.call(ctx, "DELETE", "/api/2.0/mlflow/model-versions/delete", map[string]any{"name": m.Name, "version": v.Version}, nil); err != nil {
				return err
			}
			continue
		}
		source, runID, modelID := v.Source, v.RunID, v.ModelID
		if id, ok := w.runs[runID]; ok {
			source = strings.Replace(source, "runs:/"+runID+"/", "runs:/"+id+"/", 1)
			runID = id
		}
		if id, ok := w.lms[modelID]; ok {
			source = strings.Replace(source, "models:/"+modelID, "models:/"+id, 1)
			modelID = id
		} else if modelID != "" {
			modelID = "" // not in the bundle: MLflow would refuse an unknown id
		}
		if err := w.createVersion(ctx, m.Name, source, runID, modelID, v.Tags); err != nil {
			return err
		}
		if v.Description != "" {
			if err := w.call(ctx, "PATCH", "/api/2.0/mlflow/model-versions/update", map[string]any{"name": m.Name, "version": v.Version, "description": v.Description}, nil); err != nil {
				return err
			}
		}
		if v.CurrentStage != "" && v.CurrentStage != "None" {
			if err := w.call(ctx, "POST", "/api/2.0/mlflow/model-versions/transition-stage", map[string]any{"name": m.Name, "version": v.Version,
				"stage": v.CurrentStage, "archive_existing_versions": false}, nil); err != nil {
				return err
			}
		}
		w.rep.Versions++
	}
	for _, a := range m.Aliases {
		if err := w.call(ctx, "POST", "/api/2.0/mlflow/registered-models/alias", map[string]any{"name": m.Name, "alias": a.Alias, "version": a.Version}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) createVersion(ctx context.Context, name, source, runID, modelID string, tags []bundle.KV) error {
	req := map[string]any{"name": name, "source": source}
	if runID != "" {
		req["run_id"] = runID
	}
	if modelID != "" {
		req["model_id"] = modelID
	}
	if len(tags) > 0 {
		req["tags"] = tags
	}
	return w.call(ctx, "POST", "/api/2.0/mlflow/model-versions/create", req, nil)
}

func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
