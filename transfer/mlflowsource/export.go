package mlflowsource

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Sink receives records and blobs; *bundle.Writer is one.
type Sink interface {
	AddObject(kind bundle.Kind, id string, v any) (bundle.Item, error)
	AddBlob(owner, artifactPath, readable string, r io.Reader) (bundle.Item, error)
}

// Options choose what to read.
type Options struct {
	// Experiments are experiment ids or names; empty with All reads every
	// experiment (active and deleted).
	Experiments []string
	// Models are registered model names; empty with All reads every model.
	Models []string
	All    bool
	// Parallel is how many runs are read at once (default 8).
	Parallel int
	// SkipArtifacts leaves artifact bytes out.
	SkipArtifacts bool
	// Progress, when set, is called after each object is read.
	Progress func(Stats)
}

// Stats counts what was read.
type Stats struct {
	Experiments, Runs, MetricPoints, Params, Tags int64
	Artifacts, ArtifactBytes                      int64
	LoggedModels, RegisteredModels, ModelVersions int64
	Traces                                        int64
}

type stats struct {
	experiments, runs, points, params, tags, artifacts, bytes, logged, models, versions, traces atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{Experiments: s.experiments.Load(), Runs: s.runs.Load(), MetricPoints: s.points.Load(),
		Params: s.params.Load(), Tags: s.tags.Load(), Artifacts: s.artifacts.Load(), ArtifactBytes: s.bytes.Load(),
		LoggedModels: s.logged.Load(), RegisteredModels: s.models.Load(), ModelVersions: s.versions.Load(),
		Traces: s.traces.Load()}
}

// Export reads what opts select from the MLflow server and writes it to
// sink: experiments, then runs (each with its full metric histories and
// artifacts) read opts.Parallel at a time, then logged models, then
// registered models and their versions. Memory holds one page of search
// results and one run per worker.
func (c *Client) Export(ctx context.Context, sink Sink, opts Options) (Stats, error) {
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if !opts.All && len(opts.Experiments) == 0 && len(opts.Models) == 0 {
		return Stats{}, tandem.Errorf(tandem.EINVALID, "choose experiments, models, or all")
	}
	var st stats
	progress := func() {
		if opts.Progress != nil {
			opts.Progress(st.snapshot())
		}
	}
	exps, err := c.experiments(ctx, opts)
	if err != nil {
		return Stats{}, err
	}
	for _, e := range exps {
		if _, err := sink.AddObject(bundle.KindExperiment, e.ExperimentID, e); err != nil {
			return Stats{}, err
		}
		st.experiments.Add(1)
	}
	progress()
	for _, e := range exps {
		if err := c.exportRuns(ctx, sink, e.ExperimentID, opts, &st, progress); err != nil {
			return st.snapshot(), err
		}
		if err := c.exportLoggedModels(ctx, sink, e.ExperimentID, opts, &st, progress); err != nil {
			return st.snapshot(), err
		}
		if err := c.exportTraces(ctx, sink, e.ExperimentID, &st, progress); err != nil { // traces.go
			return st.snapshot(), err
		}
	}
	if opts.All || len(opts.Models) > 0 {
		if err := c.exportRegistry(ctx, sink, opts, &st, progress); err != nil {
			return st.snapshot(), err
		}
	}
	return st.snapshot(), nil
}

type kv = bundle.KV

type mlExperiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
	CreationTime     num    `json:"creation_time"`
	LastUpdateTime   num    `json:"last_update_time"`
	Tags             []kv   `json:"tags"`
}

func (e mlExperiment) record() bundle.Experiment {
	return bundle.Experiment{ExperimentID: e.ExperimentID, Name: e.Name, ArtifactLocation: e.ArtifactLocation,
		LifecycleStage: e.LifecycleStage, CreationTime: int64(e.CreationTime), LastUpdateTime: int64(e.LastUpdateTime), Tags: e.Tags}
}

func (c *Client) experiments(ctx context.Context, opts Options) ([]bundle.Experiment, error) {
	var out []bundle.Experiment
	if len(opts.Experiments) == 0 {
		if !opts.All {
			return nil, nil
		}
		token := ""
		for {
			var resp struct {
				Experiments   []mlExperiment `json:"experiments"`
				NextPageToken string         `json:"next_page_token"`
			}
			req := map[string]any{"view_type": "ALL", "max_results": 1000}
			if token != "" {
				req["page_token"] = token
			}
			if err := c.do(ctx, "POST", "/api/2.0/mlflow/experiments/search", nil, req, &resp); err != nil {
				return nil, err
			}
			for _, e := range resp.Experiments {
				out = append(out, e.record())
			}
			if token = resp.NextPageToken; token == "" {
				return out, nil
			}
		}
	}
	for _, want := range opts.Experiments {
		var resp struct {
			Experiment mlExperiment `json:"experiment"`
		}
		err := c.do(ctx, "GET", "/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {want}}, nil, &resp)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND || tandem.ErrorCode(err) == tandem.EINVALID {
			err = c.do(ctx, "GET", "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {want}}, nil, &resp)
		}
		if err != nil {
			return nil, fmt.Errorf("experiment %q: %w", want, err)
		}
		out = append(out, resp.Experiment.record())
	}
	return out, nil
}

type mlMetric struct {
	Key           string       `json:"key"`
	Value         bundle.Float `json:"value"`
	Timestamp     num          `json:"timestamp"`
	Step          num          `json:"step"`
	DatasetName   string       `json:"dataset_name"`
	DatasetDigest string       `json:"dataset_digest"`
	ModelID       string       `json:"model_id"`
	RunID         string       `json:"run_id"`
}

func (m mlMetric) record() bundle.Metric {
	return bundle.Metric{Key: m.Key, Value: m.Value, Timestamp: int64(m.Timestamp), Step: int64(m.Step),
		DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID, RunID: m.RunID}
}

type mlRun struct {
	Info struct {
		RunID          string `json:"run_id"`
		RunUUID        string `json:"run_uuid"`
		ExperimentID   string `json:"experiment_id"`
		RunName        string `json:"run_name"`
		UserID         string `json:"user_id"`
		Status         string `json:"status"`
		StartTime      num    `json:"start_time"`
		EndTime        *num   `json:"end_time"`
		ArtifactURI    string `json:"artifact_uri"`
		LifecycleStage string `json:"lifecycle_stage"`
	} `json:"info"`
	Data struct {
		Metrics []mlMetric `json:"metrics"`
		Params  []kv       `json:"params"`
		Tags    []kv       `json:"tags"`
	} `json:"data"`
	Inputs struct {
		DatasetInputs []bundle.DatasetInput `json:"dataset_inputs"`
		ModelInputs   []struct {
			ModelID string `json:"model_id"`
		} `json:"model_inputs"`
	} `json:"inputs"`
	Outputs struct {
		ModelOutputs []struct {
			ModelID string `json:"model_id"`
			Step    num    `json:"step"`
		} `json:"model_outputs"`
	} `json:"outputs"`
}

func (c *Client) exportRuns(ctx context.Context, sink Sink, expID string, opts Options, st *stats, progress func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		runs []mlRun
		dirs map[string]bool // runs with an artifact folder; nil: unknown
	}
	work := make(chan batch)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	var noBulk atomic.Bool
	for i := 0; i < opts.Parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := c.exportBatch(ctx, sink, b.runs, b.dirs, opts, st, progress, &noBulk); err != nil {
					fail(err)
				}
			}
		}()
	}
	token := ""
	for ctx.Err() == nil {
		var resp struct {
			Runs          []mlRun `json:"runs"`
			NextPageToken string  `json:"next_page_token"`
		}
		req := map[string]any{"experiment_ids": []string{expID}, "run_view_type": "ALL", "max_results": 1000}
		if token != "" {
			req["page_token"] = token
		}
		if err := c.do(ctx, "POST", "/api/2.0/mlflow/runs/search", nil, req, &resp); err != nil {
			fail(fmt.Errorf("experiment %s: search runs: %w", expID, err))
			break
		}
		// Batches small enough to keep every worker busy, large enough
		// that one bulk history request covers many runs.
		size := min(bulkMaxRuns, max(10, (len(resp.Runs)+opts.Parallel-1)/opts.Parallel))
		var dirs map[string]bool
		if !opts.SkipArtifacts {
			dirs, _ = c.artifactDirs(ctx, resp.Runs)
		}
		for i := 0; i < len(resp.Runs); i += size {
			select {
			case work <- batch{resp.Runs[i:min(i+size, len(resp.Runs))], dirs}:
			case <-ctx.Done():
			}
		}
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// exportBatch reads the histories and artifacts of a batch of runs from
// one search page and writes their records: histories in bulk where that
// keeps everything, else run by run.
func (c *Client) exportBatch(ctx context.Context, sink Sink, batch []mlRun, dirs map[string]bool, opts Options, st *stats, progress func(), noBulk *atomic.Bool) error {
	var bulk, single []mlRun
	for i := range batch {
		if !noBulk.Load() && bulkable(&batch[i]) {
			bulk = append(bulk, batch[i])
		} else {
			single = append(single, batch[i])
		}
	}
	finish := func(r *mlRun, metrics []bundle.Metric) error {
		skipList := dirs != nil && !dirs[runID(r)]
		if err := c.exportRun(ctx, sink, r, metrics, skipList, opts, st); err != nil {
			return fmt.Errorf("run %s: %w", runID(r), err)
		}
		progress()
		return nil
	}
	if len(bulk) > 0 {
		err := c.bulkHistories(ctx, bulk, finish)
		if err == errNoBulk {
			noBulk.Store(true)
			err = nil
			single = append(single, bulk...) // nothing was written yet
		}
		if err != nil {
			return err
		}
	}
	for i := range single {
		r := &single[i]
		var metrics []bundle.Metric
		for _, key := range metricKeys(r) {
			hist, err := c.metricHistory(ctx, runID(r), key)
			if err != nil {
				return fmt.Errorf("run %s: %w", runID(r), err)
			}
			metrics = append(metrics, hist...)
		}
		if err := finish(r, metrics); err != nil {
			return err
		}
	}
	return nil
}

// exportRun writes one run's record with its metric points, after copying
// its artifacts (unless noArtifacts says it has none).
func (c *Client) exportRun(ctx context.Context, sink Sink, r *mlRun, metrics []bundle.Metric, noArtifacts bool, opts Options, st *stats) error {
	id := runID(r)
	rec := bundle.Run{RunID: id, ExperimentID: r.Info.ExperimentID, RunName: r.Info.RunName, UserID: r.Info.UserID,
		Status: r.Info.Status, StartTime: int64(r.Info.StartTime), LifecycleStage: r.Info.LifecycleStage,
		ArtifactURI: r.Info.ArtifactURI, Params: r.Data.Params, Tags: r.Data.Tags, Inputs: r.Inputs.DatasetInputs,
		Metrics: metrics}
	if r.Info.EndTime != nil {
		v := int64(*r.Info.EndTime)
		rec.EndTime = &v
	}
	for _, mi := range r.Inputs.ModelInputs {
		rec.ModelInputs = append(rec.ModelInputs, mi.ModelID)
	}
	for _, mo := range r.Outputs.ModelOutputs {
		rec.ModelOutputs = append(rec.ModelOutputs, bundle.ModelOutput{ModelID: mo.ModelID, Step: int64(mo.Step)})
	}
	if !opts.SkipArtifacts && !noArtifacts {
		files, err := c.listRunArtifacts(ctx, id, "")
		if err != nil {
			return err
		}
		for _, f := range files {
			it, err := c.copyArtifact(ctx, sink, "run/"+id, f,
				path.Join(rec.ExperimentID, id, "artifacts", f),
				"/get-artifact", url.Values{"run_uuid": {id}, "path": {f}})
			if err != nil {
				return err
			}
			rec.Artifacts = append(rec.Artifacts, bundle.File{Path: f, Size: it.Size, SHA256: it.SHA256})
			st.artifacts.Add(1)
			st.bytes.Add(it.Size)
		}
	}
	if _, err := sink.AddObject(bundle.KindRun, id, rec); err != nil {
		return err
	}
	st.runs.Add(1)
	st.points.Add(int64(len(rec.Metrics)))
	st.params.Add(int64(len(rec.Params)))
	st.tags.Add(int64(len(rec.Tags)))
	return nil
}

// metricHistory reads every point of one metric, page by page.
func (c *Client) metricHistory(ctx context.Context, runID, key string) ([]bundle.Metric, error) {
	var out []bundle.Metric
	token := ""
	for {
		q := url.Values{"run_id": {runID}, "metric_key": {key}, "max_results": {"25000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			Metrics       []mlMetric `json:"metrics"`
			NextPageToken string     `json:"next_page_token"`
		}
		if err := c.do(ctx, "GET", "/api/2.0/mlflow/metrics/get-history", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("metric %q history: %w", key, err)
		}
		for _, m := range resp.Metrics {
			out = append(out, m.record())
		}
		if token = resp.NextPageToken; token == "" || len(resp.Metrics) == 0 {
			return out, nil
		}
	}
}

type mlFile struct {
	Path  string `json:"path"`
	IsDir bool   `json:"is_dir"`
	Size  num    `json:"file_size"`
}

// listRunArtifacts lists every file under dir, recursively.
func (c *Client) listRunArtifacts(ctx context.Context, runID, dir string) ([]string, error) {
	q := url.Values{"run_id": {runID}}
	if dir != "" {
		q.Set("path", dir)
	}
	var resp struct {
		Files []mlFile `json:"files"`
	}
	if err := c.do(ctx, "GET", "/api/2.0/mlflow/artifacts/list", q, nil, &resp); err != nil {
		return nil, fmt.Errorf("list artifacts %q: %w", dir, err)
	}
	return c.walkFiles(ctx, resp.Files, dir, func(sub string) ([]string, error) { return c.listRunArtifacts(ctx, runID, sub) })
}

func (c *Client) walkFiles(ctx context.Context, files []mlFile, dir string, sub func(string) ([]string, error)) ([]string, error) {
	var out []string
	for _, f := range files {
		p := f.Path
		if dir != "" && !strings.HasPrefix(p, dir+"/") {
			p = path.Join(dir, path.Base(p)) // some stores answer base names
		}
		if p == dir || p == "" {
			continue
		}
		if f.IsDir {
			more, err := sub(p)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		if err := bundle.CheckPath(p); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "artifact path %q from the source server: %v", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *Client) copyArtifact(ctx context.Context, sink Sink, owner, file, readable, endpoint string, q url.Values) (bundle.Item, error) {
	start := time.Now()
	defer func() { c.record(endpoint, time.Since(start)) }()
	resp, err := c.send(ctx, "GET", endpoint, q, nil)
	if err != nil {
		return bundle.Item{}, fmt.Errorf("download %s: %w", file, err)
	}
	defer resp.Body.Close()
	it, err := sink.AddBlob(owner, file, readable, resp.Body)
	if err != nil {
		return bundle.Item{}, fmt.Errorf("download %s: %w", file, err)
	}
	return it, nil
}

type mlLoggedModel struct {
	Info struct {
		ModelID                string `json:"model_id"`
		ExperimentID           string `json:"experiment_id"`
		Name                   string `json:"name"`
		CreationTimestampMs    num    `json:"creation_timestamp_ms"`
		LastUpdatedTimestampMs num    `json:"last_updated_timestamp_ms"`
		ArtifactURI            string `json:"artifact_uri"`
		Status                 string `json:"status"`
		StatusMessage          string `json:"status_message"`
		ModelType              string `json:"model_type"`
		SourceRunID            string `json:"source_run_id"`
		Tags                   []kv   `json:"tags"`
	} `json:"info"`
	Data struct {
		Params  []kv       `json:"params"`
		Metrics []mlMetric `json:"metrics"`
	} `json:"data"`
}

func (c *Client) exportLoggedModels(ctx context.Context, sink Sink, expID string, opts Options, st *stats, progress func()) error {
	token := ""
	for {
		req := map[string]any{"experiment_ids": []string{expID}, "max_results": 100}
		if token != "" {
			req["page_token"] = token
		}
		var resp struct {
			Models        []mlLoggedModel `json:"models"`
			NextPageToken string          `json:"next_page_token"`
		}
		if err := c.do(ctx, "POST", "/api/2.0/mlflow/logged-models/search", nil, req, &resp); err != nil {
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return nil // an MLflow 2 server: no logged models
			}
			return fmt.Errorf("experiment %s: search logged models: %w", expID, err)
		}
		for _, m := range resp.Models {
			i := m.Info
			rec := bundle.LoggedModel{ModelID: i.ModelID, ExperimentID: i.ExperimentID, Name: i.Name, ArtifactURI: i.ArtifactURI,
				CreationTimestampMs: int64(i.CreationTimestampMs), LastUpdatedTimestampMs: int64(i.LastUpdatedTimestampMs),
				Status: i.Status, StatusMessage: i.StatusMessage, ModelType: i.ModelType, SourceRunID: i.SourceRunID,
				Tags: i.Tags, Params: m.Data.Params}
			for _, mm := range m.Data.Metrics {
				rec.Metrics = append(rec.Metrics, mm.record())
			}
			if !opts.SkipArtifacts {
				files, err := c.listModelArtifacts(ctx, i.ModelID, "")
				if err != nil {
					return fmt.Errorf("logged model %s: %w", i.ModelID, err)
				}
				for _, f := range files {
					it, err := c.copyArtifact(ctx, sink, "logged_model/"+i.ModelID, f,
						path.Join(i.ExperimentID, "models", i.ModelID, "artifacts", f),
						"/ajax-api/2.0/mlflow/logged-models/"+url.PathEscape(i.ModelID)+"/artifacts/files",
						url.Values{"artifact_file_path": {f}})
					if err != nil {
						return fmt.Errorf("logged model %s: %w", i.ModelID, err)
					}
					rec.Artifacts = append(rec.Artifacts, bundle.File{Path: f, Size: it.Size, SHA256: it.SHA256})
					st.artifacts.Add(1)
					st.bytes.Add(it.Size)
				}
			}
			if _, err := sink.AddObject(bundle.KindLoggedModel, i.ModelID, rec); err != nil {
				return err
			}
			st.logged.Add(1)
			progress()
		}
		if token = resp.NextPageToken; token == "" {
			return nil
		}
	}
}

func (c *Client) listModelArtifacts(ctx context.Context, modelID, dir string) ([]string, error) {
	q := url.Values{}
	if dir != "" {
		q.Set("artifact_directory_path", dir)
	}
	var resp struct {
		Files []mlFile `json:"files"`
	}
	if err := c.do(ctx, "GET", "/api/2.0/mlflow/logged-models/"+url.PathEscape(modelID)+"/artifacts/directories", q, nil, &resp); err != nil {
		return nil, fmt.Errorf("list artifacts %q: %w", dir, err)
	}
	return c.walkFiles(ctx, resp.Files, dir, func(sub string) ([]string, error) { return c.listModelArtifacts(ctx, modelID, sub) })
}

type mlRegisteredModel struct {
	Name                 string         `json:"name"`
	CreationTimestamp    num            `json:"creation_timestamp"`
	LastUpdatedTimestamp num            `json:"last_updated_timestamp"`
	UserID               string         `json:"user_id"`
	Description          string         `json:"description"`
	Tags                 []kv           `json:"tags"`
	Aliases              []bundle.Alias `json:"aliases"`
}

type mlModelVersion struct {
	Name                 string `json:"name"`
	Version              string `json:"version"`
	CreationTimestamp    num    `json:"creation_timestamp"`
	LastUpdatedTimestamp num    `json:"last_updated_timestamp"`
	UserID               string `json:"user_id"`
	CurrentStage         string `json:"current_stage"`
	Description          string `json:"description"`
	Source               string `json:"source"`
	RunID                string `json:"run_id"`
	RunLink              string `json:"run_link"`
	Status               string `json:"status"`
	StatusMessage        string `json:"status_message"`
	ModelID              string `json:"model_id"`
	Tags                 []kv   `json:"tags"`
}

func (c *Client) exportRegistry(ctx context.Context, sink Sink, opts Options, st *stats, progress func()) error {
	var models []mlRegisteredModel
	if len(opts.Models) > 0 {
		for _, name := range opts.Models {
			var resp struct {
				RegisteredModel mlRegisteredModel `json:"registered_model"`
			}
			if err := c.do(ctx, "GET", "/api/2.0/mlflow/registered-models/get", url.Values{"name": {name}}, nil, &resp); err != nil {
				return fmt.Errorf("registered model %q: %w", name, err)
			}
			models = append(models, resp.RegisteredModel)
		}
	} else {
		token := ""
		for {
			q := url.Values{"max_results": {"1000"}}
			if token != "" {
				q.Set("page_token", token)
			}
			var resp struct {
				RegisteredModels []mlRegisteredModel `json:"registered_models"`
				NextPageToken    string              `json:"next_page_token"`
			}
			if err := c.do(ctx, "GET", "/api/2.0/mlflow/registered-models/search", q, nil, &resp); err != nil {
				return fmt.Errorf("search registered models: %w", err)
			}
			models = append(models, resp.RegisteredModels...)
			if token = resp.NextPageToken; token == "" {
				break
			}
		}
	}
	for _, m := range models {
		rec := bundle.RegisteredModel{Name: m.Name, CreationTimestamp: int64(m.CreationTimestamp),
			LastUpdatedTimestamp: int64(m.LastUpdatedTimestamp), UserID: m.UserID, Description: m.Description,
			Tags: m.Tags, Aliases: m.Aliases}
		if _, err := sink.AddObject(bundle.KindRegisteredModel, m.Name, rec); err != nil {
			return err
		}
		st.models.Add(1)
		versions, err := c.modelVersions(ctx, m.Name)
		if err != nil {
			return err
		}
		for _, v := range versions {
			rec := bundle.ModelVersion{Name: v.Name, Version: v.Version, CreationTimestamp: int64(v.CreationTimestamp),
				LastUpdatedTimestamp: int64(v.LastUpdatedTimestamp), UserID: v.UserID, CurrentStage: v.CurrentStage,
				Description: v.Description, Source: v.Source, RunID: v.RunID, RunLink: v.RunLink, Status: v.Status,
				StatusMessage: v.StatusMessage, ModelID: v.ModelID, Tags: v.Tags}
			if _, err := sink.AddObject(bundle.KindModelVersion, v.Name+"/"+v.Version, rec); err != nil {
				return err
			}
			st.versions.Add(1)
		}
		progress()
	}
	return nil
}

// modelVersions reads every version of one model, with its tags (which
// model-versions/search may leave out), oldest first.
func (c *Client) modelVersions(ctx context.Context, name string) ([]mlModelVersion, error) {
	var out []mlModelVersion
	token := ""
	for {
		q := url.Values{"filter": {"name = '" + strings.ReplaceAll(name, "'", "\\'") + "'"}, "max_results": {"10000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			ModelVersions []mlModelVersion `json:"model_versions"`
			NextPageToken string           `json:"next_page_token"`
		}
		if err := c.do(ctx, "GET", "/api/2.0/mlflow/model-versions/search", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("model %q: search versions: %w", name, err)
		}
		out = append(out, resp.ModelVersions...)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	for i, v := range out {
		var resp struct {
			ModelVersion mlModelVersion `json:"model_version"`
		}
		if err := c.do(ctx, "GET", "/api/2.0/mlflow/model-versions/get", url.Values{"name": {name}, "version": {v.Version}}, nil, &resp); err != nil {
			return nil, fmt.Errorf("model %q version %s: %w", name, v.Version, err)
		}
		out[i] = resp.ModelVersion
	}
	sortVersions(out)
	return out, nil
}

func sortVersions(vs []mlModelVersion) {
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && n(vs[j].Version) < n(vs[j-1].Version); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}
