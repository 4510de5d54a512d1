package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// SearchDatasetSummaries lists the distinct (experiment, dataset, context)
// triples of the given experiments, at most limit of them.
func (s *Store) SearchDatasetSummaries(ctx context.Context, experimentIDs []string, limit int) ([]tandem.DatasetSummary, error) {
	if len(experimentIDs) == 0 {
		return nil, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(experimentIDs)), ", ")
	args := []any{}
	for _, id := range experimentIDs {
		args = append(args, id)
	}
	args = append(args, limit)
	rows, err := s.Reader().QueryContext(ctx, `SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value
		FROM datasets d JOIN inputs i ON i.source_id = d.dataset_uuid
		LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = 'mlflow.data.context'
		WHERE d.experiment_id IN (`+ph+`)
		ORDER BY d.experiment_id, d.name, d.digest, t.value LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("search datasets: %w", err)
	}
	defer rows.Close()
	var out []tandem.DatasetSummary
	for rows.Next() {
		var d tandem.DatasetSummary
		var c sql.NullString
		if err := rows.Scan(&d.ExperimentID, &d.Name, &d.Digest, &c); err != nil {
			return nil, err
		}
		d.Context = c.String
		out = append(out, d)
	}
	return out, rows.Err()
}
