package tandem

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Position is a place in a workspace's journal: the epoch an entry was
// written in and its sequence number. Sequence numbers grow by one per entry
// across epochs, so positions are ordered by Seq; Epoch is the fencing token.
// The zero Position is "before the first entry".
type Position struct {
	Epoch int64 `json:"epoch"`
	Seq   int64 `json:"seq"`
}

// String prints a position the same way everywhere: "epoch/seq".
func (p Position) String() string { return fmt.Sprintf("%d/%d", p.Epoch, p.Seq) }

// Less reports whether p comes before q in journal order.
func (p Position) Less(q Position) bool {
	if p.Seq != q.Seq {
		return p.Seq < q.Seq
	}
	return p.Epoch < q.Epoch
}

// Kind is an asset kind: the unit a replication policy is chosen for.
type Kind string

// The asset kinds. Every journal entry belongs to exactly one.
const (
	KindExperiments  Kind = "experiments"
	KindRuns         Kind = "runs"
	KindModels       Kind = "models" // registered models, versions and logged models
	KindEnvironments Kind = "environments"
	KindData         Kind = "data"
	KindDatastores   Kind = "datastores"
	KindComponents   Kind = "components"
	KindPipelines    Kind = "pipelines"
	KindArtifacts    Kind = "artifacts"
	KindWorkspace    Kind = "workspace" // workspace-level state (roles, settings)
	KindTraces       Kind = "traces"    // MLflow 3 traces, their spans and assessments
	KindJobs         Kind = "jobs"      // submitted jobs, their attempts and steps
	KindEndpoints    Kind = "endpoints" // online endpoints and their deployments
)

// MLflow 3's GenAI kinds (genai.go).
const (
	KindEvalDatasets Kind = "evaluation_datasets" // evaluation datasets and their records
	KindScorers      Kind = "scorers"             // registered scorers and their versions
	KindWebhooks     Kind = "webhooks"            // model-registry webhooks (webhook.go)
	KindIssues       Kind = "issues"              // quality issues found in an experiment's traces
	KindAIGateway    Kind = "ai_gateway"          // AI gateway secrets, model definitions, endpoints, bindings
)

// Kinds lists every asset kind, in a stable order.
var Kinds = []Kind{KindExperiments, KindRuns, KindModels, KindEnvironments, KindData,
	KindDatastores, KindComponents, KindPipelines, KindArtifacts, KindWorkspace, KindTraces, KindJobs, KindEndpoints,
	KindEvalDatasets, KindScorers, KindWebhooks, KindIssues, KindAIGateway}

// BlobRef names artifact bytes a journal entry depends on: a secondary
// fetches and checks them before it applies the entry.
type BlobRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Entry is one committed change. Op names the mutation ("run.create",
// "metric.log_batch", ...); Payload is its fully resolved input (ids, times
// and numbers already chosen), so applying it is deterministic.
type Entry struct {
	Position
	Kind    Kind            `json:"kind"`
	Op      string          `json:"op"`
	Key     string          `json:"key"`
	Payload json.RawMessage `json:"payload"`
	Blobs   []BlobRef       `json:"blobs,omitempty"`
	Time    time.Time       `json:"time"`
	// IdempotencyKey is the key the write was sent with, if any: every
	// region that applies the entry records it (sqlstore/idempotency.go).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TraceParent is the W3C traceparent of the request that made the
	// write, when it was traced: a secondary's apply joins that trace.
	TraceParent string `json:"traceparent,omitempty"`
}

// The journal ops that the failover and replication machinery write
// themselves, not a change a user asked for: neither is ever replayed.
const (
	// OpEpoch is the first entry a new primary commits in its epoch: it
	// records the change of primary for `tandem history`. Its payload is
	// an EpochRecord.
	OpEpoch = "failover.epoch"
	// OpSkip is the placeholder a secondary applies instead of an entry
	// whose kind it does not replicate continuously (policy none or
	// snapshot): it advances the high-water mark and changes nothing else,
	// so the journal stays a prefix with no holes. Its payload is
	// sqlstore.SkipPayload.
	OpSkip = "replication.skip"
)

// Gate decides whether this region may accept a write now, and in which
// epoch. The store asks it before every write transaction commits. A region
// that is not primary, or whose lease can no longer be confirmed, returns an
// EUNAVAILABLE *Error.
type Gate interface {
	WriteEpoch(ctx context.Context) (int64, error)
}

// FixedGate is a Gate for a single-region workspace: always writable in the
// given epoch.
type FixedGate int64

// WriteEpoch returns the fixed epoch.
func (g FixedGate) WriteEpoch(context.Context) (int64, error) { return int64(g), nil }
