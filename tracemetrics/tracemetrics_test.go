package tracemetrics

import (
	"reflect"
	"strings"
	"testing"
)

func f64(v float64) *float64 { return &v }

func i64(v int64) *int64 { return &v }

// corpus: three traces of two names, one failed, with spans and
// assessments, an hour apart from 2024-01-01T00:00:00Z.
func corpus() []Trace {
	const h = int64(3_600_000)
	t0 := int64(1_704_067_200_000)
	return []Trace{
		{ID: "tr-1", Name: "chat", State: "OK", TimestampMs: t0, ExecutionMs: 100, Session: "s1",
			Tokens: map[string]float64{InputTokens: 10, OutputTokens: 5, TotalTokens: 15},
			Tags:   map[string]string{"team": "a"}, Metadata: map[string]string{"mlflow.sourceRun": "r1"},
			Spans: []Span{
				{ID: "a", Name: "root", Type: "CHAIN", Status: "OK", StartNanos: t0 * 1e6, EndNanos: t0*1e6 + 100e6},
				{ID: "b", Name: "llm", Type: "LLM", Status: "OK", StartNanos: t0*1e6 + 10e6, EndNanos: t0*1e6 + 60e6,
					ModelName: "gpt", ModelProvider: "openai", Cost: map[string]float64{TotalCost: 0.5}},
			},
			Assessments: []Assessment{
				{ID: "x1", Name: "correct", Type: "feedback", Value: "true", Numeric: f64(1), Valid: true},
				{ID: "x2", Name: "correct", Type: "feedback", Value: "false", Numeric: f64(0), Valid: false}, // overridden
			}},
		{ID: "tr-2", Name: "chat", State: "ERROR", TimestampMs: t0 + h, ExecutionMs: 300, Session: "s1",
			Tokens: map[string]float64{InputTokens: 20, TotalTokens: 20},
			Tags:   map[string]string{"team": "b"},
			Spans:  []Span{{ID: "c", Name: "root", Type: "CHAIN", Status: "ERROR", StartNanos: (t0 + h) * 1e6, EndNanos: (t0+h)*1e6 + 300e6}},
			Assessments: []Assessment{
				{ID: "x3", Name: "correct", Type: "feedback", Value: "false", Numeric: f64(0), Valid: true},
				{ID: "x4", Name: "note", Type: "expectation", Value: `"hi"`, Valid: true},
			}},
		{ID: "tr-3", Name: "", State: "OK", TimestampMs: t0 + 2*h + 1, ExecutionMs: 200, Runs: []string{"r1"}},
	}
}

func run(t *testing.T, q Query) []Point {
	t.Helper()
	if q.ExperimentIDs == nil {
		q.ExperimentIDs = []string{"1"}
	}
	fs, err := Validate(q)
	if err != nil {
		t.Fatalf("Validate(%+v): %v", q, err)
	}
	return Compute(q, fs, corpus())
}

func pt(metric string, dims map[string]string, vals map[string]float64) Point {
	if dims == nil {
		dims = map[string]string{}
	}
	return Point{Metric: metric, Dimensions: dims, Values: vals}
}

func TestCompute(t *testing.T) {
	count := []Aggregation{{Type: Count}}
	for _, c := range []struct {
		name string
		q    Query
		want []Point
	}{
		{"trace count", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count},
			[]Point{pt(TraceCount, nil, map[string]float64{"COUNT": 3})}},
		{"by name: a trace without one is left out", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Dimensions: []string{DimTraceName}},
			[]Point{pt(TraceCount, map[string]string{DimTraceName: "chat"}, map[string]float64{"COUNT": 2})}},
		{"by status, in order", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Dimensions: []string{DimTraceStatus}},
			[]Point{pt(TraceCount, map[string]string{DimTraceStatus: "ERROR"}, map[string]float64{"COUNT": 1}),
				pt(TraceCount, map[string]string{DimTraceStatus: "OK"}, map[string]float64{"COUNT": 2})}},
		{"latency aggregations", Query{View: ViewTraces, Metric: Latency, Aggregations: []Aggregation{{Type: Avg}, {Type: Min}, {Type: Max}, {Type: Percentile, Percentile: 50}, {Type: Percentile, Percentile: 90}}},
			[]Point{pt(Latency, nil, map[string]float64{"AVG": 200, "MIN": 100, "MAX": 300, "P50.0": 200, "P90.0": 280})}},
		{"tokens: traces without them are left out", Query{View: ViewTraces, Metric: OutputTokens, Aggregations: []Aggregation{{Type: Sum}, {Type: Avg}}},
			[]Point{pt(OutputTokens, nil, map[string]float64{"SUM": 5, "AVG": 5})}},
		{"no values at all: no point", Query{View: ViewTraces, Metric: CacheReadInputTokens, Aggregations: []Aggregation{{Type: Sum}}}, nil},
		{"distinct sessions", Query{View: ViewTraces, Metric: SessionCount, Aggregations: count},
			[]Point{pt(SessionCount, nil, map[string]float64{"COUNT": 1})}},
		{"filter on status", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Filters: []string{`trace.status = "OK"`}},
			[]Point{pt(TraceCount, nil, map[string]float64{"COUNT": 2})}},
		{"filter on a tag", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Filters: []string{`trace.tag.team = 'b'`}},
			[]Point{pt(TraceCount, nil, map[string]float64{"COUNT": 1})}},
		{"the run filter also matches linked traces", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Filters: []string{`trace.metadata.mlflow.sourceRun = 'r1'`}},
			[]Point{pt(TraceCount, nil, map[string]float64{"COUNT": 2})}},
		{"nothing matches: COUNT 0", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Filters: []string{`trace.tag.team = 'zzz'`}},
			[]Point{pt(TraceCount, nil, map[string]float64{"COUNT": 0})}},
		{"time buckets of an hour within the range", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, IntervalSeconds: 3600,
			Start: i64(1_704_067_200_000), End: i64(1_704_067_200_000 + 2*3_600_000)},
			[]Point{pt(TraceCount, map[string]string{TimeBucket: "2024-01-01T00:00:00+00:00"}, map[string]float64{"COUNT": 1}),
				pt(TraceCount, map[string]string{TimeBucket: "2024-01-01T01:00:00+00:00"}, map[string]float64{"COUNT": 1})}},
		{"max results", Query{View: ViewTraces, Metric: TraceCount, Aggregations: count, Dimensions: []string{DimTraceStatus}, MaxResults: 1},
			[]Point{pt(TraceCount, map[string]string{DimTraceStatus: "ERROR"}, map[string]float64{"COUNT": 1})}},
		{"spans by type", Query{View: ViewSpans, Metric: SpanCount, Aggregations: count, Dimensions: []string{DimSpanType}},
			[]Point{pt(SpanCount, map[string]string{DimSpanType: "CHAIN"}, map[string]float64{"COUNT": 2}),
				pt(SpanCount, map[string]string{DimSpanType: "LLM"}, map[string]float64{"COUNT": 1})}},
		{"span latency of a name", Query{View: ViewSpans, Metric: Latency, Aggregations: []Aggregation{{Type: Max}}, Filters: []string{`span.name = "root"`}},
			[]Point{pt(Latency, nil, map[string]float64{"MAX": 300})}},
		{"span cost by model", Query{View: ViewSpans, Metric: TotalCost, Aggregations: []Aggregation{{Type: Sum}}, Dimensions: []string{DimSpanModelName}},
			[]Point{pt(TotalCost, map[string]string{DimSpanModelName: "gpt"}, map[string]float64{"SUM": 0.5})}},
		{"valid assessments by name", Query{View: ViewAssessments, Metric: AssessmentCount, Aggregations: count, Dimensions: []string{DimAssessmentName}},
			[]Point{pt(AssessmentCount, map[string]string{DimAssessmentName: "correct"}, map[string]float64{"COUNT": 2}),
				pt(AssessmentCount, map[string]string{DimAssessmentName: "note"}, map[string]float64{"COUNT": 1})}},
		{"assessment values: only numeric ones", Query{View: ViewAssessments, Metric: AssessmentValue, Aggregations: []Aggregation{{Type: Avg}}, Filters: []string{`assessment.type = 'feedback'`}},
			[]Point{pt(AssessmentValue, nil, map[string]float64{"AVG": 0.5})}},
		{"assessments by value", Query{View: ViewAssessments, Metric: AssessmentCount, Aggregations: count, Dimensions: []string{DimAssessmentValue}, Filters: []string{`assessment.name = 'correct'`}},
			[]Point{pt(AssessmentCount, map[string]string{DimAssessmentValue: "false"}, map[string]float64{"COUNT": 1}),
				pt(AssessmentCount, map[string]string{DimAssessmentValue: "true"}, map[string]float64{"COUNT": 1})}},
	} {
		if got := run(t, c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	count := []Aggregation{{Type: Count}}
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{View: ViewTraces, Metric: TraceCount, Aggregations: count}, "'experiment_ids'"},
		{Query{ExperimentIDs: []string{"1"}, View: 7, Metric: TraceCount, Aggregations: count}, "view_type must be one of"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: "nope", Aggregations: count},
			"metric_name must be one of ['trace_count', 'session_count', 'latency', 'input_tokens', 'output_tokens', 'total_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'], got 'nope'"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: TraceCount}, "'aggregations'"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: TraceCount, Aggregations: []Aggregation{{Type: Sum}, {Type: Avg}}},
			"Found invalid aggregation_type(s): ['AVG', 'SUM']. Supported aggregation types: ['COUNT']"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: Latency, Aggregations: []Aggregation{{Type: Avg}}, Dimensions: []string{DimTraceStatus}},
			"Found invalid dimension(s): ['trace_status']. Supported dimensions: ['trace_name']"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: TraceCount, Aggregations: count, IntervalSeconds: 60},
			"start_time_ms and end_time_ms are required if time_interval_seconds is set"},
		{Query{ExperimentIDs: []string{"1"}, View: ViewTraces, Metric: TraceCount, Aggregations: count, Filters: []string{`span.name = 'x'`}},
			"Filtering by span is only supported for SPANS view type, got TRACES"},
	} {
		_, err := Validate(c.q)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.q, err, c.want)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Filter
	}{
		{`trace.status = "OK"`, Filter{"trace", "status", "", "OK"}},
		{`trace.tag.team='a'`, Filter{"trace", "tag", "team", "a"}},
		{"trace.metadata.`mlflow.sourceRun` = 'r1'", Filter{"trace", "metadata", "mlflow.sourceRun", "r1"}},
		{`trace.tag.a.b = 'it''s'`, Filter{"trace", "tag", "a.b", "it's"}},
		{`span.type = "LLM"`, Filter{"span", "type", "", "LLM"}},
		{`assessment.name = 'correct'`, Filter{"assessment", "name", "", "correct"}},
	} {
		got, err := ParseFilter(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{`status = 'OK'`, "Invalid identifier 'status'"},
		{`run.status = 'OK'`, "Invalid view type 'run'"},
		{`trace.name = 'x'`, "Invalid entity 'name' specified for view type 'trace'. Valid entities are ['status', 'tag', 'metadata']"},
		{`trace.tag = 'x'`, "Filtering by tag requires a key, e.g. 'trace.tag.<key> = <value>'"},
		{`trace.status.x = 'OK'`, "Filtering by status does not require a key, use 'trace.status' instead"},
		{`trace.status != 'OK'`, "Invalid comparator: '!=', only '=' operator is supported"},
		{`trace.status LIKE 'OK'`, "Invalid comparator: 'LIKE'"},
		{`trace.status = 1`, "Expected a quoted string value for status value (e.g. 'my-value'). Got value 1"},
		{`trace.status = 'OK' AND span.name = 'x'`, "Invalid clause(s) in filter string: AND"},
		{``, "Expected one filter clause"},
		{`trace.status = 'OK`, "Expected a quoted string value"},
	} {
		_, err := ParseFilter(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseFilter(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, c := range []struct {
		a    Aggregation
		want string
	}{
		{Aggregation{Type: Count}, "COUNT"}, {Aggregation{Type: Percentile, Percentile: 50}, "P50.0"},
		{Aggregation{Type: Percentile, Percentile: 99.9}, "P99.9"}, {Aggregation{Type: Avg}, "AVG"},
	} {
		if got := c.a.Label(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.a, got, c.want)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`trace.status = "OK"`, "trace.tag.`a.b` = 'x'", `span.name = 'it''s'`, `trace.tag.a = 'x' AND 1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseFilter(s)
		if err != nil {
			return
		}
		if fl.View == "" || fl.Entity == "" {
			t.Fatalf("%q parsed into %+v", s, fl)
		}
	})
}
