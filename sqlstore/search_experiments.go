package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// SearchExperimentsInput is a SearchExperiments request.
type SearchExperimentsInput struct {
	Filter     string
	ViewType   ViewType
	MaxResults int // 0 means SearchMaxResultsDefault
	OrderBy    []string
	PageToken  string
}

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
func (s *Store) SearchExperiments(ctx context.Context, in SearchExperimentsInput) ([]*tandem.Experiment, string, error) {
	max := in.MaxResults
	if max == 0 {
		max = SearchMaxResultsDefault
	}
	if max < 0 || max > SearchMaxResultsThreshold {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", max, SearchMaxResultsThreshold)
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
	stages := in.ViewType.stages()
	args := append([]any{}, stages...)
	q := `SELECT e.experiment_id FROM experiments e WHERE e.lifecycle_stage IN (` + placeholders(len(stages)) + `)`
	if where != "" {
		q += " AND " + where
		args = append(args, whereArgs...)
	}
	q += " ORDER BY " + order + " LIMIT ? OFFSET ?"
	args = append(args, max+1, off)
	var out []*tandem.Experiment
	next := ""
	err = s.readPipeline(ctx, func(p pipeline) error {
		var ids []string
		if err := p.run(ctx, false, readQuery{sql: q, args: args, scan: func(rows rowScanner) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		}}); err != nil {
			return fmt.Errorf("search experiments: %w", err)
		}
		if len(ids) > max {
			ids = ids[:max]
			next = encodePageToken(off + max)
		}
		if len(ids) == 0 {
			return p.run(ctx, true)
		}
		byID, err := loadExperimentsByID(ctx, p, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if e := byID[id]; e != nil {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, next, err
}
