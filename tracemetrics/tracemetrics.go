// Package tracemetrics answers MLflow 3's QueryTraceMetrics: aggregated
// metrics over an experiment's traces, their spans or their assessments
// (counts, latency, token usage, span cost, assessment values), grouped by
// dimensions and time buckets, with MLflow's filter grammar and messages.
//
// It is pure: Validate checks a query, Compute evaluates it over the facts a
// store read (Trace, with its spans and assessments), and everything is
// tested step by step without a database.
package tracemetrics

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// View is the level metrics are aggregated at (MLflow's MetricViewType).
type View int

// The views, with their proto numbers.
const (
	ViewTraces      View = 1
	ViewSpans       View = 2
	ViewAssessments View = 3
)

var viewNames = map[View]string{ViewTraces: "TRACES", ViewSpans: "SPANS", ViewAssessments: "ASSESSMENTS"}

func (v View) String() string {
	if n, ok := viewNames[v]; ok {
		return n
	}
	return strconv.Itoa(int(v))
}

// ParseView reads a view as the JSON of a request carries it: its name or
// its number.
func ParseView(s string) (View, bool) {
	for v, n := range viewNames {
		if s == n || s == strconv.Itoa(int(v)) {
			return v, true
		}
	}
	return 0, false
}

// Agg is an aggregation type (MLflow's AggregationType).
type Agg int

// The aggregations, with their proto numbers.
const (
	Count      Agg = 1
	Sum        Agg = 2
	Avg        Agg = 3
	Percentile Agg = 4
	Min        Agg = 5
	Max        Agg = 6
)

var aggNames = map[Agg]string{Count: "COUNT", Sum: "SUM", Avg: "AVG", Percentile: "PERCENTILE", Min: "MIN", Max: "MAX"}

func (a Agg) String() string {
	if n, ok := aggNames[a]; ok {
		return n
	}
	return strconv.Itoa(int(a))
}

// ParseAgg reads an aggregation type by name or number.
func ParseAgg(s string) (Agg, bool) {
	for a, n := range aggNames {
		if s == n || s == strconv.Itoa(int(a)) {
			return a, true
		}
	}
	return 0, false
}

// Aggregation is one aggregation of a query; Percentile is 0-100.
type Aggregation struct {
	Type       Agg
	Percentile float64
}

// Label is the key of the aggregation's value in a data point, as MLflow
// writes it: the type's name, or "P" and the percentile as a Python float
// prints (P50.0, P99.9).
func (a Aggregation) Label() string {
	if a.Type != Percentile {
		return a.Type.String()
	}
	s := strconv.FormatFloat(a.Percentile, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return "P" + s
}

// Metric names and dimensions, as MLflow names them.
const (
	TraceCount               = "trace_count"
	SessionCount             = "session_count"
	Latency                  = "latency"
	InputTokens              = "input_tokens"
	OutputTokens             = "output_tokens"
	TotalTokens              = "total_tokens"
	CacheReadInputTokens     = "cache_read_input_tokens"
	CacheCreationInputTokens = "cache_creation_input_tokens"
	SpanCount                = "span_count"
	InputCost                = "input_cost"
	OutputCost               = "output_cost"
	TotalCost                = "total_cost"
	AssessmentCount          = "assessment_count"
	AssessmentValue          = "assessment_value"

	DimTraceName         = "trace_name"
	DimTraceStatus       = "trace_status"
	DimSpanName          = "span_name"
	DimSpanType          = "span_type"
	DimSpanStatus        = "span_status"
	DimSpanModelName     = "span_model_name"
	DimSpanModelProvider = "span_model_provider"
	DimAssessmentName    = "assessment_name"
	DimAssessmentValue   = "assessment_value"

	// TimeBucket is the dimension a time interval adds.
	TimeBucket = "time_bucket"
)

// metricSpec is what one metric of one view allows.
type metricSpec struct {
	aggs []Agg
	dims []string
}

var (
	valueAggs   = []Agg{Avg, Min, Max, Percentile}
	summingAggs = []Agg{Sum, Avg, Min, Max, Percentile}
	tokenSpec   = metricSpec{summingAggs, []string{DimTraceName}}
	costSpec    = metricSpec{summingAggs, []string{DimSpanModelName, DimSpanModelProvider}}
)

// specs lists, per view, its metrics in MLflow's order (error messages
// list them in this order).
var specs = map[View][]struct {
	name string
	metricSpec
}{
	ViewTraces: {
		{TraceCount, metricSpec{[]Agg{Count}, []string{DimTraceName, DimTraceStatus}}},
		{SessionCount, metricSpec{[]Agg{Count}, nil}},
		{Latency, metricSpec{valueAggs, []string{DimTraceName}}},
		{InputTokens, tokenSpec}, {OutputTokens, tokenSpec}, {TotalTokens, tokenSpec},
		{CacheReadInputTokens, tokenSpec}, {CacheCreationInputTokens, tokenSpec},
	},
	ViewSpans: {
		{SpanCount, metricSpec{[]Agg{Count}, []string{DimSpanName, DimSpanType, DimSpanStatus, DimSpanModelName, DimSpanModelProvider}}},
		{Latency, metricSpec{valueAggs, []string{DimSpanName, DimSpanStatus}}},
		{InputCost, costSpec}, {OutputCost, costSpec}, {TotalCost, costSpec},
	},
	ViewAssessments: {
		{AssessmentCount, metricSpec{[]Agg{Count}, []string{DimAssessmentName, DimAssessmentValue}}},
		{AssessmentValue, metricSpec{valueAggs, []string{DimAssessmentName}}},
	},
}

func spec(v View, metric string) (metricSpec, []string, bool) {
	var names []string
	var found *metricSpec
	for i, m := range specs[v] {
		names = append(names, m.name)
		if m.name == metric {
			found = &specs[v][i].metricSpec
		}
	}
	if found == nil {
		return metricSpec{}, names, false
	}
	return *found, names, true
}

// MaxResults is MLflow's default and bound of data points per query.
const MaxResults = 1000

// Query is one QueryTraceMetrics request.
type Query struct {
	ExperimentIDs []string
	View          View
	Metric        string
	Aggregations  []Aggregation
	Dimensions    []string
	Filters       []string
	// IntervalSeconds, when set, groups by time buckets of that size
	// (Start and End are then required).
	IntervalSeconds int64
	Start, End      *int64 // inclusive bounds in ms since the epoch
	MaxResults      int
}

func invalid(format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, format, args...)
}

// pyList writes names as a Python list prints ['a', 'b'].
func pyList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Validate checks q as MLflow does, with its messages, and parses its
// filters. EINVALID.
func Validate(q Query) ([]Filter, error) {
	if len(q.ExperimentIDs) == 0 {
		return nil, invalid("Missing value for required parameter 'experiment_ids'. See the API docs for more information about request parameters.")
	}
	if _, ok := viewNames[q.View]; !ok {
		return nil, invalid("view_type must be one of ['TRACES', 'SPANS', 'ASSESSMENTS'], got '%s'", q.View)
	}
	if q.Metric == "" {
		return nil, invalid("Missing value for required parameter 'metric_name'. See the API docs for more information about request parameters.")
	}
	sp, names, ok := spec(q.View, q.Metric)
	if !ok {
		return nil, invalid("metric_name must be one of %s, got '%s'", pyList(names), q.Metric)
	}
	if len(q.Aggregations) == 0 {
		return nil, invalid("Missing value for required parameter 'aggregations'. See the API docs for more information about request parameters.")
	}
	var bad []string
	for _, a := range q.Aggregations {
		if !slices.Contains(sp.aggs, a.Type) && !slices.Contains(bad, a.Type.String()) {
			bad = append(bad, a.Type.String())
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		allowed := make([]string, len(sp.aggs))
		for i, a := range sp.aggs {
			allowed[i] = a.String()
		}
		sort.Strings(allowed)
		return nil, invalid("Found invalid aggregation_type(s): %s. Supported aggregation types: %s", pyList(bad), pyList(allowed))
	}
	for _, a := range q.Aggregations {
		if a.Type == Percentile && (math.IsNaN(a.Percentile) || a.Percentile < 0 || a.Percentile > 100) {
			return nil, invalid("Percentile value must be between 0 and 100, got %v", a.Percentile)
		}
	}
	var badDims []string
	for _, d := range q.Dimensions {
		if !slices.Contains(sp.dims, d) && !slices.Contains(badDims, d) {
			badDims = append(badDims, d)
		}
	}
	if len(badDims) > 0 {
		sort.Strings(badDims)
		allowed := slices.Clone(sp.dims)
		sort.Strings(allowed)
		return nil, invalid("Found invalid dimension(s): %s. Supported dimensions: %s", pyList(badDims), pyList(allowed))
	}
	if q.IntervalSeconds < 0 {
		return nil, invalid("time_interval_seconds must be positive, got %d", q.IntervalSeconds)
	}
	if q.IntervalSeconds > 0 && (q.Start == nil || q.End == nil) {
		return nil, invalid("start_time_ms and end_time_ms are required if time_interval_seconds is set")
	}
	if q.MaxResults < 0 {
		return nil, invalid("max_results must be positive, got %d", q.MaxResults)
	}
	fs := make([]Filter, 0, len(q.Filters))
	for _, s := range q.Filters {
		f, err := ParseFilter(s)
		if err != nil {
			return nil, err
		}
		if f.View == "span" && q.View != ViewSpans {
			return nil, invalid("Filtering by span is only supported for SPANS view type, got %s", q.View)
		}
		if f.View == "assessment" && q.View != ViewAssessments {
			return nil, invalid("Filtering by assessment is only supported for ASSESSMENTS view type, got %s", q.View)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// Trace is what a store knows of one trace for metrics.
type Trace struct {
	ID          string
	Name        string // the mlflow.traceName tag
	State       string
	TimestampMs int64
	ExecutionMs int64
	Session     string // the mlflow.trace.session metadata ("" when none)
	// Tokens are the trace's token usage by key (input_tokens, ...), from
	// its mlflow.trace.tokenUsage metadata.
	Tokens      map[string]float64
	Tags        map[string]string
	Metadata    map[string]string
	Runs        []string // runs the trace is linked to
	Spans       []Span
	Assessments []Assessment
}

// Span is what metrics read of a span.
type Span struct {
	ID            string
	Name          string
	Type          string
	Status        string
	StartNanos    int64
	EndNanos      int64
	ModelName     string // the mlflow.llm.model attribute ("" when none)
	ModelProvider string // mlflow.llm.provider
	// Cost is the mlflow.llm.cost attribute by key (input_cost, ...).
	Cost map[string]float64
}

// Assessment is what metrics read of an assessment.
type Assessment struct {
	ID    string
	Name  string
	Type  string // feedback, expectation or issue
	Value string // the value as JSON text ("" when none)
	// Numeric is the value as a number where MLflow aggregates it
	// (numbers, booleans as 1/0, "yes"/"no"); nil otherwise.
	Numeric *float64
	Valid   bool // false once overridden
}

// Point is one data point: its dimensions and a value per aggregation
// label.
type Point struct {
	Metric     string
	Dimensions map[string]string
	Values     map[string]float64
}

// row is one thing counted: a trace, a span or an assessment, with its
// trace.
type row struct {
	t *Trace
	s *Span
	a *Assessment
}

// Compute evaluates q (checked by Validate, with its filters) over traces:
// filters and the time range first, then rows whose metric has no value
// or whose dimensions are missing are left out, then rows are grouped by
// time bucket and dimensions, in that order, and aggregated. Without
// dimensions there is one point (COUNT 0 when nothing matched, no point
// when no value could be computed). At most q.MaxResults points
// (MaxResults when zero).
func Compute(q Query, fs []Filter, traces []Trace) []Point {
	var rows []row
	for i := range traces {
		t := &traces[i]
		if !traceMatches(t, fs) {
			continue
		}
		switch q.View {
		case ViewTraces:
			rows = append(rows, row{t: t})
		case ViewSpans:
			for j := range t.Spans {
				if spanMatches(&t.Spans[j], fs) {
					rows = append(rows, row{t: t, s: &t.Spans[j]})
				}
			}
		case ViewAssessments:
			for j := range t.Assessments {
				if a := &t.Assessments[j]; a.Valid && assessmentMatches(a, fs) {
					rows = append(rows, row{t: t, a: a})
				}
			}
		}
	}
	type group struct {
		bucket int64
		dims   []string
		vals   []float64
		ids    map[string]bool // distinct sessions, for session_count
	}
	groups := map[string]*group{}
	var order []*group
	dims := q.Dimensions
	for _, r := range rows {
		ts := timestampOf(q, r)
		if (q.Start != nil && ts < *q.Start) || (q.End != nil && ts > *q.End) {
			continue
		}
		v, ok := valueOf(q, r)
		if !ok {
			continue
		}
		key := ""
		g := &group{}
		if q.IntervalSeconds > 0 {
			g.bucket = floorDiv(bucketTime(q, r), q.IntervalSeconds*1000) * q.IntervalSeconds * 1000
			key = strconv.FormatInt(g.bucket, 10)
		}
		missing := false
		for _, d := range dims {
			dv, ok := dimensionOf(d, r)
			if !ok {
				missing = true
				break
			}
			g.dims = append(g.dims, dv)
			key += "\x00" + dv
		}
		if missing {
			continue
		}
		if have, ok := groups[key]; ok {
			g = have
		} else {
			groups[key] = g
			order = append(order, g)
			g.ids = map[string]bool{}
		}
		if q.Metric == SessionCount {
			g.ids[r.t.Session] = true
			continue
		}
		g.vals = append(g.vals, v)
	}
	if len(dims) == 0 && q.IntervalSeconds == 0 && len(order) == 0 {
		order = append(order, &group{ids: map[string]bool{}})
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.bucket != b.bucket {
			return a.bucket < b.bucket
		}
		for k := range a.dims {
			if a.dims[k] != b.dims[k] {
				return a.dims[k] < b.dims[k]
			}
		}
		return false
	})
	max := q.MaxResults
	if max <= 0 {
		max = MaxResults
	}
	var out []Point
	for _, g := range order {
		if len(out) == max {
			break
		}
		p := Point{Metric: q.Metric, Dimensions: map[string]string{}, Values: map[string]float64{}}
		if q.IntervalSeconds > 0 {
			p.Dimensions[TimeBucket] = isoTime(g.bucket)
		}
		for k, d := range dims {
			p.Dimensions[d] = g.dims[k]
		}
		vals := g.vals
		if q.Metric == SessionCount {
			vals = make([]float64, len(g.ids))
		}
		for _, a := range q.Aggregations {
			if v, ok := aggregate(a, vals); ok {
				p.Values[a.Label()] = v
			}
		}
		if len(p.Values) == 0 {
			continue
		}
		out = append(out, p)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// isoTime writes a bucket's start as Python's datetime.isoformat() does
// for a UTC time.
func isoTime(ms int64) string {
	t := time.UnixMilli(ms).UTC()
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05") + "+00:00"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "+00:00"
}

// timestampOf is the time a row's time range is checked on: its trace's
// timestamp, but a span's start for span cost.
func timestampOf(q Query, r row) int64 {
	if q.View == ViewSpans && isCost(q.Metric) {
		return floorDiv(r.s.StartNanos, 1_000_000)
	}
	return r.t.TimestampMs
}

// bucketTime is the time a row's time bucket is chosen by: a span's
// start, else its trace's timestamp.
func bucketTime(q Query, r row) int64 {
	if q.View == ViewSpans {
		return floorDiv(r.s.StartNanos, 1_000_000)
	}
	return r.t.TimestampMs
}

func isCost(metric string) bool {
	return metric == InputCost || metric == OutputCost || metric == TotalCost
}

// valueOf is the value a row contributes to the metric, or false when it
// has none (then it is left out, as SQL leaves NULLs out).
func valueOf(q Query, r row) (float64, bool) {
	switch q.View {
	case ViewTraces:
		switch q.Metric {
		case TraceCount:
			return 1, true
		case SessionCount:
			return 0, r.t.Session != ""
		case Latency:
			return float64(r.t.ExecutionMs), true
		default:
			v, ok := r.t.Tokens[q.Metric]
			return v, ok
		}
	case ViewSpans:
		switch q.Metric {
		case SpanCount:
			return 1, true
		case Latency:
			return float64(floorDiv(r.s.EndNanos-r.s.StartNanos, 1_000_000)), true
		default:
			v, ok := r.s.Cost[q.Metric]
			return v, ok
		}
	case ViewAssessments:
		if q.Metric == AssessmentCount {
			return 1, true
		}
		if r.a.Numeric == nil {
			return 0, false
		}
		return *r.a.Numeric, true
	}
	return 0, false
}

// dimensionOf is a row's value of dimension d, or false when it has none
// (a row without it is left out).
func dimensionOf(d string, r row) (string, bool) {
	nonEmpty := func(s string) (string, bool) { return s, s != "" }
	switch d {
	case DimTraceName:
		return nonEmpty(r.t.Name)
	case DimTraceStatus:
		return nonEmpty(r.t.State)
	case DimSpanName:
		return r.s.Name, true
	case DimSpanType:
		return nonEmpty(r.s.Type)
	case DimSpanStatus:
		return nonEmpty(r.s.Status)
	case DimSpanModelName:
		return nonEmpty(r.s.ModelName)
	case DimSpanModelProvider:
		return nonEmpty(r.s.ModelProvider)
	case DimAssessmentName:
		return r.a.Name, true
	case DimAssessmentValue:
		return nonEmpty(r.a.Value)
	}
	return "", false
}

// aggregate computes one aggregation of vals; false when SQL would give
// NULL (no values), except COUNT, which is 0.
func aggregate(a Aggregation, vals []float64) (float64, bool) {
	if a.Type == Count {
		return float64(len(vals)), true
	}
	if len(vals) == 0 {
		return 0, false
	}
	switch a.Type {
	case Sum, Avg:
		s := 0.0
		for _, v := range vals {
			s += v
		}
		if a.Type == Avg {
			return s / float64(len(vals)), true
		}
		return s, true
	case Min:
		return slices.Min(vals), true
	case Max:
		return slices.Max(vals), true
	case Percentile:
		return percentile(vals, a.Percentile), true
	}
	return 0, false
}

// percentile interpolates linearly between the closest ranks (numpy's
// default method, PostgreSQL's percentile_cont).
func percentile(vals []float64, p float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	pos := p / 100 * float64(len(s)-1)
	lo := math.Floor(pos)
	i := int(lo)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	g := pos - lo
	return s[i] + g*(s[i+1]-s[i])
}

// Filter is one filter clause: view.entity[.key] = 'value'.
type Filter struct {
	View, Entity, Key, Value string
}

func (f Filter) String() string {
	if f.Key != "" {
		return fmt.Sprintf("%s.%s.%s = %q", f.View, f.Entity, f.Key, f.Value)
	}
	return fmt.Sprintf("%s.%s = %q", f.View, f.Entity, f.Value)
}

func traceMatches(t *Trace, fs []Filter) bool {
	for _, f := range fs {
		if f.View != "trace" {
			continue
		}
		switch f.Entity {
		case "status":
			if t.State != f.Value {
				return false
			}
		case "tag":
			if f.Key == tandem.TraceTagName {
				if t.Name != f.Value {
					return false
				}
				continue
			}
			if v, ok := t.Tags[f.Key]; !ok || v != f.Value {
				return false
			}
		case "metadata":
			if f.Key == tandem.TraceMetadataSourceRun && slices.Contains(t.Runs, f.Value) {
				continue
			}
			if v, ok := t.Metadata[f.Key]; !ok || v != f.Value {
				return false
			}
		}
	}
	return true
}

func spanMatches(s *Span, fs []Filter) bool {
	for _, f := range fs {
		if f.View != "span" {
			continue
		}
		v := map[string]string{"name": s.Name, "status": s.Status, "type": s.Type}[f.Entity]
		if v != f.Value {
			return false
		}
	}
	return true
}

func assessmentMatches(a *Assessment, fs []Filter) bool {
	for _, f := range fs {
		if f.View != "assessment" {
			continue
		}
		v := map[string]string{"name": a.Name, "type": a.Type}[f.Entity]
		if v != f.Value {
			return false
		}
	}
	return true
}
