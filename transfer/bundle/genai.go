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
)

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
