package jobs

import (
	"context"

	"github.com/tandemml/tandem"
)

// Store is what a Runner needs of its region's store (sqlstore implements
// it): the assets a job names and those its outputs register, the run of
// each job, the model registry its mlflow_model outputs register into,
// and the artifact index its files are recorded in.
type Store interface {
	tandem.ArtifactIndex
	// GetArtifact returns the record of the file at p (ENOTFOUND).
	GetArtifact(ctx context.Context, p string) (tandem.Artifact, error)
	// ListArtifactDir lists the children of an artifact directory.
	ListArtifactDir(ctx context.Context, dir string) ([]tandem.ArtifactEntry, error)

	GetAsset(ctx context.Context, kind tandem.AssetKind, name, version string) (*tandem.Asset, error)
	ListAssets(ctx context.Context, kind tandem.AssetKind, name string, includeArchived bool) ([]*tandem.Asset, error)
	CreateAsset(ctx context.Context, a *tandem.Asset, secret string, blobs []tandem.BlobRef) (*tandem.Asset, error)

	CreateRun(ctx context.Context, in tandem.CreateRunInput) (string, error)
	GetRun(ctx context.Context, runID string) (*tandem.Run, error)
	UpdateRun(ctx context.Context, runID string, status *string, endTime *int64, name *string) error

	GetRegisteredModel(ctx context.Context, name string) (tandem.RegisteredModel, error)
	CreateRegisteredModel(ctx context.Context, name, description string, tags []tandem.Tag) (tandem.RegisteredModel, error)
	GetModelVersion(ctx context.Context, name string, version int64) (tandem.ModelVersion, error)
	NextModelVersion(ctx context.Context, name string) (int64, error)
	CreateModelVersion(ctx context.Context, in tandem.NewModelVersion) (tandem.ModelVersion, error)
}

// JobStore is the replicated store of jobs and of the region's compute
// targets, as the runner uses it (sqlstore.JobStore).
type JobStore interface {
	tandem.Jobs
	// ActiveJobs lists the jobs not yet ended.
	ActiveJobs(ctx context.Context) ([]*tandem.Job, error)
	// Computes lists the region's declared compute targets.
	Computes(ctx context.Context) ([]*tandem.ComputeTarget, error)
}
