package bundle

import (
	"encoding/json"
	"math"
	"strconv"
)

// The records below are the JSON form of each object kind inside a bundle.
// Field names follow the MLflow REST API where MLflow has the concept, so a
// record read from a stock MLflow server needs no renaming. Every time is in
// milliseconds since the Unix epoch, as in MLflow.

// KV is a key/value pair: a tag, a param, a dataset input tag.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Float is a metric value. JSON has no NaN or infinities; they are written as
// the strings "NaN", "Infinity" and "-Infinity", as proto3 JSON does.
type Float float64

// MarshalJSON writes finite values as numbers and the rest as strings.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON accepts a number or a string holding one (including NaN and
// the infinities).
func (f *Float) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "NaN", "nan":
		*f = Float(math.NaN())
		return nil
	case "Infinity", "inf", "+Infinity":
		*f = Float(math.Inf(1))
		return nil
	case "-Infinity", "-inf":
		*f = Float(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "metric value " + s, Type: nil}
	}
	*f = Float(v)
	return nil
}

// Experiment is an experiment and its tags.
type Experiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location,omitempty"`
	LifecycleStage   string `json:"lifecycle_stage"`
	CreationTime     int64  `json:"creation_time"`
	LastUpdateTime   int64  `json:"last_update_time"`
	Tags             []KV   `json:"tags,omitempty"`
}

// Metric is one metric point. A run's record holds every point of every
// metric's history, not only the latest.
type Metric struct {
	Key           string `json:"key"`
	Value         Float  `json:"value"`
	Timestamp     int64  `json:"timestamp"`
	Step          int64  `json:"step"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
	ModelID       string `json:"model_id,omitempty"`
	RunID         string `json:"run_id,omitempty"` // a logged model's metric: the run that logged it
}

// Dataset is a dataset as MLflow records it for a run input.
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput is a dataset a run used, with the input's tags (for example
// mlflow.data.context=training).
type DatasetInput struct {
	Dataset Dataset `json:"dataset"`
	Tags    []KV    `json:"tags,omitempty"`
}

// ModelOutput is a logged model a run produced, at a step.
type ModelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

// File is one artifact file of a run or a logged model: its path relative to
// the owner's artifact root, its size and SHA-256. Its bytes are the blob
// whose manifest item has this owner and ID == Path.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Run is a run with everything MLflow's API exposes about it: info, params,
// tags, the full history of every metric, dataset and model inputs, model
// outputs, and the list of its artifact files.
type Run struct {
	RunID          string         `json:"run_id"`
	ExperimentID   string         `json:"experiment_id"`
	RunName        string         `json:"run_name,omitempty"`
	UserID         string         `json:"user_id,omitempty"`
	Status         string         `json:"status"`
	StartTime      int64          `json:"start_time"`
	EndTime        *int64         `json:"end_time,omitempty"`
	LifecycleStage string         `json:"lifecycle_stage"`
	ArtifactURI    string         `json:"artifact_uri,omitempty"`
	Params         []KV           `json:"params,omitempty"`
	Tags           []KV           `json:"tags,omitempty"`
	Metrics        []Metric       `json:"metrics,omitempty"`
	Inputs         []DatasetInput `json:"inputs,omitempty"`
	ModelInputs    []string       `json:"model_inputs,omitempty"`
	ModelOutputs   []ModelOutput  `json:"model_outputs,omitempty"`
	Artifacts      []File         `json:"artifacts,omitempty"`
}

// LoggedModel is an MLflow 3 logged model (models:/m-...) with its params,
// tags, metrics and artifact files.
type LoggedModel struct {
	ModelID                string   `json:"model_id"`
	ExperimentID           string   `json:"experiment_id"`
	Name                   string   `json:"name"`
	ArtifactURI            string   `json:"artifact_uri,omitempty"`
	CreationTimestampMs    int64    `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64    `json:"last_updated_timestamp_ms"`
	Status                 string   `json:"status"`
	StatusMessage          string   `json:"status_message,omitempty"`
	ModelType              string   `json:"model_type,omitempty"`
	SourceRunID            string   `json:"source_run_id,omitempty"`
	LifecycleStage         string   `json:"lifecycle_stage,omitempty"` // "" means active
	Tags                   []KV     `json:"tags,omitempty"`
	Params                 []KV     `json:"params,omitempty"`
	Metrics                []Metric `json:"metrics,omitempty"`
	Artifacts              []File   `json:"artifacts,omitempty"`
}

// Alias points a registered model alias at a version.
type Alias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// RegisteredModel is a registered model with its tags and aliases. Its
// versions are separate ModelVersion objects.
type RegisteredModel struct {
	Name                 string  `json:"name"`
	CreationTimestamp    int64   `json:"creation_timestamp"`
	LastUpdatedTimestamp int64   `json:"last_updated_timestamp"`
	UserID               string  `json:"user_id,omitempty"`
	Description          string  `json:"description,omitempty"`
	Tags                 []KV    `json:"tags,omitempty"`
	Aliases              []Alias `json:"aliases,omitempty"`
}

// ModelVersion is one version of a registered model, keeping its number,
// stage, lineage (run id, logged model id, source) and tags. A deleted
// version exported by tandem has CurrentStage "Deleted_Internal": it keeps
// its number from being reused and is never shown.
type ModelVersion struct {
	Name                 string `json:"name"`
	Version              string `json:"version"`
	CreationTimestamp    int64  `json:"creation_timestamp"`
	LastUpdatedTimestamp int64  `json:"last_updated_timestamp"`
	UserID               string `json:"user_id,omitempty"`
	CurrentStage         string `json:"current_stage,omitempty"`
	Description          string `json:"description,omitempty"`
	Source               string `json:"source,omitempty"`
	StorageLocation      string `json:"storage_location,omitempty"`
	RunID                string `json:"run_id,omitempty"`
	RunLink              string `json:"run_link,omitempty"`
	Status               string `json:"status,omitempty"`
	StatusMessage        string `json:"status_message,omitempty"`
	ModelID              string `json:"model_id,omitempty"`
	Tags                 []KV   `json:"tags,omitempty"`
}

// Asset is one version of a workspace asset outside MLflow's model
// (environment, data asset, datastore definition, component, pipeline):
// its definition in the YAML-equivalent JSON form, its description, tags,
// archived state, times and the list of its files (whose bytes are blobs
// owned by "asset/<id>"). Spec never holds a secret: exporters drop
// datastore credentials and importers refuse a spec that carries some.
// A datastore has no version (one definition per name).
type Asset struct {
	AssetKind   string          `json:"asset_kind"`
	Name        string          `json:"name"`
	Version     string          `json:"version,omitempty"`
	Description string          `json:"description,omitempty"`
	Tags        []KV            `json:"tags,omitempty"` // sorted by key
	Archived    bool            `json:"archived,omitempty"`
	CreatedMS   int64           `json:"created_ms,omitempty"`
	UpdatedMS   int64           `json:"updated_ms,omitempty"`
	Files       []File          `json:"files,omitempty"`
	Spec        json.RawMessage `json:"spec"`
}

// AssetID is the manifest id of an asset: "<kind>/<name>/<version>", or
// "<kind>/<name>" for a datastore (no version).
func AssetID(kind, name, version string) string {
	if version == "" {
		return kind + "/" + name
	}
	return kind + "/" + name + "/" + version
}

// ID is the asset's manifest id.
func (a *Asset) ID() string { return AssetID(a.AssetKind, a.Name, a.Version) }
