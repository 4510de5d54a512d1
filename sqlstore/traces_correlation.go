package sqlstore

import (
	"context"
	"math"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tracefilter"
)

// CountTraces counts the traces of the experiments that match filter.
func (s *Store) CountTraces(ctx context.Context, experimentIDs []string, filters ...string) (int, error) {
	if len(experimentIDs) == 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "At least one experiment ID must be specified.")
	}
	var args []any
	where := []string{"t.experiment_id IN (" + placeholders(len(experimentIDs)) + ")"}
	for _, id := range experimentIDs {
		args = append(args, id)
	}
	for _, f := range filters {
		cs, err := tracefilter.Parse(f)
		if err != nil {
			return 0, err
		}
		for _, c := range cs {
			w, err := traceClauseSQL(s.dialect, c, &args)
			if err != nil {
				return 0, err
			}
			where = append(where, w)
		}
	}
	var n int
	err := s.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM traces t WHERE `+strings.Join(where, " AND "), args...).Scan(&n)
	return n, err
}

// CorrelateTraceFilters counts the traces matching each filter, both, and
// the base filter (all traces when empty), and their NPMI.
func (s *Store) CorrelateTraceFilters(ctx context.Context, experimentIDs []string, filter1, filter2, base string) (tandem.TraceCorrelation, error) {
	var c tandem.TraceCorrelation
	var err error
	if strings.TrimSpace(filter1) == "" || strings.TrimSpace(filter2) == "" {
		return c, tandem.Errorf(tandem.EINVALID, "Both filter_string1 and filter_string2 must be specified.")
	}
	if c.Total, err = s.CountTraces(ctx, experimentIDs, base); err != nil {
		return c, err
	}
	if c.Filter1Count, err = s.CountTraces(ctx, experimentIDs, base, filter1); err != nil {
		return c, err
	}
	if c.Filter2Count, err = s.CountTraces(ctx, experimentIDs, base, filter2); err != nil {
		return c, err
	}
	if c.JointCount, err = s.CountTraces(ctx, experimentIDs, base, filter1, filter2); err != nil {
		return c, err
	}
	c.NPMI, c.NPMISmoothed = NPMI(c.JointCount, c.Filter1Count, c.Filter2Count, c.Total)
	return c, nil
}

// NPMI is the normalised pointwise mutual information of two events from
// their counts, unsmoothed and with a Jeffreys prior (0.5 added to each
// cell of the 2x2 table), as MLflow reports it: NaN when either event never
// occurs, -1 (unsmoothed) when they never co-occur, 1 when they always do.
func NPMI(joint, n1, n2, total int) (float64, float64) {
	nan := math.NaN()
	if total <= 0 || n1 == 0 || n2 == 0 {
		return nan, nan
	}
	n11, n10, n01 := float64(joint), float64(n1-joint), float64(n2-joint)
	n00 := float64(total - n1 - n2 + joint)
	if min(n11, n10, n01, n00) < 0 {
		return nan, nan
	}
	raw := -1.0
	if joint > 0 {
		raw = npmiCells(n11, n10, n01, n00, 0)
	}
	return raw, npmiCells(n11, n10, n01, n00, 0.5)
}

func npmiCells(n11, n10, n01, n00, prior float64) float64 {
	a, b, c, d := n11+prior, n10+prior, n01+prior, n00+prior
	n, r1, r2 := a+b+c+d, a+b, a+c
	if r1 <= 0 || r2 <= 0 || a <= 0 {
		return math.NaN()
	}
	if n10 == 0 && n01 == 0 && n00 == 0 {
		return 1
	}
	pmi := math.Log(a) + math.Log(n) - math.Log(r1) - math.Log(r2)
	v := pmi / -(math.Log(a) - math.Log(n))
	return max(-1, min(1, v))
}
