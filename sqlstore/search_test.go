package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// searchFixture makes runs a, b, c (started 1, 2, 3) in a new experiment.
func searchFixture(t *testing.T, s *sqlstore.Store) (string, map[string]string) {
	ctx := context.Background()
	exp, err := s.CreateExperiment(ctx, "search", "", nil)
	must(t, err)
	ids := map[string]string{}
	type spec struct {
		name    string
		start   int64
		metrics []tandem.Metric
		params  []tandem.Param
		tags    []tandem.Tag
	}
	specs := []spec{
		{"a", 1, []tandem.Metric{{Key: "acc", Value: 0.5}, {Key: "my loss", Value: 3}}, []tandem.Param{{Key: "model", Value: "CNN"}}, []tandem.Tag{{Key: "team", Value: "Blue"}}},
		{"b", 2, []tandem.Metric{{Key: "acc", Value: 0.9}}, []tandem.Param{{Key: "model", Value: "rnn"}, {Key: "lr", Value: "0.1"}}, []tandem.Tag{{Key: "team", Value: "blue"}}},
		{"c", 3, nil, nil, []tandem.Tag{{Key: "x.y", Value: "z"}}},
	}
	for _, sp := range specs {
		id, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, RunName: sp.name, StartTime: sp.start, UserID: "u-" + sp.name})
		must(t, err)
		ids[sp.name] = id
		if len(sp.metrics)+len(sp.params)+len(sp.tags) > 0 {
			must(t, s.LogBatch(ctx, id, sp.metrics, sp.params, sp.tags))
		}
	}
	must(t, s.LogInputs(ctx, ids["a"], []tandem.DatasetInput{{Tags: []tandem.Tag{{Key: "mlflow.data.context", Value: "training"}},
		Dataset: tandem.Dataset{Name: "iris", Digest: "d1", SourceType: "local", Source: "{}"}}}, nil))
	st := "FINISHED"
	end := int64(10)
	must(t, s.UpdateRun(ctx, ids["b"], &st, &end, nil))
	return exp, ids
}

func TestSearchRunsFilters(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, ids := searchFixture(t, s)
			names := map[string]string{}
			for n, id := range ids {
				names[id] = n
			}
			search := func(filter string, order ...string) string {
				t.Helper()
				runs, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, Filter: filter, OrderBy: order})
				if err != nil {
					t.Fatalf("%q: %v", filter, err)
				}
				var out []string
				for _, r := range runs {
					out = append(out, names[r.Info.RunID])
				}
				return strings.Join(out, ",")
			}
			cases := []struct{ filter, want string }{
				{"", "c,b,a"},
				{"metrics.acc > 0.6", "b"},
				{"metrics.acc < 1e309", "b,a"}, // out of range: +Inf, as Python reads it
				{"metrics.acc > -1e309 and metrics.acc > 1e-400", "b,a"},
				{"metrics.acc >= 0.5 and metrics.acc <= 0.5", "a"},
				{"metrics.acc != 0.5", "b"},
				{"metrics.`my loss` = 3", "a"},
				{`metrics."my loss" < 4`, "a"},
				{"params.model = 'CNN'", "a"},
				{`params.model = "rnn"`, "b"},
				{"params.model LIKE 'c%'", ""},
				{"params.model ILIKE 'c%'", "a"},
				{"params.model != 'CNN'", "b"},
				{"params.lr IS NULL", "c,a"},
				{"params.lr IS NOT NULL", "b"},
				{"tags.team = 'blue'", "b"},
				{"tags.team ILIKE 'BLUE'", "b,a"},
				{"tags.team LIKE 'Bl_e'", "a"},
				{"tags.`x.y` = 'z'", "c"},
				{"tags.x.y = 'z'", "c"},
				{"attributes.run_name = 'b'", "b"},
				{"run_name LIKE '%'", "c,b,a"},
				{"`Run name` = 'a'", "a"},
				{"attributes.status = 'FINISHED'", "b"},
				{"status != 'FINISHED'", "c,a"},
				{"attributes.start_time > 1", "c,b"},
				{"created >= 3", "c"},
				{"attributes.end_time = 10", "b"},
				{"attributes.user_id = 'u-c'", "c"},
				{"attributes.run_id IN ('" + ids["a"] + "', '" + ids["c"] + "')", "c,a"},
				{"attributes.run_id NOT IN ('" + ids["a"] + "')", "c,b"},
				{"attributes.artifact_uri LIKE 'mlflow-artifacts:%'", "c,b,a"},
				{"datasets.name = 'iris'", "a"},
				{"datasets.digest IN ('d1', 'd2')", "a"},
				{"datasets.context = 'training'", "a"},
				{"dataset.context = 'eval'", ""},
				{"metrics.acc > 0.1 AND params.model = 'rnn' AND tags.team = 'blue'", "b"},
			}
			for _, c := range cases {
				if got := search(c.filter); got != c.want {
					t.Errorf("filter %q: got %q; want %q", c.filter, got, c.want)
				}
			}
			// Ordering: missing values last in both directions; default
			// start_time DESC as a tie-breaker.
			orders := []struct {
				order []string
				want  string
			}{
				{[]string{"metrics.acc DESC"}, "b,a,c"},
				{[]string{"metrics.acc ASC"}, "a,b,c"},
				{[]string{"metrics.acc"}, "a,b,c"},
				{[]string{"params.model"}, "a,b,c"},
				{[]string{"params.lr DESC"}, "b,c,a"},
				{[]string{"tags.team DESC"}, "b,a,c"},
				{[]string{"attributes.start_time ASC"}, "a,b,c"},
				{[]string{"start_time DESC"}, "c,b,a"},
				{[]string{"attributes.end_time"}, "b,c,a"},
				{[]string{"attributes.run_name DESC"}, "c,b,a"},
				{[]string{"metrics.`my loss` DESC", "start_time ASC"}, "a,b,c"},
			}
			for _, o := range orders {
				if got := search("", o.order...); got != o.want {
					t.Errorf("order %v: got %q; want %q", o.order, got, o.want)
				}
			}
			bad := []string{
				"metrics.acc > 'x'", "metrics.acc LIKE '1'", "params.model > 'a'", "params.model = 1",
				"foo.bar = 'x'", "attributes.nope = 'x'", "attributes.status IN ('a')", "start_time = 'x'",
				"metrics.acc > 1 OR metrics.acc < 0", "metrics.acc >", "metrics.acc = 1 AND", "params.model = 'unterminated",
				"tags.t IS 'x'", "metrics.acc IS NULL", "datasets.nope = 'x'", "attributes.run_id IN ()", "(metrics.acc > 1)",
				"metrics.acc <> 1", "metrics.acc == 1",
			}
			for _, f := range bad {
				_, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, Filter: f})
				if tandem.ErrorCode(err) != tandem.EINVALID {
					t.Errorf("filter %q: err = %v; want EINVALID", f, err)
				}
			}
			for _, o := range []string{"metrics.acc sideways", "nope", "datasets.name", "metrics.acc DESC extra"} {
				_, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, OrderBy: []string{o}})
				if tandem.ErrorCode(err) != tandem.EINVALID {
					t.Errorf("order_by %q: err = %v; want EINVALID", o, err)
				}
			}
			if _, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, Filter: "metrics.acc > '1'"}); tandem.ErrorMessage(err) != "Expected numeric value type for metric. Found '1'" {
				t.Errorf("a quoted metric value: %v", err)
			}
			_, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, OrderBy: []string{"metrics.acc", "metrics.acc DESC"}})
			wantCode(t, err, tandem.EINVALID)
			// Pagination walks every run exactly once; bad tokens are EINVALID.
			var seen []string
			tok := ""
			for {
				runs, next, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, MaxResults: 2, PageToken: tok})
				must(t, err)
				for _, r := range runs {
					seen = append(seen, names[r.Info.RunID])
				}
				if next == "" {
					break
				}
				tok = next
			}
			if strings.Join(seen, ",") != "c,b,a" {
				t.Fatalf("paged: %v", seen)
			}
			for _, tok := range []string{"!!", "bm90IGpzb24=", "eyJvZmZzZXQiOiAtMX0=", "eyJvZmZzZXQiOiAieCJ9"} {
				_, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, PageToken: tok})
				wantCode(t, err, tandem.EINVALID)
			}
			// View types.
			must(t, s.DeleteRun(ctx, ids["c"]))
			if got := search(""); got != "b,a" {
				t.Fatalf("active only: %s", got)
			}
			runs, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp}, ViewType: sqlstore.DeletedOnly})
			must(t, err)
			if len(runs) != 1 || runs[0].Info.RunID != ids["c"] {
				t.Fatalf("deleted only: %v", runs)
			}
		})
	}
}

func TestSearchExperiments(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for i, n := range []string{"alpha", "Beta", "gamma"} {
				id, err := s.CreateExperiment(ctx, n, "", []tandem.Tag{{Key: "i", Value: string(rune('0' + i))}})
				must(t, err)
				if n == "gamma" {
					must(t, s.DeleteExperiment(ctx, id))
				}
			}
			search := func(in tandem.SearchExperimentsInput) string {
				t.Helper()
				es, _, err := s.SearchExperiments(ctx, in)
				must(t, err)
				var out []string
				for _, e := range es {
					out = append(out, e.Name)
				}
				return strings.Join(out, ",")
			}
			cases := []struct {
				in   tandem.SearchExperimentsInput
				want string
			}{
				{tandem.SearchExperimentsInput{OrderBy: []string{"experiment_id"}}, "Default,alpha,Beta"},
				{tandem.SearchExperimentsInput{OrderBy: []string{"name ASC"}}, "Beta,Default,alpha"},
				{tandem.SearchExperimentsInput{Filter: "name LIKE 'a%'"}, "alpha"},
				{tandem.SearchExperimentsInput{Filter: "name ILIKE 'b%'"}, "Beta"},
				{tandem.SearchExperimentsInput{Filter: "tags.i = '1'"}, "Beta"},
				{tandem.SearchExperimentsInput{Filter: "tags.i IS NULL"}, "Default"},
				{tandem.SearchExperimentsInput{Filter: "creation_time > 0", OrderBy: []string{"experiment_id DESC"}}, "Beta,alpha,Default"},
				{tandem.SearchExperimentsInput{Filter: "experiment_id IN ('1', '3')", ViewType: sqlstore.AllStages, OrderBy: []string{"experiment_id"}}, "alpha,gamma"},
				{tandem.SearchExperimentsInput{ViewType: sqlstore.DeletedOnly}, "gamma"},
			}
			for _, c := range cases {
				if got := search(c.in); got != c.want {
					t.Errorf("%+v: got %q; want %q", c.in, got, c.want)
				}
			}
			es, next, err := s.SearchExperiments(ctx, tandem.SearchExperimentsInput{MaxResults: 2, OrderBy: []string{"experiment_id"}})
			must(t, err)
			if len(es) != 2 || next == "" {
				t.Fatalf("page 1: %d %q", len(es), next)
			}
			es, next, err = s.SearchExperiments(ctx, tandem.SearchExperimentsInput{MaxResults: 2, OrderBy: []string{"experiment_id"}, PageToken: next})
			must(t, err)
			if len(es) != 1 || next != "" || es[0].Name != "Beta" {
				t.Fatalf("page 2: %v %q", es, next)
			}
			for _, f := range []string{"nope = 'x'", "metrics.a > 1", "name > 'a'", "creation_time = 'x'", "experiment_id LIKE '1'"} {
				_, _, err := s.SearchExperiments(ctx, tandem.SearchExperimentsInput{Filter: f})
				if tandem.ErrorCode(err) != tandem.EINVALID {
					t.Errorf("filter %q: err = %v", f, err)
				}
			}
		})
	}
}

// TestSearchExperimentsTags checks that a page of experiments carries each
// one's tags, in key order, and that max_results counts experiments, not
// tag rows.
func TestSearchExperimentsTags(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				_, err := s.CreateExperiment(ctx, fmt.Sprintf("tagged-%d", i), "", []tandem.Tag{{Key: "z", Value: "last"}, {Key: "a", Value: fmt.Sprint(i)}, {Key: "m", Value: "mid"}})
				must(t, err)
			}
			es, next, err := s.SearchExperiments(ctx, tandem.SearchExperimentsInput{MaxResults: 2, OrderBy: []string{"name DESC"}})
			must(t, err)
			if len(es) != 2 || next == "" {
				t.Fatalf("page 1: %d experiments, next %q", len(es), next)
			}
			for i, e := range es {
				want := fmt.Sprintf("tagged-%d", 2-i)
				got := fmt.Sprint(e.Tags)
				if e.Name != want || got != fmt.Sprint([]tandem.Tag{{Key: "a", Value: fmt.Sprint(2 - i)}, {Key: "m", Value: "mid"}, {Key: "z", Value: "last"}}) {
					t.Fatalf("experiment %d: %s %s", i, e.Name, got)
				}
			}
			es, next, err = s.SearchExperiments(ctx, tandem.SearchExperimentsInput{MaxResults: 2, OrderBy: []string{"name DESC"}, PageToken: next})
			must(t, err)
			if len(es) != 2 || next != "" || es[0].Name != "tagged-0" || len(es[0].Tags) != 3 || es[1].Name != "Default" || len(es[1].Tags) != 0 {
				t.Fatalf("page 2: %+v %q", es, next)
			}
		})
	}
}

// TestSearchRunsPlannerStats runs the same filtered, ordered search on
// PostgreSQL with statistics missing (hash joins forced) and fresh (the
// planner's choice): both give the same page.
func TestSearchRunsPlannerStats(t *testing.T) {
	for name, s := range openStores(t) {
		if name != "postgres" {
			continue
		}
		ctx := context.Background()
		exp, err := s.CreateExperiment(ctx, "stats", "", nil)
		must(t, err)
		for k := 0; k < 300; k++ {
			id, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, StartTime: int64(k)})
			must(t, err)
			must(t, s.LogBatch(ctx, id, []tandem.Metric{{Key: "loss", Value: float64((k*37)%100) / 100, Timestamp: 1}},
				[]tandem.Param{{Key: "group", Value: fmt.Sprintf("g%d", k%3)}}, nil))
		}
		search := func() string {
			runs, next, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp},
				Filter: "metrics.loss < 0.5 and params.group = 'g1'", OrderBy: []string{"metrics.loss DESC"}, MaxResults: 20})
			must(t, err)
			var out []string
			for _, r := range runs {
				out = append(out, fmt.Sprint(r.Info.StartTime, r.Metrics[0].Value))
			}
			return strings.Join(out, ",") + "|" + next
		}
		if sqlstore.PlannerStatsFresh(s) {
			t.Fatal("statistics of a fresh database reported fresh")
		}
		stale := search()
		// PostgreSQL's cumulative statistics arrive from each pooled backend
		// when it flushes (up to 10 s after its last transaction on a busy
		// machine): inserts counted after the ANALYZE would make it look
		// stale again. Wait until every insert above is counted, then analyse.
		waitFor(t, func() bool {
			var n int
			err := s.DB().QueryRow(`SELECT COUNT(*) FROM pg_stat_user_tables WHERE schemaname = current_schema()
				AND relname IN ('runs', 'latest_metrics', 'params') AND n_tup_ins >= 300`).Scan(&n)
			return err == nil && n == 3
		}, "the inserts to reach the statistics views")
		_, err = s.DB().Exec(`ANALYZE`)
		must(t, err)
		waitFor(t, func() bool { return sqlstore.PlannerStatsFresh(s) }, "fresh statistics after ANALYZE")
		if fresh := search(); fresh != stale {
			t.Fatalf("with fresh statistics %s; without %s", fresh, stale)
		}
	}
}
