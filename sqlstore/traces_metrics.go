package sqlstore

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tracemetrics"
)

// Trace metadata and span attribute keys metrics read, as MLflow names them.
const (
	metaTokenUsage    = "mlflow.trace.tokenUsage"
	metaTraceSession  = "mlflow.trace.session"
	attrModel         = "mlflow.llm.model"
	attrModelProvider = "mlflow.llm.provider"
	attrCost          = "mlflow.llm.cost"
)

// QueryTraceMetrics answers MLflow's QueryTraceMetrics over the traces of
// the experiments named: the query is checked and evaluated by package
// tracemetrics over the facts read here (traces in the time range, with
// their tags, metadata, linked runs and, as the view needs, spans or
// assessments).
func (s *Store) QueryTraceMetrics(ctx context.Context, q tracemetrics.Query) ([]tracemetrics.Point, error) {
	fs, err := tracemetrics.Validate(q)
	if err != nil {
		return nil, err
	}
	traces, err := s.traceMetricFacts(ctx, q)
	if err != nil {
		return nil, err
	}
	return tracemetrics.Compute(q, fs, traces), nil
}

func (s *Store) traceMetricFacts(ctx context.Context, q tracemetrics.Query) ([]tracemetrics.Trace, error) {
	var args []any
	where := "t.experiment_id IN (" + placeholders(len(q.ExperimentIDs)) + ")"
	for _, id := range q.ExperimentIDs {
		args = append(args, id)
	}
	// The time range is on the trace's timestamp, except for span cost
	// (on the span's start): that one is checked by Compute alone.
	spanCost := q.View == tracemetrics.ViewSpans && (q.Metric == tracemetrics.InputCost || q.Metric == tracemetrics.OutputCost || q.Metric == tracemetrics.TotalCost)
	if !spanCost {
		if q.Start != nil {
			where += " AND t.request_time >= ?"
			args = append(args, *q.Start)
		}
		if q.End != nil {
			where += " AND t.request_time <= ?"
			args = append(args, *q.End)
		}
	}
	r := s.Reader()
	rows, err := r.QueryContext(ctx, `SELECT t.trace_id, t.state, t.request_time, t.execution_duration FROM traces t WHERE `+where+` ORDER BY t.trace_id`, args...)
	if err != nil {
		return nil, err
	}
	var out []tracemetrics.Trace
	index := map[string]int{}
	for rows.Next() {
		var t tracemetrics.Trace
		if err := rows.Scan(&t.ID, &t.State, &t.TimestampMs, &t.ExecutionMs); err != nil {
			rows.Close()
			return nil, err
		}
		t.Tags, t.Metadata = map[string]string{}, map[string]string{}
		index[t.ID] = len(out)
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	each := func(query string, scan func(t *tracemetrics.Trace, vals []string)) error {
		rows, err := r.QueryContext(ctx, query+` WHERE `+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			if i, ok := index[vals[0]]; ok {
				scan(&out[i], vals[1:])
			}
		}
		return rows.Err()
	}
	if err := each(`SELECT x.trace_id, x.key, x.value FROM trace_tags x JOIN traces t ON t.trace_id = x.trace_id`, func(t *tracemetrics.Trace, v []string) {
		t.Tags[v[0]] = v[1]
		if v[0] == tandem.TraceTagName {
			t.Name = v[1]
		}
	}); err != nil {
		return nil, err
	}
	if err := each(`SELECT x.trace_id, x.key, x.value FROM trace_metadata x JOIN traces t ON t.trace_id = x.trace_id`, func(t *tracemetrics.Trace, v []string) {
		t.Metadata[v[0]] = v[1]
		switch v[0] {
		case metaTraceSession:
			t.Session = v[1]
		case metaTokenUsage:
			t.Tokens = numbers(v[1], true)
		}
	}); err != nil {
		return nil, err
	}
	if err := each(`SELECT x.trace_id, x.run_id FROM trace_runs x JOIN traces t ON t.trace_id = x.trace_id`, func(t *tracemetrics.Trace, v []string) {
		t.Runs = append(t.Runs, v[0])
	}); err != nil {
		return nil, err
	}
	switch q.View {
	case tracemetrics.ViewSpans:
		err = each(`SELECT x.trace_id, x.span_id, x.name, x.span_type, x.status, x.start_ns, x.end_ns, x.content FROM trace_spans x JOIN traces t ON t.trace_id = x.trace_id`, func(t *tracemetrics.Trace, v []string) {
			sp := tracemetrics.Span{ID: v[0], Name: v[1], Type: v[2], Status: v[3]}
			sp.StartNanos, _ = strconv.ParseInt(v[4], 10, 64)
			sp.EndNanos, _ = strconv.ParseInt(v[5], 10, 64)
			attrs := spanAttributes(v[6])
			sp.ModelName, sp.ModelProvider = attrs[attrModel], attrs[attrModelProvider]
			if c, ok := attrs[attrCost]; ok {
				sp.Cost = numbers(c, false)
			}
			t.Spans = append(t.Spans, sp)
		})
	case tracemetrics.ViewAssessments:
		err = each(`SELECT x.trace_id, x.assessment_id, x.name, x.body FROM trace_assessments x JOIN traces t ON t.trace_id = x.trace_id`, func(t *tracemetrics.Trace, v []string) {
			t.Assessments = append(t.Assessments, assessmentFacts(v[0], v[1], v[2]))
		})
	}
	return out, err
}

// numbers reads a JSON object of numbers (token usage, cost); counts
// must be whole numbers, as MLflow keeps them in integer columns.
func numbers(text string, whole bool) map[string]float64 {
	var m map[string]any
	if json.Unmarshal([]byte(text), &m) != nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range m {
		f, ok := v.(float64)
		if !ok || math.IsInf(f, 0) || math.IsNaN(f) || (whole && f != math.Trunc(f)) {
			continue
		}
		out[k] = f
	}
	return out
}

// spanAttributes reads a span's string attributes from its OTLP JSON,
// decoding MLflow's JSON-encoded values.
func spanAttributes(content string) map[string]string {
	var sp struct {
		Attributes []struct {
			Key   string `json:"key"`
			Value struct {
				StringValue *string `json:"stringValue"`
			} `json:"value"`
		} `json:"attributes"`
	}
	out := map[string]string{}
	if json.Unmarshal([]byte(content), &sp) != nil {
		return out
	}
	for _, a := range sp.Attributes {
		if a.Value.StringValue == nil {
			continue
		}
		v := *a.Value.StringValue
		var s string
		if strings.HasPrefix(v, `"`) && json.Unmarshal([]byte(v), &s) == nil {
			v = s
		}
		out[a.Key] = v
	}
	return out
}

// assessmentFacts reads what metrics need from an assessment's MLflow JSON.
func assessmentFacts(id, name, body string) tracemetrics.Assessment {
	a := tracemetrics.Assessment{ID: id, Name: name, Valid: true}
	var b map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &b) != nil {
		return a
	}
	if v, ok := b["valid"]; ok && string(v) == "false" {
		a.Valid = false
	}
	for _, kind := range []string{"feedback", "expectation", "issue"} {
		raw, ok := b[kind]
		if !ok {
			continue
		}
		a.Type = kind
		var val struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(raw, &val) == nil && len(val.Value) > 0 && string(val.Value) != "null" {
			a.Value = pyJSON(val.Value)
			a.Numeric = aggregateValue(val.Value)
		} else if kind == "issue" {
			a.Value = pyJSON(raw)
		}
		break
	}
	return a
}

// pyJSON writes a value as Python's json.dumps does by default
// (", " and ": " separators), which is how MLflow stores it.
func pyJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	var b strings.Builder
	writePyJSON(&b, v)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		first := true
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !first {
				b.WriteString(", ")
			}
			first = false
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteString(": ")
			writePyJSON(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyJSON(b, e)
		}
		b.WriteByte(']')
	case float64:
		// A protobuf Value's number is a double: Python prints 1.0, 0.25.
		f := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(f, ".eE") {
			f += ".0"
		}
		b.WriteString(f)
	default:
		jb, _ := json.Marshal(x)
		b.Write(jb)
	}
}

// aggregateValue is MLflow's numeric reading of an assessment value:
// numbers, booleans as 1/0, "yes"/"no" as 1/0; nil for anything else.
func aggregateValue(raw json.RawMessage) *float64 {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	one, zero := 1.0, 0.0
	switch x := v.(type) {
	case bool:
		if x {
			return &one
		}
		return &zero
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil
		}
		return &x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "yes":
			return &one
		case "no":
			return &zero
		}
	}
	return nil
}
