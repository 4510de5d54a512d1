package transfer

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Store is what export and import need of a region's store: consistent
// reads, which the transfer readers of sqlstore (sqlstore/transfer*.go,
// where every statement of export and import is) run over, and the
// imports of each kind, each in one write transaction. sqlstore's Store
// implements it.
type Store interface {
	// Head returns the position of the last committed entry.
	Head(ctx context.Context) (tandem.Position, error)
	// ReadTx runs fn in a read-only snapshot of the database: an export
	// reads everything it writes from one.
	ReadTx(ctx context.Context, fn func(tx *sqlstore.Tx) error) error
	// Reader returns a Querier on the whole database, for reads (an
	// import's plan).
	Reader() *sqlstore.Reader
	// MaxExperimentNum is the highest numeric experiment id taken, -1 when
	// there is none: an import plans new experiment ids after it.
	MaxExperimentNum(ctx context.Context) (int64, error)

	// The imports: each writes one object of a bundle (already rewritten
	// for this workspace by the Target functions, its bytes already
	// stored), re-planned in its own transaction, so an object written
	// meanwhile is reported present or in conflict and left untouched.
	ImportExperiment(ctx context.Context, rec bundle.Experiment) (sqlstore.ImportResult, error)
	ImportRun(ctx context.Context, rec bundle.Run) (sqlstore.ImportResult, error)
	ImportLoggedModel(ctx context.Context, rec bundle.LoggedModel) (sqlstore.ImportResult, error)
	ImportRegisteredModel(ctx context.Context, rec bundle.RegisteredModel, versions []bundle.ModelVersion) (sqlstore.ImportResult, error)
	ImportAsset(ctx context.Context, a *tandem.Asset) (sqlstore.ImportResult, error)
	ImportDataset(ctx context.Context, rec bundle.EvaluationDataset) (sqlstore.ImportResult, error)
	ImportScorer(ctx context.Context, rec bundle.Scorer) (sqlstore.ImportResult, error)
	ImportIssue(ctx context.Context, rec tandem.Issue) (sqlstore.ImportResult, error)
	ImportTrace(ctx context.Context, rec bundle.Trace, spans []tandem.Span) (sqlstore.ImportResult, error)
	ImportWebhook(ctx context.Context, rec bundle.Webhook) (sqlstore.ImportResult, error)
}

var _ Store = (*sqlstore.Store)(nil)
