package api

import (
	"context"

	"github.com/tandemml/tandem"
)

// Store is what the API needs of its region's store (sqlstore implements
// it): the assets with their files and secrets, the model registry for
// model assets, the runs of jobs, the artifact index, the workspace-wide
// settings, drill records, and the key vault's rows.
type Store interface {
	tandem.VaultStore
	tandem.ArtifactIndex
	// CheckWritable fails (EUNAVAILABLE) unless this region takes writes.
	CheckWritable(ctx context.Context) error
	ListArtifactDir(ctx context.Context, dir string) ([]tandem.ArtifactEntry, error)

	CreateAsset(ctx context.Context, a *tandem.Asset, secret string, blobs []tandem.BlobRef) (*tandem.Asset, error)
	GetAsset(ctx context.Context, kind tandem.AssetKind, name, version string) (*tandem.Asset, error)
	ListAssets(ctx context.Context, kind tandem.AssetKind, name string, includeArchived bool) ([]*tandem.Asset, error)
	UpdateAsset(ctx context.Context, kind tandem.AssetKind, name, version string, description *string, tags map[string]string) (*tandem.Asset, error)
	ArchiveAsset(ctx context.Context, kind tandem.AssetKind, name, version string, archived bool) error
	AssetSecret(ctx context.Context, kind tandem.AssetKind, name string) (string, error)

	CreateRegisteredModel(ctx context.Context, name, description string, tags []tandem.Tag) (tandem.RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, name string) (tandem.RegisteredModel, error)
	CreateModelVersion(ctx context.Context, in tandem.NewModelVersion) (tandem.ModelVersion, error)
	CreateAssetModelVersion(ctx context.Context, name string, want int64, source, description string, tags []tandem.Tag) (tandem.ModelVersion, error)
	GetModelVersion(ctx context.Context, name string, version int64) (tandem.ModelVersion, error)
	NextModelVersion(ctx context.Context, name string) (int64, error)
	UpdateModelVersion(ctx context.Context, name string, version int64, description *string) (tandem.ModelVersion, error)
	TransitionModelVersionStage(ctx context.Context, name string, version int64, stage string, archive bool) (tandem.ModelVersion, error)
	SetModelVersionTag(ctx context.Context, name string, version int64, key, value string) error
	DeleteModelVersionTag(ctx context.Context, name string, version int64, key string) error
	ModelAssetLatest(ctx context.Context, includeArchived bool) (map[string]int64, []string, error)
	ModelAssetVersions(ctx context.Context, name string, includeArchived bool) ([]int64, error)
	ModelFiles(ctx context.Context, location string) (root string, files []tandem.Artifact, ok bool, err error)

	CreateExperiment(ctx context.Context, name, artifactLocation string, tags []tandem.Tag) (string, error)
	GetExperimentByName(ctx context.Context, name string) (*tandem.Experiment, error)
	CreateRun(ctx context.Context, in tandem.CreateRunInput) (string, error)
	GetRun(ctx context.Context, runID string) (*tandem.Run, error)
	UpdateRun(ctx context.Context, runID string, status *string, endTime *int64, name *string) error

	JobSettings(ctx context.Context) (*tandem.JobSettings, error)
	PutJobSettings(ctx context.Context, js tandem.JobSettings) error
	DeleteJobSettings(ctx context.Context) error
	QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error)
	PutQuotaSettings(ctx context.Context, q tandem.QuotaSettings) error
	DeleteQuotaSettings(ctx context.Context) error

	Drills(ctx context.Context, limit int) ([]tandem.DrillRecord, error)
	RecordDrill(ctx context.Context, d tandem.DrillRecord, by string) (*tandem.DrillRecord, error)
}

// JobStore is the replicated store of jobs and of the region's compute
// targets, as the API uses it (sqlstore.JobStore).
type JobStore interface {
	tandem.Jobs
	CreateJobWithFiles(ctx context.Context, j *tandem.Job, blobs []tandem.BlobRef) (*tandem.Job, error)
	ActiveJobs(ctx context.Context) ([]*tandem.Job, error)
	PutCompute(ctx context.Context, c *tandem.ComputeTarget) error
	DeleteCompute(ctx context.Context, name string) error
}
