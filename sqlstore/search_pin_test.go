package sqlstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/storetest"
)

// TestSearchRunsPinnedOrderMetric checks that a search whose first order_by
// metric is also compared in the filter (answered by walking the metric's
// index through an inner join) returns exactly what the general query
// returns: same runs, same order, same pages, with NaN and missing values,
// ties broken by start time and run id, and other order keys after it.
func TestSearchRunsPinnedOrderMetric(t *testing.T) {
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := Open(ctx, be.URL, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.EnsureDefaultExperiment(ctx); err != nil {
				t.Fatal(err)
			}
			exp, err := s.CreateExperiment(ctx, "pin", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 60 {
				id, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, RunName: fmt.Sprintf("r%d", i), StartTime: int64(i % 7), UserID: "u"})
				if err != nil {
					t.Fatal(err)
				}
				var ms []tandem.Metric
				switch {
				case i%11 == 0: // no loss at all
				case i%13 == 0:
					ms = append(ms, tandem.Metric{Key: "loss", Value: math.NaN(), Timestamp: 1})
				case i%17 == 0:
					ms = append(ms, tandem.Metric{Key: "loss", Value: math.Inf(-1), Timestamp: 1})
				default:
					ms = append(ms, tandem.Metric{Key: "loss", Value: float64(i%5) / 4, Timestamp: 1}) // many ties
				}
				ms = append(ms, tandem.Metric{Key: "acc", Value: float64(i % 3), Timestamp: 1})
				ps := []tandem.Param{{Key: "group", Value: fmt.Sprintf("g%d", i%2)}}
				if err := s.LogBatch(ctx, id, ms, ps, nil); err != nil {
					t.Fatal(err)
				}
			}
			cases := []struct {
				filter string
				order  []string
			}{
				{"metrics.loss < 0.6", []string{"metrics.loss"}},
				{"metrics.loss <= 0.5 AND params.group = 'g1'", []string{"metrics.loss DESC"}},
				{"metrics.loss >= 0", []string{"metrics.loss ASC", "metrics.acc DESC"}},
				{"metrics.loss > -1 AND metrics.loss < 1", []string{"metrics.loss DESC", "attributes.start_time ASC"}},
				{"metrics.loss = 0.25", []string{"metrics.loss", "params.group"}},
				{"metrics.acc > 0 AND metrics.loss < 2", []string{"metrics.loss"}},
			}
			for _, c := range cases {
				clauses, err := parseFilter(c.filter)
				if err != nil {
					t.Fatal(err)
				}
				if pinnedOrderMetric(clauses, c.order) != "loss" {
					t.Fatalf("%q %v: not pinned", c.filter, c.order)
				}
				for _, page := range []int{7, 1000} {
					var got []string
					token := ""
					for {
						runs, next, err := s.SearchRuns(ctx, SearchRunsInput{ExperimentIDs: []string{exp}, Filter: c.filter, OrderBy: c.order, MaxResults: page, PageToken: token})
						if err != nil {
							t.Fatal(err)
						}
						for _, r := range runs {
							got = append(got, r.Info.RunID)
						}
						if next == "" {
							break
						}
						token = next
					}
					want := generalSearch(t, s, exp, c.filter, c.order)
					if len(want) == 0 {
						t.Fatalf("%q: the general query matches nothing: a useless case", c.filter)
					}
					if !slices.Equal(got, want) {
						t.Errorf("%q %v page %d:\n got %v\nwant %v", c.filter, c.order, page, got, want)
					}
				}
			}
			// Not pinned: != matches NaN; a different first order key; no order.
			for _, c := range []struct {
				filter string
				order  []string
			}{{"metrics.loss != 0.5", []string{"metrics.loss"}}, {"metrics.loss < 1", []string{"metrics.acc"}}, {"metrics.loss < 1", nil}, {"metrics.loss < 1", []string{"params.group", "metrics.loss"}}} {
				clauses, _ := parseFilter(c.filter)
				if pin := pinnedOrderMetric(clauses, c.order); pin != "" {
					t.Errorf("%q %v: pinned %q", c.filter, c.order, pin)
				}
			}
		})
	}
}

// generalSearch runs the unpinned query (LEFT JOIN, filter subqueries, NaN
// and missing last) for all matching run ids, in order.
func generalSearch(t *testing.T, s *Store, exp, filter string, order []string) []string {
	t.Helper()
	where, wargs, err := compileRunFilter(s.dialect, filter)
	if err != nil {
		t.Fatal(err)
	}
	joins, jargs, ob, err := compileRunOrder(order)
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT r.run_id FROM runs r" + joins + " WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active' AND " + where + " ORDER BY " + ob
	args := append(append(append([]any{}, jargs...), exp), wargs...)
	rows, err := s.db.QueryContext(context.Background(), rebind(s.dialect, q), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
