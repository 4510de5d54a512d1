package tandem

import (
	"context"
	"encoding/json"
)

// The store interfaces: one per area of a region's metadata store, each
// stating what the packages above sqlstore need of that area. sqlstore
// implements all of them on one database handle (one *sqlstore.Store per
// region, wired in cmd/tandem and region); a consumer takes the interface
// of the area it uses, or a union of them, and its tests still run against
// a real store. Unless its comment says otherwise, a write method goes
// through the journal: it is primary-only, and where this region may not
// write now it fails with the Gate's EUNAVAILABLE.
//
// Packages whose store needs name types above the root declare their own
// union or interface beside their code (mlflowapi.Store with trace
// metrics, serving.Store, jobs.Store, api.Store, transfer.Store with the
// bundle's records), and replication takes *sqlstore.Replica, the journal
// and apply path; no package above sqlstore takes *sqlstore.Store itself.

// VaultStore is the replicated store of the workspace key vault: secret
// versions with their values already encrypted, and the workspace key
// check. Implemented by sqlstore; used by keyvault, which encrypts and
// decrypts (nothing here sees a plaintext value).
type VaultStore interface {
	// SetSecret records a new version of sec.Name holding ciphertext.
	// EINVALID, EINVALIDSTATE when the name is soft-deleted.
	SetSecret(ctx context.Context, sec Secret, ciphertext string) (*Secret, error)
	// ListSecrets lists the newest version of each live secret, or of each
	// soft-deleted one when deleted is true.
	ListSecrets(ctx context.Context, deleted bool) ([]*Secret, error)
	// SecretVersions lists the versions of a live secret, newest first.
	// ENOTFOUND.
	SecretVersions(ctx context.Context, name string) ([]*Secret, error)
	// UpdateSecret enables or disables one version of a live secret.
	// ENOTFOUND.
	UpdateSecret(ctx context.Context, name, version string, enabled bool) (*Secret, error)
	// DeleteSecret soft-deletes (deleted true) or recovers every version of
	// name. ENOTFOUND when there is no secret in the state to change.
	DeleteSecret(ctx context.Context, name string, deleted bool) error
	// PurgeSecret removes a soft-deleted secret for good. ENOTFOUND.
	PurgeSecret(ctx context.Context, name string) error
	// SecretCiphertext returns the current version of name and its
	// ciphertext, for server-side resolution only. ENOTFOUND.
	SecretCiphertext(ctx context.Context, name string) (*Secret, string, error)
	// KeyCheck returns the workspace key check, or nil when none is stored.
	KeyCheck(ctx context.Context) (*KeyCheck, error)
	// SetKeyCheck stores k when no key check is stored, and returns the one
	// stored (an existing one unchanged).
	SetKeyCheck(ctx context.Context, k KeyCheck) (*KeyCheck, error)
	// Changed returns a channel closed at the next commit (a local write or
	// an applied journal entry): a secondary waits on it for the key check
	// to arrive.
	Changed() <-chan struct{}
}

// EndpointStore is the replicated store of online endpoints and their
// deployments (endpoint keys sealed by keyvault). Implemented by sqlstore;
// used by serving (its management API, reconciler and scoring key checks).
type EndpointStore interface {
	// ListEndpoints returns every endpoint, by name (never their keys).
	ListEndpoints(ctx context.Context) ([]*OnlineEndpoint, error)
	// GetEndpoint returns an endpoint (never its keys). ENOTFOUND.
	GetEndpoint(ctx context.Context, name string) (*OnlineEndpoint, error)
	// PutEndpoint creates or replaces an endpoint as mode allows (EEXISTS,
	// ENOTFOUND); newKeys are the sealed keys a new endpoint gets, an
	// existing one keeps its own. Its traffic must name existing
	// deployments (EINVALID). Returns the endpoint as stored.
	// checks run in the write's transaction, on the endpoints and
	// deployments before it and as it leaves them (a quota).
	PutEndpoint(ctx context.Context, ep OnlineEndpoint, newKeys string, mode PutMode, checks ...FleetCheck) (*OnlineEndpoint, error)
	// DeleteEndpoint deletes an endpoint and its deployments. ENOTFOUND.
	DeleteEndpoint(ctx context.Context, name string) error
	// EndpointKeysSealed returns an endpoint's sealed keys, for the code
	// that opens them (scoring checks, get-credentials). ENOTFOUND.
	EndpointKeysSealed(ctx context.Context, name string) (string, error)
	// ReplaceEndpointKeys stores newKeys if the keys are still oldKeys
	// (ECONFLICT otherwise: another regeneration won).
	ReplaceEndpointKeys(ctx context.Context, name, oldKeys, newKeys string) error
	// ListDeployments returns the deployments of endpoint ("": of every
	// endpoint), by endpoint and name. ENOTFOUND for an unknown endpoint.
	ListDeployments(ctx context.Context, endpoint string) ([]*OnlineDeployment, error)
	// GetDeployment returns one deployment. ENOTFOUND.
	GetDeployment(ctx context.Context, endpoint, name string) (*OnlineDeployment, error)
	// PutDeployment creates or replaces a deployment of an existing
	// endpoint as mode allows; its model reference is resolved to a version
	// now (EINVALID when there is none). Returns it as stored.
	// checks as for PutEndpoint.
	PutDeployment(ctx context.Context, d OnlineDeployment, mode PutMode, checks ...FleetCheck) (*OnlineDeployment, error)
	// DeleteDeployment deletes a deployment; one that still receives
	// traffic is ECONFLICT. ENOTFOUND.
	DeleteDeployment(ctx context.Context, endpoint, name string) error
}

// TrackingStore is the replicated store of experiments, runs, their
// metrics, params, tags, inputs and outputs. Implemented by sqlstore; used
// by mlflowapi (the tracking API) and serving (the request log's
// experiment and runs).
type TrackingStore interface {
	// GetExperimentByName returns the experiment of that name, deleted or
	// not. ENOTFOUND.
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)
	// CreateExperiment creates an experiment and returns its id; an empty
	// artifactLocation means mlflow-artifacts:/<id>. EEXISTS, EINVALID.
	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []Tag) (string, error)
	// SearchRuns returns one page of matching runs and the next page token
	// ("" at the end). EINVALID for a bad filter, order or token.
	SearchRuns(ctx context.Context, in SearchRunsInput) ([]*Run, string, error)
	// CreateRunFull creates a run in an active experiment and returns it as
	// a read would. ENOTFOUND, EINVALID.
	CreateRunFull(ctx context.Context, in CreateRunInput) (*Run, error)
	// GetExperiment returns an experiment with its tags, deleted or not
	// (ENOTFOUND when unknown).
	GetExperiment(ctx context.Context, id string) (*Experiment, error)
	// GetRun returns a run with its latest metrics, params, tags, inputs and
	// outputs (ENOTFOUND when unknown).
	GetRun(ctx context.Context, runID string) (*Run, error)
	// MetricHistory returns a page of a metric's history ordered by (step,
	// timestamp, value), and the token of the next page ("" at the end).
	// maxResults <= 0 means everything from the token on, as MLflow's server
	// does when the client names no max_results. An unknown run has an empty
	// history, as in MLflow's SQL store.
	MetricHistory(ctx context.Context, runID, key string, maxResults int, token string) ([]Metric, string, error)
	// MetricHistoryBulkInterval samples up to maxResults points per run of a
	// metric, evenly over the points in [startStep, endStep] (all steps when
	// both are nil), keeping the first and last; as MLflow's SQL store.
	// Unknown run ids contribute nothing.
	MetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, maxResults int, startStep, endStep *int64) ([]MetricWithRun, error)
	// RunExperiment returns the id of a run's experiment, deleted or not
	// (the scope of per-experiment role assignments). ENOTFOUND.
	RunExperiment(ctx context.Context, runID string) (string, error)
	// DeleteExperiment marks an active experiment and all its runs deleted
	// (ENOTFOUND when unknown or already deleted, as MLflow).
	DeleteExperiment(ctx context.Context, id string) error
	// DeleteExperimentTag removes a tag of an active experiment (ENOTFOUND
	// when the tag does not exist).
	DeleteExperimentTag(ctx context.Context, id, key string) error
	// DeleteRun marks a run deleted (ENOTFOUND when unknown).
	DeleteRun(ctx context.Context, runID string) error
	// DeleteTag removes a tag of an active run (ENOTFOUND when absent).
	DeleteTag(ctx context.Context, runID, key string) error
	// EnsureDefaultExperiment creates experiment "0" named "Default" with
	// artifact location mlflow-artifacts:/0 unless it exists. Called at
	// start; idempotent. A region that may not write now (a secondary: the
	// gate says EUNAVAILABLE) does nothing: it receives the experiment
	// through the primary's journal.
	EnsureDefaultExperiment(ctx context.Context) error
	// LogBatch logs metrics (appended), params (immutable: the same value
	// again is accepted, a different one is EINVALID) and tags (last write
	// wins) to an active run, all or nothing.
	LogBatch(ctx context.Context, runID string, metrics []Metric, params []Param, tags []Tag) error
	// LogInputs records datasets (stored once per experiment by name and
	// digest) and logged models a run used.
	LogInputs(ctx context.Context, runID string, datasets []DatasetInput, models []ModelIO) error
	// LogModel appends a model's JSON description to the run's mlflow.log-
	// model.history tag, as MLflow's record_logged_model does.
	LogModel(ctx context.Context, runID, modelJSON string) error
	// LogOutputs records logged models a run produced.
	LogOutputs(ctx context.Context, runID string, models []ModelIO) error
	// RenameExperiment renames an active experiment (EINVALIDSTATE when
	// deleted, EEXISTS when the name is taken).
	RenameExperiment(ctx context.Context, id, newName string) error
	// RestoreExperiment restores a deleted experiment and its runs
	// (ENOTFOUND when unknown or not deleted, as MLflow).
	RestoreExperiment(ctx context.Context, id string) error
	// RestoreRun marks a deleted run active again (ENOTFOUND when unknown).
	RestoreRun(ctx context.Context, runID string) error
	// SetExperimentTag sets a tag on an active experiment.
	SetExperimentTag(ctx context.Context, id, key, value string) error
	// UpdateRun changes an active run's status, end time and name; nil
	// fields are left as they are.
	UpdateRun(ctx context.Context, runID string, status *string, endTime *int64, name *string) error
	// SearchExperiments returns one page of experiments matching the filter
	// and the next page token ("" at the end). Bad input is EINVALID.
	SearchExperiments(ctx context.Context, in SearchExperimentsInput) ([]*Experiment, string, error)
	// SearchDatasetSummaries lists the distinct (experiment, dataset,
	// context) triples of the given experiments, at most limit of them.
	SearchDatasetSummaries(ctx context.Context, experimentIDs []string, limit int) ([]DatasetSummary, error)
}

// RegistryStore is the replicated model registry (registered models,
// versions, aliases) and MLflow 3's logged models. Implemented by sqlstore;
// used by mlflowapi and serving (where a deployment's model files are).
type RegistryStore interface {
	// GetModelVersionDownloadURI is where a model version's files are: the
	// logged model's artifact location for a "models:/m-..." source, the
	// source otherwise. ENOTFOUND.
	GetModelVersionDownloadURI(ctx context.Context, name string, version int64) (string, error)
	// CreateLoggedModel creates a PENDING logged model in an active
	// experiment, with its artifact location under the artifact proxy. Like
	// MLflow it does not check that source_run_id exists. ENOTFOUND
	// (experiment), EINVALIDSTATE (deleted experiment), EINVALID.
	CreateLoggedModel(ctx context.Context, in NewLoggedModel) (LoggedModel, error)
	// CreateModelVersion adds the next version of a registered model. The
	// version number is max(existing, including deleted) + 1, chosen inside
	// the write transaction, so concurrent creates never share a number. A
	// source "models:/<model_id>" resolves to the logged model's artifact
	// location and run, and records the version on the logged model's
	// mlflow.modelVersions tag (one journal entry for both). As MLflow's
	// server does, it checks that the source lies inside the logged model
	// (model_id given) or the run (runs:/ and mlflow-artifacts: sources),
	// but not that a run_id given with another source exists (it may live on
	// another tracking server). ENOTFOUND (model, version, logged model),
	// EINVALID (bad source or input).
	CreateModelVersion(ctx context.Context, in NewModelVersion) (ModelVersion, error)
	// CreateRegisteredModel creates a registered model. EINVALID for a bad
	// name, tag or description; EEXISTS when the name is taken.
	CreateRegisteredModel(ctx context.Context, name, description string, tags []Tag) (RegisteredModel, error)
	// DeleteLoggedModel marks a logged model deleted (its files stay, as in
	// MLflow). Deleting a deleted model succeeds, as in MLflow. ENOTFOUND.
	DeleteLoggedModel(ctx context.Context, id string) error
	// DeleteLoggedModelTag removes a tag of a logged model. ENOTFOUND (model
	// or tag, as MLflow reports), EINVALID.
	DeleteLoggedModelTag(ctx context.Context, id, key string) error
	// DeleteModelVersion deletes a version (its number is never reused) and
	// the aliases pointing at it. ENOTFOUND.
	DeleteModelVersion(ctx context.Context, name string, version int64) error
	// DeleteModelVersionTag removes a version tag; a missing tag is not an
	// error. ENOTFOUND, EINVALID.
	DeleteModelVersionTag(ctx context.Context, name string, version int64, key string) error
	// DeleteRegisteredModel deletes a model with its versions, tags and
	// aliases. ENOTFOUND, EINVALID.
	DeleteRegisteredModel(ctx context.Context, name string) error
	// DeleteRegisteredModelAlias removes an alias; a missing alias is not an
	// error (as in MLflow). ENOTFOUND for a missing model.
	DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error
	// DeleteRegisteredModelTag removes a tag; a missing tag is not an error
	// (as in MLflow). ENOTFOUND for a missing model, EINVALID.
	DeleteRegisteredModelTag(ctx context.Context, name, key string) error
	// FinalizeLoggedModel sets a logged model's final status (READY or
	// UPLOAD_FAILED). ENOTFOUND, EINVALID.
	FinalizeLoggedModel(ctx context.Context, id, status string) (LoggedModel, error)
	// LogLoggedModelParams records parameters of a logged model. ENOTFOUND,
	// EINVALID.
	LogLoggedModelParams(ctx context.Context, id string, params []Tag) error
	// RenameRegisteredModel renames a model and moves its versions, tags and
	// aliases with it. ENOTFOUND, EEXISTS (new name taken), EINVALID.
	RenameRegisteredModel(ctx context.Context, name, newName string) (RegisteredModel, error)
	// SetLoggedModelTags sets (or replaces) tags of a logged model.
	// ENOTFOUND, EINVALID.
	SetLoggedModelTags(ctx context.Context, id string, tags []Tag) error
	// SetModelVersionTag sets (or replaces) a version tag. ENOTFOUND,
	// EINVALID.
	SetModelVersionTag(ctx context.Context, name string, version int64, key, value string) error
	// SetRegisteredModelAlias points alias at a version (moving it if it
	// pointed elsewhere). ENOTFOUND for a missing model or version, EINVALID
	// for a reserved or malformed alias.
	SetRegisteredModelAlias(ctx context.Context, name, alias string, version int64) error
	// SetRegisteredModelTag sets (or replaces) a tag. ENOTFOUND, EINVALID.
	SetRegisteredModelTag(ctx context.Context, name, key, value string) error
	// TransitionModelVersionStage moves a version to a stage; with archive,
	// the other versions in that (Staging or Production) stage move to
	// Archived. ENOTFOUND, EINVALID (unknown stage, archive into an inactive
	// stage).
	TransitionModelVersionStage(ctx context.Context, name string, version int64, stage string, archive bool) (ModelVersion, error)
	// UpdateModelVersion sets a version's description (nil leaves it).
	// ENOTFOUND, EINVALID.
	UpdateModelVersion(ctx context.Context, name string, version int64, description *string) (ModelVersion, error)
	// UpdateRegisteredModel sets a model's description (nil leaves it).
	// ENOTFOUND, EINVALID.
	UpdateRegisteredModel(ctx context.Context, name string, description *string) (RegisteredModel, error)
	// GetLatestVersions returns the newest version in each stage (or in each
	// of the given stages). ENOTFOUND, EINVALID for an unknown stage.
	GetLatestVersions(ctx context.Context, name string, stages []string) ([]ModelVersion, error)
	// GetLoggedModel returns a logged model with its tags and params.
	// ENOTFOUND (also for a deleted one unless allowDeleted).
	GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (LoggedModel, error)
	// GetModelVersion returns a version with its tags and aliases.
	// ENOTFOUND.
	GetModelVersion(ctx context.Context, name string, version int64) (ModelVersion, error)
	// GetModelVersionByAlias resolves name@alias. ENOTFOUND for a missing
	// model; EINVALID for a missing alias (MLflow's code for it).
	GetModelVersionByAlias(ctx context.Context, name, alias string) (ModelVersion, error)
	// GetRegisteredModel returns a model with its tags, aliases and latest
	// version per stage. ENOTFOUND.
	GetRegisteredModel(ctx context.Context, name string) (RegisteredModel, error)
	// SearchLoggedModels finds active logged models of the given
	// experiments. filter: attributes name, model_id, model_type, status,
	// source_run_id (strings), creation_time / creation_timestamp,
	// last_updated_timestamp (numbers), params.<key>, tags.<key>,
	// metrics.<key> (a model matches when any point of the metric it was
	// logged with satisfies the comparison, on one of datasets when they are
	// given). datasets without a metric condition keep the models with a
	// metric on one of them. max 0 means 100; pages hold at most 10000.
	SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string, datasets []LoggedModelDataset, orderBy []LoggedModelOrder, max int64, pageToken string) ([]LoggedModel, string, error)
	// SearchModelVersions finds model versions. filter: name, run_id (also
	// IN / NOT IN), source_path, version_number (numeric), tags.<key>;
	// orderBy: name, version_number, creation_timestamp,
	// last_updated_timestamp (default last_updated_timestamp DESC, name ASC,
	// version DESC, as MLflow). max 0 means 10000 (limit 200000).
	SearchModelVersions(ctx context.Context, filter string, max int64, orderBy []string, pageToken string) ([]ModelVersion, string, error)
	// SearchRegisteredModels finds registered models. filter: name and
	// tags.<key> with =, !=, LIKE, ILIKE; orderBy: name, timestamp /
	// last_updated_timestamp, creation_timestamp. max 0 means 100 (limit
	// 1000). EINVALID for a bad filter, order or token.
	SearchRegisteredModels(ctx context.Context, filter string, max int64, orderBy []string, pageToken string) ([]RegisteredModel, string, error)
}

// ArtifactIndex is the replicated index of artifact files: one record per
// file whose bytes are already in the artifact store (blobstore), written
// after the bytes. Implemented by sqlstore; used by mlflowapi (the
// artifact API) and serving (model files and request logs).
type ArtifactIndex interface {
	// PutArtifact records a published file; its journal entry names the
	// bytes so replication ships them. EINVALID when a.Path is a directory
	// or lies under a file.
	PutArtifact(ctx context.Context, a Artifact) (Entry, error)
	// ArtifactsUnder returns the records of every file at or under p (""
	// is every file), sorted by path.
	ArtifactsUnder(ctx context.Context, p string) ([]Artifact, error)
	// CheckWritable asks the write gate whether this region accepts writes
	// now (EUNAVAILABLE when it does not). The artifact proxy calls it
	// before it writes any bytes, so that a secondary never overwrites the
	// replicated bytes of an artifact with an upload it is going to refuse.
	// Mutate checks the gate again at commit.
	CheckWritable(ctx context.Context) error
	// DeleteArtifacts removes the record of the file at p, or of every file
	// under the directory p (p == "" means everything). It returns the
	// journal entry and the paths of the removed files, whose bytes the
	// caller deletes from storage after the commit (they are invisible from
	// that moment). When nothing matches it returns ENOTFOUND and writes
	// nothing.
	DeleteArtifacts(ctx context.Context, p string) (Entry, []string, error)
	// GetArtifact returns the record of the file at p; ENOTFOUND when there
	// is none (p may still be a directory: see IsArtifactDir).
	GetArtifact(ctx context.Context, p string) (Artifact, error)
	// IsArtifactDir reports whether p is a directory holding at least one
	// artifact. The root ("") always is.
	IsArtifactDir(ctx context.Context, p string) (bool, error)
	// ListArtifactDir lists one level of the directory dir ("" is the root):
	// its files with their sizes and its subdirectories, sorted by name. A
	// directory that does not exist (or a file) lists as empty, as MLflow's
	// artifact repositories do.
	ListArtifactDir(ctx context.Context, dir string) ([]ArtifactEntry, error)
	// RunArtifactURI returns the artifact URI of run id (ENOTFOUND in
	// MLflow's words when there is no such run, deleted runs included).
	RunArtifactURI(ctx context.Context, id string) (string, error)
}

// TraceStore is the replicated store of MLflow traces: their infos, tags,
// spans, assessments and links to runs and prompts. Implemented by
// sqlstore; used by mlflowapi (the v2 and v3 trace APIs and OTLP ingest),
// which also asks sqlstore for trace metrics (their query types are
// package tracemetrics', above this one).
type TraceStore interface {
	// CreateAssessment records a new assessment on a trace; one that
	// overrides another marks the other invalid, as MLflow does.
	CreateAssessment(ctx context.Context, a Assessment, overrides string) (*Assessment, error)
	// DeleteAssessment deletes an assessment; an assessment it overrode is
	// valid again.
	DeleteAssessment(ctx context.Context, traceID, id string) error
	// DeleteTraceTag removes a trace's tag (ENOTFOUND when the trace or the
	// tag does not exist).
	DeleteTraceTag(ctx context.Context, traceID, key string) error
	// DeleteTraces deletes traces of an experiment: those named (ids), or
	// the oldest up to maxTraces whose request time is at most
	// maxTimestampMs. Exactly one of the two ways must be given, as MLflow
	// requires. Returns how many were deleted.
	DeleteTraces(ctx context.Context, experimentID string, maxTimestampMs int64, maxTraces int, ids []string) (int, error)
	// EndTraceV2 closes a trace opened by StartTraceV2 (MLflow 2's
	// EndTrace): its state, its duration from its start and more metadata
	// and tags.
	EndTraceV2(ctx context.Context, traceID string, timestampMs int64, state string, metadata, tags map[string]string) (*TraceInfo, error)
	// LinkPromptsToTrace links prompt versions ("NAME/VERSION") to an
	// existing trace; links it has already are kept once. The prompts are
	// not looked up, as on MLflow's server: a link names a version by its
	// name.
	LinkPromptsToTrace(ctx context.Context, traceID string, prompts []string) error
	// LinkTracesToRun links existing traces to a run (MLflow's limit: 100).
	LinkTracesToRun(ctx context.Context, ids []string, runID string) error
	// LogSpans records spans (from OTLP) in experimentID, creating the
	// record of any trace they belong to that has none yet, and marks each
	// trace's spans as served by the tracking store.
	LogSpans(ctx context.Context, experimentID string, spans []Span) error
	// SetTraceTag sets a tag on a trace (ENOTFOUND when it does not exist).
	SetTraceTag(ctx context.Context, traceID, key, value string) error
	// StartTrace records a finished trace's record (MLflow's StartTraceV3,
	// called at the end of a trace), merging with what spans that came first
	// already recorded. The experiment must exist and be active. Returns the
	// stored record.
	StartTrace(ctx context.Context, in TraceInfo) (*TraceInfo, error)
	// StartTraceV2 opens a trace with a server-chosen id in state
	// IN_PROGRESS (MLflow 2's StartTrace).
	StartTraceV2(ctx context.Context, experimentID string, timestampMs int64, metadata, tags map[string]string) (*TraceInfo, error)
	// UpdateAssessment replaces the fields of an assessment named in fields
	// (JSON values by proto field name) and stamps its update time.
	UpdateAssessment(ctx context.Context, traceID, id string, fields map[string]any) (*Assessment, error)
	// BatchTraceInfos returns the records of the traces named that exist, in
	// the order asked.
	BatchTraceInfos(ctx context.Context, ids []string) ([]*TraceInfo, error)
	// GetAssessment returns one assessment of a trace (ENOTFOUND).
	GetAssessment(ctx context.Context, traceID, id string) (*Assessment, error)
	// GetTraceInfo returns a trace's record with its tags, metadata and
	// assessments (ENOTFOUND when there is none).
	GetTraceInfo(ctx context.Context, id string) (*TraceInfo, error)
	// SearchTraces finds traces of the experiments named with MLflow's trace
	// filter grammar (package tracefilter), newest first unless orderBy says
	// otherwise. Returns a page and the next page's token ("" at the end).
	// A page's traces may come with their Listing instead of their maps
	// (TraceInfo.Decode fills those).
	SearchTraces(ctx context.Context, experimentIDs []string, filter string, maxResults int, orderBy []string, token string) ([]*TraceInfo, string, error)
	// TraceSpans returns the spans of the traces named, by trace, in start
	// order.
	TraceSpans(ctx context.Context, ids []string) (map[string][]Span, error)
	// CorrelateTraceFilters counts the traces matching each filter, both,
	// and the base filter (all traces when empty), and their NPMI.
	CorrelateTraceFilters(ctx context.Context, experimentIDs []string, filter1, filter2, base string) (TraceCorrelation, error)
}

// GenAIStore is the replicated store of MLflow 3's GenAI objects:
// evaluation datasets and their records, registered scorers and issues.
// Implemented by sqlstore; used by mlflowapi.
type GenAIStore interface {
	// CreateEvaluationDataset creates a dataset with a server-chosen id
	// ("d-<hex>"), its tags and its links to existing experiments (ENOTFOUND
	// for one that does not exist). The mlflow.user tag names its creator.
	CreateEvaluationDataset(ctx context.Context, name string, tags map[string]string, experimentIDs []string) (*EvaluationDataset, error)
	// DatasetExperimentIDs lists the experiments a dataset is linked to.
	DatasetExperimentIDs(ctx context.Context, datasetID string) ([]string, error)
	// DatasetRecords returns a page of a dataset's records in (created_time,
	// record id) order and the next page's token ("" on the last page). The
	// token is MLflow's: base64 of "created_time:record_id". A dataset that
	// does not exist has no records.
	DatasetRecords(ctx context.Context, datasetID string, maxResults int, pageToken string) ([]DatasetRecord, string, error)
	// DeleteDatasetRecords deletes records of a dataset by id and returns
	// how many it deleted (ENOTFOUND when the dataset does not exist).
	DeleteDatasetRecords(ctx context.Context, datasetID string, ids []string) (int, error)
	// DeleteEvaluationDataset deletes a dataset with its records, tags and
	// links. Deleting one that does not exist changes nothing and succeeds,
	// as MLflow's does.
	DeleteEvaluationDataset(ctx context.Context, id string) error
	// DeleteEvaluationDatasetTag deletes one tag; a dataset or tag that does
	// not exist changes nothing and succeeds, as MLflow's does.
	DeleteEvaluationDatasetTag(ctx context.Context, id, key string) error
	// GetEvaluationDataset returns a dataset with its tags and experiments
	// (ENOTFOUND when there is none).
	GetEvaluationDataset(ctx context.Context, id string) (*EvaluationDataset, error)
	// LinkEvaluationDataset adds a dataset to experiments and removes it
	// from others, idempotently; the experiments added must exist
	// (ENOTFOUND), the dataset too. Returns the dataset.
	LinkEvaluationDataset(ctx context.Context, id string, add, remove []string) (*EvaluationDataset, error)
	// SearchEvaluationDatasets returns a page of datasets and the next
	// page's token ("" on the last page). Filters: name, created_by,
	// last_updated_by (= != LIKE ILIKE, and name IN), created_time and
	// last_update_time (numeric comparisons) and tags.<key> (= != LIKE
	// ILIKE), AND-ed. Order: name, created_time, last_update_time (default
	// created_time DESC), ties broken by dataset_id DESC.
	SearchEvaluationDatasets(ctx context.Context, in DatasetSearch) ([]*EvaluationDataset, string, error)
	// SetEvaluationDatasetTags merges tags into a dataset's (ENOTFOUND when
	// it does not exist). Tags is the client's JSON object: null values are
	// skipped, non-string values kept as Python's str() writes them.
	SetEvaluationDatasetTags(ctx context.Context, id string, tags map[string]json.RawMessage) error
	// UpsertDatasetRecords merges records into a dataset (ENOTFOUND when it
	// does not exist), as MLflow does: a record whose inputs equal an
	// existing record's updates it (outputs replaced when given,
	// expectations and tags merged key by key), any other is inserted with a
	// server-chosen id ("dr-<hex>"). The dataset's schema, profile, digest
	// and update time follow.
	UpsertDatasetRecords(ctx context.Context, datasetID string, records []RecordInput) (UpsertResult, error)
	// DeleteScorer deletes one version of a scorer, or every version and the
	// scorer itself when version is 0 (ENOTFOUND when there is none).
	DeleteScorer(ctx context.Context, experimentID, name string, version int64) error
	// GetScorer returns one version of a scorer, the latest when version is
	// 0 (ENOTFOUND when there is none).
	GetScorer(ctx context.Context, experimentID, name string, version int64) (*ScorerVersion, error)
	// ListScorerVersions returns every version of one scorer, oldest first
	// (ENOTFOUND when the experiment or the scorer does not exist).
	ListScorerVersions(ctx context.Context, experimentID, name string) ([]ScorerVersion, error)
	// ListScorers returns the latest version of every scorer of the given
	// experiments that are active, or of every active experiment when ids is
	// nil, ordered by experiment and name.
	ListScorers(ctx context.Context, experimentIDs []string) ([]ScorerVersion, error)
	// RegisterScorer registers a new version of an experiment's scorer (the
	// first is 1) and returns it. The experiment must exist and be active;
	// the serialized scorer must be JSON (it is kept as sent and never run).
	RegisterScorer(ctx context.Context, experimentID, name, serialized string) (*ScorerVersion, error)
	// CreateIssue creates an issue in an active experiment (status pending
	// when none is given) and returns it with its id ("iss-" and 32 hex
	// digits) and times.
	CreateIssue(ctx context.Context, is Issue) (*Issue, error)
	// GetIssue returns an issue (ENOTFOUND when there is none).
	GetIssue(ctx context.Context, id string) (*Issue, error)
	// SearchIssues lists issues as MLflow orders them: by severity, highest
	// first (none last), then by the traces they affect when counted, then
	// newest first.
	SearchIssues(ctx context.Context, in IssueSearch) ([]Issue, string, error)
	// UpdateIssue changes an issue's status, name, description or severity
	// and its last update time.
	UpdateIssue(ctx context.Context, id string, u IssueUpdate) (*Issue, error)
}

// WebhookStore is the replicated store of registry webhooks (their
// secrets sealed by the caller). Implemented by sqlstore; used by mlflowapi
// and, for WebhooksForEvent, by webhook's deliveries.
type WebhookStore interface {
	// CreateWebhook stores a new webhook (its name, URL and events already
	// checked by the caller, its secret already sealed) and returns it with
	// its id and times.
	CreateWebhook(ctx context.Context, w Webhook) (*Webhook, error)
	// DeleteWebhook deletes a webhook (ENOTFOUND when there is none).
	DeleteWebhook(ctx context.Context, id string) error
	// GetWebhook returns one webhook (ENOTFOUND when there is none).
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	// ListWebhooks returns a page of webhooks, newest first, as MLflow pages
	// them (max 1 to 1000, default 100; tokens are offsets).
	ListWebhooks(ctx context.Context, max int, token string) ([]Webhook, string, error)
	// UpdateWebhook changes a webhook and returns it (ENOTFOUND when there
	// is none). Its last update time is set even when nothing changed, as
	// MLflow's is.
	UpdateWebhook(ctx context.Context, id string, u WebhookUpdate) (*Webhook, error)
	// WebhooksForEvent returns every webhook subscribed to an event, active
	// or not, newest first.
	WebhooksForEvent(ctx context.Context, e WebhookEvent) ([]Webhook, error)
}

// GatewayStore is the replicated configuration of MLflow's AI gateway:
// secrets (sealed by the caller), model definitions, endpoints and their
// bindings. Implemented by sqlstore; used by mlflowapi.
type GatewayStore interface {
	// AttachGatewayModel attaches a model definition to an endpoint (EEXISTS
	// when it is attached with that linkage type already).
	AttachGatewayModel(ctx context.Context, endpointID string, c GatewayModelConfig, by string) (*GatewayModelMapping, error)
	// CreateGatewayBinding binds an endpoint to a resource (EEXISTS when it
	// is bound to it already).
	CreateGatewayBinding(ctx context.Context, b GatewayBinding) (*GatewayBinding, error)
	// CreateGatewayEndpoint creates an endpoint on existing model
	// definitions (at least one), with its id ("e-" and 32 hex digits).
	CreateGatewayEndpoint(ctx context.Context, in GatewayEndpointInput) (*GatewayEndpoint, error)
	// CreateGatewayModelDefinition creates a model definition on an existing
	// secret, with its id ("d-" and 32 hex digits). EEXISTS for a taken
	// name.
	CreateGatewayModelDefinition(ctx context.Context, d GatewayModelDefinition) (*GatewayModelDefinition, error)
	// CreateGatewaySecret stores a gateway secret whose values the caller
	// has checked, sealed (sealed) and masked (g.MaskedValues). It returns
	// the secret's metadata with its id ("s-" and 32 hex digits). EEXISTS
	// when the name is taken.
	CreateGatewaySecret(ctx context.Context, g GatewaySecret, sealed string) (*GatewaySecret, error)
	// DeleteGatewayBinding removes a binding (ENOTFOUND).
	DeleteGatewayBinding(ctx context.Context, endpointID, resourceType, resourceID string) error
	// DeleteGatewayEndpoint deletes an endpoint with its mappings, tags and
	// bindings (ENOTFOUND).
	DeleteGatewayEndpoint(ctx context.Context, id string) error
	// DeleteGatewayEndpointTag removes one tag of an endpoint (none is
	// fine).
	DeleteGatewayEndpointTag(ctx context.Context, endpointID, key string) error
	// DeleteGatewayModelDefinition deletes a model definition no endpoint
	// uses (ENOTFOUND; EINVALIDSTATE while an endpoint has it).
	DeleteGatewayModelDefinition(ctx context.Context, id string) error
	// DeleteGatewaySecret deletes a secret for good; the model definitions
	// that used it are left without one (ENOTFOUND).
	DeleteGatewaySecret(ctx context.Context, id string) error
	// DetachGatewayModel removes the first attachment of a model definition
	// from an endpoint (ENOTFOUND for the endpoint, or when it is not
	// attached).
	DetachGatewayModel(ctx context.Context, endpointID, modelDefinitionID string) error
	// GetGatewayEndpoint returns an endpoint by id, or by name when id is ""
	// (ENOTFOUND).
	GetGatewayEndpoint(ctx context.Context, id, name string) (*GatewayEndpoint, error)
	// GetGatewayModelDefinition returns a model definition (ENOTFOUND).
	GetGatewayModelDefinition(ctx context.Context, id string) (*GatewayModelDefinition, error)
	// GetGatewaySecret returns a secret's metadata by id (ENOTFOUND).
	GetGatewaySecret(ctx context.Context, id string) (*GatewaySecret, error)
	// ListGatewayBindings lists bindings, filtered by what is not "".
	ListGatewayBindings(ctx context.Context, endpointID, resourceType, resourceID string) ([]GatewayBinding, error)
	// ListGatewayEndpoints lists endpoints, only those with a model of one
	// provider and/or on one secret when those are not "".
	ListGatewayEndpoints(ctx context.Context, provider, secretID string) ([]GatewayEndpoint, error)
	// ListGatewayModelDefinitions lists model definitions, of one provider
	// and/or on one secret when those are not "".
	ListGatewayModelDefinitions(ctx context.Context, provider, secretID string) ([]GatewayModelDefinition, error)
	// ListGatewaySecrets lists the secrets' metadata (of one provider when
	// provider is not ""), oldest first.
	ListGatewaySecrets(ctx context.Context, provider string) ([]GatewaySecret, error)
	// SetGatewayEndpointTag sets one tag of an endpoint.
	SetGatewayEndpointTag(ctx context.Context, endpointID, key, value string) error
	// UpdateGatewayEndpoint changes an endpoint (ENOTFOUND).
	UpdateGatewayEndpoint(ctx context.Context, id string, u GatewayEndpointUpdate) (*GatewayEndpoint, error)
	// UpdateGatewayModelDefinition changes a model definition (ENOTFOUND for
	// it or a new secret, EEXISTS for a taken name).
	UpdateGatewayModelDefinition(ctx context.Context, id string, u GatewayModelUpdate) (*GatewayModelDefinition, error)
	// UpdateGatewaySecret rotates a secret's values or changes its auth
	// configuration (ENOTFOUND).
	UpdateGatewaySecret(ctx context.Context, id string, u GatewaySecretUpdate) (*GatewaySecret, error)
}

// JournalStore is the region's journal as its readers see it. Implemented
// by sqlstore; used by leader (through FailoverStore).
type JournalStore interface {
	// Head returns the position of the last committed entry.
	Head(ctx context.Context) (Position, error)
	// ReadJournal returns up to limit entries after seq after, in order.
	ReadJournal(ctx context.Context, after int64, limit int) ([]Entry, error)
	// OnCommit registers fn to be called after every committed entry
	// (primary writes and applied entries alike), in commit order.
	OnCommit(fn func(Entry))
}

// FailoverStore is what running failover needs of a region's store: the
// journal, the write gate, the replicated record of changes of primary,
// and the region's own (not replicated) failover state and divergence
// reports. Implemented by sqlstore; used by leader.
type FailoverStore interface {
	JournalStore
	// SetGate replaces the write gate that every write transaction asks.
	SetGate(g Gate)
	// LockedHead reads the journal head under the journal lock: every
	// write that passed the gate before it closed has committed by then.
	LockedHead(ctx context.Context) (Position, error)
	// JournalPositions lists the positions of up to limit entries after
	// seq after, in order.
	JournalPositions(ctx context.Context, after int64, limit int) ([]Position, error)
	// RecordEpoch commits rec as the OpEpoch entry of its epoch.
	RecordEpoch(ctx context.Context, rec EpochRecord) (Entry, error)
	// Epochs lists the recorded changes of primary, oldest first.
	Epochs(ctx context.Context) ([]EpochRecord, error)
	// Replay commits an entry's op, key and payload again as a new entry.
	Replay(ctx context.Context, e Entry) (Entry, error)
	// FailoverState returns the region's own value of key and whether it
	// has one. Local, never journalled (as the two below).
	FailoverState(ctx context.Context, key string) (string, bool, error)
	// SetFailoverState stores every key and value of kv, replacing.
	SetFailoverState(ctx context.Context, kv map[string]string) error
	// AddFailoverState stores key = value unless key has a value.
	AddFailoverState(ctx context.Context, key, value string) error
	// KeepDivergence stores a divergence report and rewinds the region to
	// an empty journal (to bootstrap again), in one local transaction.
	KeepDivergence(ctx context.Context, id string, body []byte) error
	// DivergenceReports returns the stored reports' bodies, oldest first;
	// only the one of id when id is not "".
	DivergenceReports(ctx context.Context, id string) ([][]byte, error)
}
