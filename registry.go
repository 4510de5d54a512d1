package tandem

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Model registry and MLflow 3 logged models.
//
// A RegisteredModel is a named collection of numbered ModelVersions; each
// version points at model files (its Source, as the client sent it, and the
// StorageLocation the files are downloaded from). Aliases name one version
// of a model ("champion" -> 3). A LoggedModel is MLflow 3's unit of model
// files: logged inside an experiment (optionally by a run), stored under
// its own artifact location, and registered by creating a version whose
// source is "models:/<model_id>".

// Model version stages, as MLflow spells them. StageDeletedInternal marks
// a deleted version whose number must never be reused; it is never shown.
const (
	StageNone            = "None"
	StageStaging         = "Staging"
	StageProduction      = "Production"
	StageArchived        = "Archived"
	StageDeletedInternal = "Deleted_Internal"
)

// Stages lists the stages a client may move a version to, in MLflow's order.
var Stages = []string{StageNone, StageStaging, StageProduction, StageArchived}

// Logged model statuses, as the MLflow API names them.
const (
	LoggedModelStatusUnspecified = "LOGGED_MODEL_STATUS_UNSPECIFIED"
	LoggedModelPending           = "LOGGED_MODEL_PENDING"
	LoggedModelReady             = "LOGGED_MODEL_READY"
	LoggedModelUploadFailed      = "LOGGED_MODEL_UPLOAD_FAILED"
)

// Lifecycle stages of a logged model (the same words as for experiments
// and runs).
const (
	LoggedModelActive  = "active"
	LoggedModelDeleted = "deleted"
)

// Limits MLflow enforces on registry input.
const (
	MaxRegistryTagKey   = 250
	MaxRegistryTagValue = 100000 // MLflow's model version tag value limit (5000 for registered model tags in older versions)
	MaxAliasLength      = 255
	MaxDescription      = 100000
)

// RegisteredModel is a named model in the registry.
type RegisteredModel struct {
	Name            string
	CreationTime    int64 // ms since the epoch
	LastUpdatedTime int64
	Description     string
	Tags            []Tag
	Aliases         []Alias
	// LatestVersions holds, for each stage, the newest version in it.
	LatestVersions []ModelVersion
}

// Alias names one version of a registered model.
type Alias struct {
	Alias   string
	Version int64
}

// NewModelVersion is what a create-model-version needs: the registered
// model, where the files are (Source, with the run or logged model they
// belong to), and who creates it.
type NewModelVersion struct {
	Name        string
	Source      string
	RunID       string
	RunLink     string
	Description string
	ModelID     string
	UserID      string
	Tags        []Tag
}

// ModelVersion is one numbered version of a registered model.
type ModelVersion struct {
	Name            string
	Version         int64
	CreationTime    int64
	LastUpdatedTime int64
	UserID          string
	CurrentStage    string
	Description     string
	Source          string // as the client sent it ("models:/m-...", "runs:/...", "s3://...")
	StorageLocation string // where the files are downloaded from (get-download-uri)
	RunID           string
	RunLink         string
	Status          string // always READY: tandem does no asynchronous copies
	StatusMessage   string
	ModelID         string
	Tags            []Tag
	Aliases         []string
}

// LoggedModel is an MLflow 3 logged model.
type LoggedModel struct {
	ModelID          string
	ExperimentID     string
	Name             string
	ArtifactLocation string
	CreationTime     int64
	LastUpdatedTime  int64
	Status           string
	StatusMessage    string
	ModelType        string
	SourceRunID      string
	LifecycleStage   string
	Tags             []Tag
	Params           []Tag
	Metrics          []LoggedModelMetric // every point logged with this model's id
}

// LoggedModelMetric is a metric point logged with a model_id: the run that
// logged it, and (Metric.DatasetName/DatasetDigest) the dataset it was
// computed on.
type LoggedModelMetric struct {
	Metric
	RunID string
}

// ValidateModelName checks a registered model name as MLflow does: required,
// without '/' or ':' (they would make "models:/" URIs ambiguous). NUL bytes
// are refused too (PostgreSQL cannot store them). Returns EINVALID.
func ValidateModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return MissingParam("name")
	}
	if strings.ContainsAny(name, "/:") {
		return Errorf(EINVALID, "Invalid model name '%s'. Names cannot contain '/' or ':'.", name)
	}
	// Without '/' a name reads as a path unchanged, so only "." and what
	// starts with ".." do not name themselves (MLflow's path check).
	if name == "." || strings.HasPrefix(name, "..") {
		return Errorf(EINVALID, "Invalid value \"%s\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '%s'", name, name)
	}
	if strings.ContainsRune(name, 0) {
		return Errorf(EINVALID, "Invalid model name %q: NUL characters are not allowed.", name)
	}
	return nil
}

// ValidateRegistryTag checks a tag key and value. Returns EINVALID.
func ValidateRegistryTag(key, value string) error {
	if key == "" {
		return MissingParam("key")
	}
	if len(key) > MaxRegistryTagKey {
		return Errorf(EINVALID, "Tag key '%s' had length %d, which exceeded length limit of %d", key, len(key), MaxRegistryTagKey)
	}
	if len(value) > MaxRegistryTagValue {
		return Errorf(EINVALID, "Tag value '%s...' had length %d, which exceeded length limit of %d", value[:32], len(value), MaxRegistryTagValue)
	}
	if strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return Errorf(EINVALID, "Invalid value \"%s\" for parameter 'key' supplied: it must not contain '..' or start with '/'.", key)
	}
	if err := CheckText("key", key); err != nil {
		return err
	}
	return CheckText("value", value)
}

var versionAliasRE = regexp.MustCompile(`^[vV]\d+$`)
var aliasRE = regexp.MustCompile(`^[\w\-]*$`)

// ValidateAlias checks an alias name the way MLflow does: letters, digits,
// '_' and '-', at most 255 characters, not "latest" and not of the form
// "v<number>" (those would shadow version references). Returns EINVALID.
func ValidateAlias(alias string) error {
	if alias == "" {
		return MissingParam("alias")
	}
	if len(alias) > MaxAliasLength {
		return Errorf(EINVALID, "Alias name '%s' had length %d, which exceeded length limit of %d", alias, len(alias), MaxAliasLength)
	}
	if !aliasRE.MatchString(alias) {
		return Errorf(EINVALID, "Invalid alias name: '%s'. Names may only contain alphanumerics, underscores (_), and dashes (-).", alias)
	}
	if strings.EqualFold(alias, "latest") {
		return Errorf(EINVALID, "'latest' alias name (case insensitive) is reserved.")
	}
	if versionAliasRE.MatchString(alias) {
		return Errorf(EINVALID, "Version alias name '%s' is reserved.", alias)
	}
	return nil
}

// ParseVersion parses a model version number as the API sends it (a
// string). Returns EINVALID when it is not an integer; a number that no
// version has (0, -1) is left to the lookup, which reports ENOTFOUND as
// MLflow does.
func ParseVersion(s string) (int64, error) {
	if s == "" {
		return 0, MissingParam("version")
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "Parameter 'version' must be an integer, got '%s'.", s)
	}
	return v, nil
}

// CanonicalStage returns the stage name in MLflow's spelling for any case
// ("production" -> "Production"). Returns EINVALID for unknown stages.
func CanonicalStage(s string) (string, error) {
	for _, st := range Stages {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", Errorf(EINVALID, "Invalid Model Version stage: %s. Value must be one of %s.", s, strings.Join(Stages, ", "))
}

var modelIDRE = regexp.MustCompile(`^m-[0-9a-f]{32}$`)

// ValidModelID reports whether id has the shape of a logged model id
// ("m-" and 32 lowercase hex digits).
func ValidModelID(id string) bool { return modelIDRE.MatchString(id) }

// ParseLoggedModelStatus accepts a status name (or its enum number, as
// proto JSON may send) and returns its name. Returns EINVALID.
func ParseLoggedModelStatus(s string) (string, error) {
	switch s {
	case LoggedModelStatusUnspecified, "0": // accepted, as MLflow's server does
		return LoggedModelStatusUnspecified, nil
	case LoggedModelPending, "1":
		return LoggedModelPending, nil
	case LoggedModelReady, "2":
		return LoggedModelReady, nil
	case LoggedModelUploadFailed, "3":
		return LoggedModelUploadFailed, nil
	}
	return "", Errorf(EINVALID, "Invalid value '%s' for parameter 'status': expected one of %s, %s, %s", s,
		LoggedModelPending, LoggedModelReady, LoggedModelUploadFailed)
}

// LoggedModelArtifactLocation is where a logged model's files live, under
// the artifact proxy: mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts.
func LoggedModelArtifactLocation(experimentID, modelID string) string {
	return fmt.Sprintf("mlflow-artifacts:/%s/models/%s/artifacts", experimentID, modelID)
}

// NewLoggedModel is the input of CreateLoggedModel.
type NewLoggedModel struct {
	ExperimentID string
	Name         string // empty: a random readable name
	ModelType    string
	SourceRunID  string
	Tags         []Tag
	Params       []Tag
}

// LoggedModelOrder is one order_by entry of SearchLoggedModels. Ordering
// by metrics.<key> uses each model's latest point of the metric (greatest
// timestamp, then step; the smallest run id breaks a tie), from the dataset
// named when DatasetName/DatasetDigest are set; models without one come last.
type LoggedModelOrder struct {
	Field         string
	Ascending     bool
	DatasetName   string
	DatasetDigest string
}

// LoggedModelDataset is one entry of SearchLoggedModels' datasets: a
// dataset name, and its digest if set.
type LoggedModelDataset struct {
	Name, Digest string
}
