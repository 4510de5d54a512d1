package bundle

import "github.com/tandemml/tandem"

// MLflow 3's GenAI objects.
const (
	// KindEvaluationDataset is an evaluation dataset with its tags, its
	// links to experiments (by the bundle's experiment ids) and its records.
	KindEvaluationDataset Kind = "evaluation_dataset"
	// KindScorer is a registered scorer of an experiment with every
	// version.
	KindScorer Kind = "scorer"
	// KindIssue is an issue of an experiment (tandem.Issue, without trace
	// counts).
	KindIssue Kind = "issue"
	// KindWebhook is a model-registry webhook, without its secret.
	KindWebhook Kind = "webhook"
)

// Webhook is the record of one webhook. Its secret never leaves the
// workspace (not even sealed: another workspace's key could not open it);
// HasSecret says it had one, and an import leaves it disabled until its
// secret is set again.
type Webhook struct {
	ID          string   `json:"webhook_id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	URL         string   `json:"url"`
	Events      []string `json:"events"` // entity.action, as MLflow names them
	Status      string   `json:"status"`
	Created     int64    `json:"creation_timestamp"`
	Updated     int64    `json:"last_updated_timestamp"`
	HasSecret   bool     `json:"has_secret,omitempty"`
}

// EvaluationDataset is the record of one evaluation dataset.
type EvaluationDataset struct {
	tandem.EvaluationDataset
	Records []tandem.DatasetRecord `json:"records,omitempty"`
}

// Scorer is the record of one registered scorer, its versions oldest first.
type Scorer struct {
	ScorerID     string                 `json:"scorer_id"`
	ExperimentID string                 `json:"experiment_id"`
	Name         string                 `json:"name"`
	Versions     []tandem.ScorerVersion `json:"versions"`
}
