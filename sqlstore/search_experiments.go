package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

var experimentAttributes = map[string]struct {
	col     string
	numeric bool
}{
	"name":             {"e.name", false},
	"experiment_id":    {"e.experiment_id", false},
	"creation_time":    {"e.creation_time", true},
	"last_update_time": {"e.last_update_time", true},
}

func compileExperimentFilter(d Dialect, filter string) (string, []any, error) {
	clauses, err := parseFilter(filter)
	if err != nil {
		return "", nil, err
	}
	var conds []string
	var args []any
	stringOps := map[string]bool{"=": true, "!=": true, "LIKE": true, "ILIKE": true}
	for _, c := range clauses {
		switch c.Type {
		case entAttribute:
			a, ok := experimentAttributes[c.Key]
			if !ok {
				return "", nil, invalidFilter("Invalid attribute key '%s' specified. Valid keys are '['creation_time', 'experiment_id', 'last_update_time', 'name']'", c.Key)
			}
			switch {
			case a.numeric:
				if !numericOps[c.Op] || !c.IsNum || c.Num != float64(int64(c.Num)) {
					return "", nil, invalidFilter("Invalid comparison for numeric attribute '%s': %s %s", c.Key, c.Op, c.Str)
				}
				args = append(args, int64(c.Num))
				conds = append(conds, a.col+" "+c.Op+" ?")
			case c.Key == "experiment_id":
				if c.Op != "=" && c.Op != "!=" && c.Op != "IN" && c.Op != "NOT IN" {
					return "", nil, invalidFilter("Invalid comparator '%s' for experiment_id; expected one of =, !=, IN, NOT IN", c.Op)
				}
				conds = append(conds, strCompare(d, a.col, c, &args))
			default:
				if !stringOps[c.Op] || !c.quoted {
					return "", nil, invalidFilter("Invalid comparison for string attribute '%s': %s %s", c.Key, c.Op, c.Str)
				}
				conds = append(conds, strCompare(d, a.col, c, &args))
			}
		case entTag:
			switch {
			case c.Op == "IS NULL" || c.Op == "IS NOT NULL":
				args = append(args, c.Key)
				q := "EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ?)"
				if c.Op == "IS NULL" {
					q = "NOT " + q
				}
				conds = append(conds, q)
			case !stringOps[c.Op] || !c.quoted:
				return "", nil, invalidFilter("Invalid comparison for tag '%s': %s %s", c.Key, c.Op, c.Str)
			default:
				args = append(args, c.Key)
				conds = append(conds, "EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ? AND "+strCompare(d, "t.value", c, &args)+")")
			}
		default:
			return "", nil, invalidFilter("Invalid entity type '%s'. Valid values are ['attribute', 'tag']", c.Type)
		}
	}
	return strings.Join(conds, " AND "), args, nil
}

func compileExperimentOrder(orderBy []string) (string, error) {
	if len(orderBy) == 0 {
		orderBy = []string{"creation_time DESC", "experiment_id ASC"}
	}
	var parts []string
	byID := false
	for _, ob := range orderBy {
		o, err := parseOrderBy(ob)
		if err != nil {
			return "", err
		}
		if o.Type != entAttribute {
			return "", invalidFilter("Invalid order_by entity: %s", o.Type)
		}
		a, ok := experimentAttributes[o.Key]
		if !ok {
			return "", invalidFilter("Invalid attribute key '%s' specified. Valid keys are '['creation_time', 'experiment_id', 'last_update_time', 'name']'", o.Key)
		}
		col := a.col
		if o.Key == "experiment_id" {
			col, byID = "e.num_id", true
		}
		if o.Asc {
			parts = append(parts, col+" ASC")
		} else {
			parts = append(parts, col+" DESC")
		}
	}
	if !byID {
		parts = append(parts, "e.num_id DESC")
	}
	return strings.Join(parts, ", "), nil
}

// SearchExperiments returns one page of experiments matching the filter
// and the next page token ("" at the end). Bad input is EINVALID.
func (s *Store) SearchExperiments(ctx context.Context, in tandem.SearchExperimentsInput) ([]*tandem.Experiment, string, error) {
	max := in.MaxResults
	if max == 0 {
		max = tandem.SearchMaxResultsDefault
	}
	if max < 0 || max > tandem.SearchMaxResultsThreshold {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", max, tandem.SearchMaxResultsThreshold)
	}
	off, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	where, whereArgs, err := compileExperimentFilter(s.dialect, in.Filter)
	if err != nil {
		return nil, "", err
	}
	order, err := compileExperimentOrder(in.OrderBy)
	if err != nil {
		return nil, "", err
	}
	stages := viewStages(in.ViewType)
	args := append([]any{}, stages...)
	page := `SELECT e.* FROM experiments e WHERE e.lifecycle_stage IN (` + placeholders(len(stages)) + `)`
	if where != "" {
		page += " AND " + where
		args = append(args, whereArgs...)
	}
	page += " ORDER BY " + order + " LIMIT ? OFFSET ?"
	args = append(args, max+1, off)
	// One statement (one round trip, one snapshot): the page, then each
	// experiment's tags beside it, in page order then key order.
	q := `SELECT e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time, t.key, t.value
		FROM (` + page + `) e LEFT JOIN experiment_tags t ON t.experiment_id = e.experiment_id
		ORDER BY ` + order + `, t.key`
	var out []*tandem.Experiment
	rows, err := s.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search experiments: %w", err)
	}
	defer rows.Close()
	var cur *tandem.Experiment
	for rows.Next() {
		e := &tandem.Experiment{}
		var key, value sql.NullString
		if err := rows.Scan(&e.ExperimentID, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime, &key, &value); err != nil {
			return nil, "", fmt.Errorf("search experiments: %w", err)
		}
		if cur == nil || cur.ExperimentID != e.ExperimentID {
			cur = e
			out = append(out, e)
		}
		if key.Valid {
			cur.Tags = append(cur.Tags, tandem.Tag{Key: key.String, Value: value.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search experiments: %w", err)
	}
	next := ""
	if len(out) > max {
		out = out[:max]
		next = encodePageToken(off + max)
	}
	return out, next, nil
}
