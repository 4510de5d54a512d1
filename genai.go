package tandem

import (
	"encoding/json"
	"strings"
)

// MLflow 3's GenAI workspace objects: evaluation datasets with their
// records, and registered scorers. (Prompts are registered models with
// MLflow's prompt tags, see registry.go: they need no type of their own.)

// EvaluationDataset is one evaluation dataset (MLflow's
// mlflow.datasets.Dataset). Times are milliseconds since the epoch. Schema
// and Profile are JSON texts the server derives from the records ("" until
// the first record).
type EvaluationDataset struct {
	ID            string            `json:"dataset_id"`
	Name          string            `json:"name"`
	Tags          map[string]string `json:"tags,omitempty"`
	Schema        string            `json:"schema,omitempty"`
	Profile       string            `json:"profile,omitempty"`
	Digest        string            `json:"digest"`
	Created       int64             `json:"created_time"`
	Updated       int64             `json:"last_update_time"`
	CreatedBy     string            `json:"created_by,omitempty"`
	LastUpdatedBy string            `json:"last_updated_by,omitempty"`
	ExperimentIDs []string          `json:"experiment_ids,omitempty"`
}

// DatasetRecord is one record of an evaluation dataset. Inputs, Outputs,
// Expectations, Tags and Source are JSON values as the client sent them
// (nil when absent); a dataset holds at most one record per distinct
// Inputs (InputHash is their canonical digest).
type DatasetRecord struct {
	ID            string          `json:"dataset_record_id"`
	DatasetID     string          `json:"dataset_id"`
	Inputs        json.RawMessage `json:"inputs"`
	Outputs       json.RawMessage `json:"outputs,omitempty"`
	Expectations  json.RawMessage `json:"expectations,omitempty"`
	Tags          json.RawMessage `json:"tags,omitempty"`
	Source        json.RawMessage `json:"source,omitempty"`
	SourceID      string          `json:"source_id,omitempty"`
	SourceType    string          `json:"source_type,omitempty"`
	Created       int64           `json:"created_time"`
	Updated       int64           `json:"last_update_time"`
	CreatedBy     string          `json:"created_by,omitempty"`
	LastUpdatedBy string          `json:"last_updated_by,omitempty"`
	InputHash     string          `json:"input_hash"`
}

// ScorerVersion is one registered version of a scorer of an experiment
// (MLflow's mlflow.Scorer). Serialized is the client's serialized scorer
// (JSON text), kept as sent; tandem never runs it.
type ScorerVersion struct {
	ScorerID     string `json:"scorer_id"`
	ExperimentID string `json:"experiment_id"`
	Name         string `json:"scorer_name"`
	Version      int64  `json:"scorer_version"`
	Serialized   string `json:"serialized_scorer"`
	Created      int64  `json:"creation_time"`
}

// DatasetSourceTypes are the record source types MLflow knows
// (DatasetRecordSource.SourceType without its proto prefix).
var DatasetSourceTypes = []string{"TRACE", "HUMAN", "DOCUMENT", "CODE"}

// ValidateDatasetName refuses an empty dataset name (EINVALID).
func ValidateDatasetName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(EINVALID, "Missing value for required parameter 'name'.")
	}
	if len(name) > 255 {
		return Errorf(EINVALID, "Dataset name '%s' exceeds the maximum length of 255 characters.", name)
	}
	return nil
}

// ValidateScorerName refuses a blank scorer name as MLflow does (EINVALID).
func ValidateScorerName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(EINVALID, "Scorer name cannot be empty or contain only whitespace.")
	}
	if len(name) > 256 {
		return Errorf(EINVALID, "Scorer name '%s' exceeds the maximum length of 256 characters.", name)
	}
	return nil
}

// Issue is a quality or operational problem found in an experiment's
// traces (MLflow 3's mlflow.entities.Issue). Traces are linked to it by
// assessments of type issue named by its id; TraceCount counts them when
// a search asks for it.
type Issue struct {
	IssueID      string   `json:"issue_id"`
	ExperimentID string   `json:"experiment_id"`
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Status       string   `json:"status"`
	Severity     string   `json:"severity,omitempty"`
	RootCauses   []string `json:"root_causes,omitempty"`
	SourceRunID  string   `json:"source_run_id,omitempty"`
	Categories   []string `json:"categories,omitempty"`
	CreatedBy    string   `json:"created_by,omitempty"`
	Created      int64    `json:"created_timestamp"`
	Updated      int64    `json:"last_updated_timestamp"`
	TraceCount   *int64   `json:"trace_count,omitempty"`
}

// Issue statuses and severities, as MLflow names them; severities from
// the lowest.
var (
	IssueStatuses   = []string{"pending", "rejected", "resolved"}
	IssueSeverities = []string{"not_an_issue", "low", "medium", "high"}
)

// IssueSeverityRank is a severity's place in IssueSeverities (-1: none).
func IssueSeverityRank(s string) int {
	for i, x := range IssueSeverities {
		if x == s {
			return i
		}
	}
	return -1
}

// ValidateIssueStatus and ValidateIssueSeverity refuse values MLflow's
// enums do not have.
func ValidateIssueStatus(s string) error {
	for _, x := range IssueStatuses {
		if x == s {
			return nil
		}
	}
	return Errorf(EINVALID, "Invalid value '%s' for parameter 'status' supplied: must be one of %s.", s, strings.Join(IssueStatuses, ", "))
}

func ValidateIssueSeverity(s string) error {
	if IssueSeverityRank(s) < 0 {
		return Errorf(EINVALID, "Invalid value '%s' for parameter 'severity' supplied: must be one of %s.", s, strings.Join(IssueSeverities, ", "))
	}
	return nil
}

// UpsertResult counts the records an upsert inserted and updated.
type UpsertResult struct {
	Inserted, Updated int
}

// RecordInput is one record of an upsert as the client sends it: each
// field is the raw JSON value, nil when the key is absent.
type RecordInput struct {
	Inputs       json.RawMessage `json:"inputs"`
	Outputs      json.RawMessage `json:"outputs"`
	Expectations json.RawMessage `json:"expectations"`
	Tags         json.RawMessage `json:"tags"`
	Source       json.RawMessage `json:"source"`
	// HasOutputs is whether the client sent "outputs" (set by
	// UnmarshalJSON).
	HasOutputs bool `json:"-"`
}

// DatasetSearch is a search of evaluation datasets (MLflow's
// SearchEvaluationDatasets).
type DatasetSearch struct {
	ExperimentIDs []string
	Filter        string
	MaxResults    int
	OrderBy       []string
	PageToken     string
}

// IssueUpdate holds the fields an update changes ("" or nil: unchanged).
type IssueUpdate struct {
	Name, Description, Status, Severity string
}

// IssueSearch is what SearchIssues selects.
type IssueSearch struct {
	ExperimentID      string // "": every experiment
	Filter            string
	MaxResults        int // 0: DefaultIssueSearch
	PageToken         string
	IncludeTraceCount bool
}

// UnmarshalJSON keeps whether "outputs" was present (an explicit null
// clears a record's outputs; an absent key keeps them).
func (r *RecordInput) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return Errorf(EINVALID, "Each record must be a JSON object")
	}
	r.Inputs, r.Expectations, r.Tags, r.Source = m["inputs"], m["expectations"], m["tags"], m["source"]
	r.Outputs, r.HasOutputs = m["outputs"]
	return nil
}

// MaxIssueSearch is the most issues one search page returns (MLflow's
// SEARCH_MAX_RESULTS_THRESHOLD); DefaultIssueSearch when none is asked.
const (
	MaxIssueSearch     = 50000
	DefaultIssueSearch = 100
)

// MaxDatasetRecordsPage is the default and largest page of an evaluation
// dataset's records.
const MaxDatasetRecordsPage = 1000
