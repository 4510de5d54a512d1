package tandem

import (
	"math"
	"path"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// MLflow's limits on runs and their data (mlflow/utils/validation.py and
// the server's handlers). Param and run tag values longer than their limit
// are truncated, as MLflow does by default (MLFLOW_TRUNCATE_LONG_VALUES);
// every other limit is an EINVALID error.
const (
	MaxEntityKeyLength      = 250
	MaxParamValueLength     = 6000
	MaxTagValueLength       = 8000
	MaxMetricsPerBatch      = 1000
	MaxParamsTagsPerBatch   = 100
	MaxEntitiesPerBatch     = 1000
	MaxDatasetsPerBatch     = 1000
	MaxDatasetNameLength    = 500
	MaxDatasetDigestLength  = 36
	MaxDatasetSourceLength  = 65535
	MaxDatasetSchemaLength  = 1048575
	MaxDatasetProfileLength = 16777215
	MaxInputTagKeyLength    = 255
	MaxInputTagValueLength  = 500
	MaxRunNameLength        = 250
)

// Run statuses, as MLflow names them.
const (
	RunRunning   = "RUNNING"
	RunScheduled = "SCHEDULED"
	RunFinished  = "FINISHED"
	RunFailed    = "FAILED"
	RunKilled    = "KILLED"
)

// Tags MLflow gives meaning to.
const (
	TagRunName         = "mlflow.runName"
	TagUser            = "mlflow.user"
	TagParentRunID     = "mlflow.parentRunId"
	TagLogModelHistory = "mlflow.log-model.history"
)

// ValidRunStatus reports whether s is one of MLflow's run statuses.
func ValidRunStatus(s string) bool {
	switch s {
	case RunRunning, RunScheduled, RunFinished, RunFailed, RunKilled:
		return true
	}
	return false
}

// RunInfo is a run's metadata. RunUUID repeats RunID, as MLflow still sends
// both.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// Metric is one logged value of a metric.
type Metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
	// ModelID, when set, names the logged model the metric evaluates: the
	// point is kept on that model too (LoggedModel.Metrics), with the
	// dataset it was computed on.
	ModelID       string `json:"model_id,omitempty"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
}

// Param is a run parameter: set once, never changed.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Dataset describes data a run used; it is stored once per experiment and
// identified by (name, digest).
type Dataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

// DatasetInput links a dataset to a run, with tags such as
// mlflow.data.context.
type DatasetInput struct {
	Tags    []Tag   `json:"tags,omitempty"`
	Dataset Dataset `json:"dataset"`
}

// ModelIO names a logged model a run used (input) or produced (output).
type ModelIO struct {
	ModelID string `json:"model_id"`
	Step    *int64 `json:"step,omitempty"`
}

// Run is a run with its data, inputs and outputs, as GetRun returns it.
type Run struct {
	Info    RunInfo
	Metrics []Metric // latest value of each metric
	Params  []Param
	Tags    []Tag
	Inputs  []DatasetInput
	ModelIn []ModelIO
	Outputs []ModelIO
}

var runIDRe = regexp.MustCompile(`^[a-zA-Z0-9][\w\-]{0,255}$`)

// ValidateRunID rejects run ids MLflow rejects (EINVALID).
func ValidateRunID(id string) error {
	if !runIDRe.MatchString(id) {
		return Errorf(EINVALID, "Invalid value '%s' for parameter 'run_id' supplied", id)
	}
	return nil
}

// validateEntityName applies MLflow's rules for metric, param and tag
// names: letters, digits, '_', '-', '.', ' ', ':' and '/', and the name
// must not change when read as a path.
func validateEntityName(name, field, what string) error {
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '/' || r == '.' || r == '-' || r == ' ' || r == ':') {
			return Errorf(EINVALID, "Invalid value '%s' for parameter '%s' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).", name, field)
		}
	}
	norm := path.Clean(name)
	if norm != name || norm == "." || len(norm) >= 2 && norm[:2] == ".." || norm[0] == '/' {
		return Errorf(EINVALID, "Invalid value '%s' for parameter '%s' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", name, field, norm)
	}
	return nil
}

func tooLong(s string, n int) bool { return len(s) > n && utf8.RuneCountInString(s) > n }

// truncate cuts s to n characters.
func truncate(s string, n int) string {
	if !tooLong(s, n) {
		return s
	}
	return string([]rune(s)[:n])
}

// ValidateMetric checks a metric as MLflow does (EINVALID).
func ValidateMetric(m Metric) error {
	if err := validateEntityName(m.Key, "name", "Metric"); err != nil {
		return err
	}
	if m.Timestamp < 0 {
		return Errorf(EINVALID, "Invalid value %d for parameter 'timestamp' supplied: metric '%s'. Timestamp must be a nonnegative long (64-bit integer)", m.Timestamp, m.Key)
	}
	if tooLong(m.Key, MaxEntityKeyLength) {
		return Errorf(EINVALID, "'Metric name' exceeds the maximum length of %d characters", MaxEntityKeyLength)
	}
	return nil
}

// NormalizeParam validates a param and returns it with its value truncated
// to MaxParamValueLength, as MLflow does (EINVALID).
func NormalizeParam(p Param) (Param, error) {
	if err := validateEntityName(p.Key, "key", "Param"); err != nil {
		return p, err
	}
	if tooLong(p.Key, MaxEntityKeyLength) {
		return p, Errorf(EINVALID, "'Param key' exceeds the maximum length of %d characters", MaxEntityKeyLength)
	}
	p.Value = truncate(p.Value, MaxParamValueLength)
	return p, CheckText("value", p.Value)
}

// NormalizeRunTag validates a run tag and returns it with its value
// truncated to MaxTagValueLength, as MLflow does (EINVALID).
func NormalizeRunTag(t Tag) (Tag, error) {
	if err := validateEntityName(t.Key, "key", "Tag"); err != nil {
		return t, err
	}
	if tooLong(t.Key, MaxEntityKeyLength) {
		return t, Errorf(EINVALID, "'key' exceeds the maximum length of %d characters", MaxEntityKeyLength)
	}
	t.Value = truncate(t.Value, MaxTagValueLength)
	return t, CheckText("value", t.Value)
}

// TruncateTagValue cuts a run tag value to MaxTagValueLength characters.
func TruncateTagValue(v string) string { return truncate(v, MaxTagValueLength) }

// ValidateTagKey checks a tag key for delete-tag requests (EINVALID).
func ValidateTagKey(key string) error { return validateEntityName(key, "key", "Tag") }

// ValidateBatchLimits checks log-batch counts against MLflow's limits.
func ValidateBatchLimits(metrics, params, tags int) error {
	check := func(what string, limit, n int) error {
		if n > limit {
			return Errorf(EINVALID, "A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.", limit, what, n, what, what)
		}
		return nil
	}
	if err := check("metrics", MaxMetricsPerBatch, metrics); err != nil {
		return err
	}
	if err := check("params", MaxParamsTagsPerBatch, params); err != nil {
		return err
	}
	if err := check("tags", MaxParamsTagsPerBatch, tags); err != nil {
		return err
	}
	return check("metrics, params, and tags", MaxEntitiesPerBatch, metrics+params+tags)
}

// ValidateDatasetInput checks a dataset input's fields against MLflow's
// limits (EINVALID).
func ValidateDatasetInput(d DatasetInput) error {
	ds := d.Dataset
	switch {
	case ds.Name == "":
		return Errorf(EINVALID, "Dataset name cannot be None")
	case ds.Digest == "":
		return Errorf(EINVALID, "Dataset digest cannot be None")
	case ds.SourceType == "":
		return Errorf(EINVALID, "Dataset source_type cannot be None")
	case len(ds.Name) > MaxDatasetNameLength:
		return Errorf(EINVALID, "'name' exceeds the maximum length of %d characters", MaxDatasetNameLength)
	case len(ds.Digest) > MaxDatasetDigestLength:
		return Errorf(EINVALID, "'digest' exceeds the maximum length of %d characters", MaxDatasetDigestLength)
	case len(ds.Source) > MaxDatasetSourceLength:
		return Errorf(EINVALID, "'source' exceeds the maximum length of %d characters", MaxDatasetSourceLength)
	case len(ds.Schema) > MaxDatasetSchemaLength:
		return Errorf(EINVALID, "'schema' exceeds the maximum length of %d characters", MaxDatasetSchemaLength)
	case len(ds.Profile) > MaxDatasetProfileLength:
		return Errorf(EINVALID, "'profile' exceeds the maximum length of %d characters", MaxDatasetProfileLength)
	}
	for f, s := range map[string]string{"name": ds.Name, "digest": ds.Digest, "source_type": ds.SourceType, "source": ds.Source, "schema": ds.Schema, "profile": ds.Profile} {
		if err := CheckText(f, s); err != nil {
			return err
		}
	}
	for _, t := range d.Tags {
		if err := CheckText("value", t.Key+t.Value); err != nil {
			return err
		}
		if t.Key == "" {
			return Errorf(EINVALID, "InputTag key cannot be None")
		}
		if len(t.Key) > MaxInputTagKeyLength {
			return Errorf(EINVALID, "'key' exceeds the maximum length of %d characters", MaxInputTagKeyLength)
		}
		if len(t.Value) > MaxInputTagValueLength {
			return Errorf(EINVALID, "'value' exceeds the maximum length of %d characters", MaxInputTagValueLength)
		}
	}
	return nil
}

// IsNaN reports whether v is NaN; metric storage keeps NaN as a flag
// because SQLite cannot store it.
func IsNaN(v float64) bool { return math.IsNaN(v) }

// SearchRunsInput is a SearchRuns request.
type SearchRunsInput struct {
	ExperimentIDs []string
	Filter        string
	ViewType      ViewType
	MaxResults    int // 0 means the store's default (1000, as MLflow)
	OrderBy       []string
	PageToken     string
}

// CreateRunInput is what a create-run needs. StartTime is kept as given (the
// MLflow client always sends one; MLflow stores 0 when it is absent).
type CreateRunInput struct {
	ExperimentID string
	UserID       string
	StartTime    int64
	RunName      string
	Tags         []Tag
}

// MetricWithRun is a metric point and the run it belongs to.
type MetricWithRun struct {
	Metric
	RunID string
}

// DatasetSummary is one dataset a run of an experiment used, with the
// mlflow.data.context tag of that use ("" when the use has none).
type DatasetSummary struct {
	ExperimentID, Name, Digest, Context string
}

// Search limits, as MLflow's server: the page a search returns when none
// is asked, and the largest one may ask.
const (
	SearchMaxResultsDefault   = 1000
	SearchMaxResultsThreshold = 50000
)
