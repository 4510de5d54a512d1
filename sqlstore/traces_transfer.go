package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// OpImportTrace writes a whole trace from a bundle (kind traces).
const OpImportTrace = "import.trace"

type importTracePayload struct {
	Trace   tpTrace  `json:"trace"`
	Runs    []string `json:"runs,omitempty"`
	Prompts []string `json:"prompts,omitempty"`
}

func applyImportTrace(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p importTracePayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if err := writeTrace(ctx, tx, &p.Trace); err != nil {
		return err
	}
	for _, r := range p.Runs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trace_runs (trace_id, run_id) VALUES (?, ?) ON CONFLICT (trace_id, run_id) DO NOTHING`,
			p.Trace.TraceID, r); err != nil {
			return fmt.Errorf("import trace run: %w", err)
		}
	}
	for _, pr := range p.Prompts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trace_prompts (trace_id, prompt_id) VALUES (?, ?) ON CONFLICT (trace_id, prompt_id) DO NOTHING`,
			p.Trace.TraceID, pr); err != nil {
			return fmt.Errorf("import trace prompt: %w", err)
		}
	}
	return nil
}

// TransferTraceIDs lists an experiment's traces, oldest first.
func TransferTraceIDs(ctx context.Context, q Querier, experimentID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT trace_id FROM traces WHERE experiment_id = ? ORDER BY request_time, trace_id`, experimentID)
	if err != nil {
		return nil, fmt.Errorf("list traces: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// TransferTrace reads a trace as its bundle record.
func TransferTrace(ctx context.Context, q Querier, id string) (bundle.Trace, bool, error) {
	ts, err := loadTraceInfos(ctx, q, []string{id})
	if err != nil || len(ts) == 0 {
		return bundle.Trace{}, false, err
	}
	t := ts[0]
	rec := bundle.Trace{TraceID: t.TraceID, ExperimentID: t.ExperimentID, ClientRequestID: t.ClientRequestID,
		RequestPreview: t.RequestPreview, ResponsePreview: t.ResponsePreview, RequestTime: t.RequestTime,
		ExecutionDuration: t.ExecutionDuration, State: t.State}
	for _, k := range sortedKeys(t.Tags) {
		rec.Tags = append(rec.Tags, bundle.KV{Key: k, Value: t.Tags[k]})
	}
	for _, k := range sortedKeys(t.Metadata) {
		rec.Metadata = append(rec.Metadata, bundle.KV{Key: k, Value: t.Metadata[k]})
	}
	if rec.Runs, err = queryStrings(ctx, q, `SELECT run_id FROM trace_runs WHERE trace_id = ? ORDER BY run_id`, id); err != nil {
		return rec, false, err
	}
	if rec.Prompts, err = queryStrings(ctx, q, `SELECT prompt_id FROM trace_prompts WHERE trace_id = ? ORDER BY prompt_id`, id); err != nil {
		return rec, false, err
	}
	rows, err := q.QueryContext(ctx, `SELECT content FROM trace_spans WHERE trace_id = ? ORDER BY start_ns, span_id`, id)
	if err != nil {
		return rec, false, err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return rec, false, err
		}
		rec.Spans = append(rec.Spans, json.RawMessage(c))
	}
	rows.Close()
	for _, a := range t.Assessments {
		rec.Assessments = append(rec.Assessments, a.Body)
	}
	return rec, true, rows.Err()
}

// TargetTrace rewrites a bundle's trace for the experiment it is imported
// into: its artifact location follows the experiment.
func TargetTrace(rec bundle.Trace, experimentID string) bundle.Trace {
	rec.ExperimentID = experimentID
	tags := make([]bundle.KV, 0, len(rec.Tags))
	for _, kv := range rec.Tags {
		if kv.Key != tandem.TraceTagArtifactLocation {
			tags = append(tags, kv)
		}
	}
	rec.Tags = append(tags, bundle.KV{Key: tandem.TraceTagArtifactLocation,
		Value: ArtifactRoot(experimentID) + "/traces/" + rec.TraceID + traceArtifactSuffix})
	return rec
}

func normalizeTrace(rec bundle.Trace) bundle.Trace {
	rec.Tags = sortKV(append([]bundle.KV(nil), rec.Tags...))
	rec.Metadata = sortKV(append([]bundle.KV(nil), rec.Metadata...))
	var as []json.RawMessage
	for _, a := range rec.Assessments {
		var v any
		json.Unmarshal(a, &v)
		b, _ := json.Marshal(v) // canonical key order
		as = append(as, b)
	}
	sort.Slice(as, func(i, j int) bool { return string(as[i]) < string(as[j]) })
	rec.Assessments = as
	sort.Strings(rec.Runs)
	sort.Strings(rec.Prompts)
	return rec
}

// PlanTrace compares a bundle's trace (rewritten by TargetTrace) with this
// workspace: new, already present, or conflict.
func PlanTrace(ctx context.Context, q Querier, rec bundle.Trace) (ImportResult, error) {
	cur, ok, err := TransferTrace(ctx, q, rec.TraceID)
	if err != nil {
		return ImportResult{}, err
	}
	if !ok {
		return ImportResult{Status: ImportNew}, nil
	}
	a, b := normalizeTrace(cur), normalizeTrace(rec)
	a.Spans, b.Spans = nil, nil
	if !reflect.DeepEqual(a, b) || len(cur.Spans) != len(rec.Spans) {
		return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("trace %s exists with different content", rec.TraceID)}, nil
	}
	return ImportResult{Status: ImportPresent}, nil
}

// ImportTrace writes a bundle's trace (rewritten by TargetTrace) with its
// spans (already parsed from rec.Spans), ids and times kept.
func (s *Store) ImportTrace(ctx context.Context, rec bundle.Trace, spans []tandem.Span) (ImportResult, error) {
	if err := tandem.ValidateTraceID(rec.TraceID); err != nil {
		return ImportResult{}, err
	}
	if !tandem.ValidTraceState(rec.State) {
		return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import trace %s: invalid state %q", rec.TraceID, rec.State)
	}
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := experimentStage(ctx, tx, rec.ExperimentID); err != nil {
			return nil, err
		}
		var err error
		if res, err = PlanTrace(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		p := importTracePayload{Trace: tpTrace{TraceID: rec.TraceID, ExperimentID: rec.ExperimentID,
			ClientRequestID: rec.ClientRequestID, RequestPreview: rec.RequestPreview, ResponsePreview: rec.ResponsePreview,
			RequestTime: rec.RequestTime, ExecutionDuration: rec.ExecutionDuration, State: rec.State,
			Tags: map[string]string{}, Metadata: map[string]string{}, Spans: spans}, Runs: rec.Runs, Prompts: rec.Prompts}
		for _, kv := range rec.Tags {
			p.Trace.Tags[kv.Key] = kv.Value
		}
		for _, kv := range rec.Metadata {
			p.Trace.Metadata[kv.Key] = kv.Value
		}
		for i := range p.Trace.Spans {
			if p.Trace.Spans[i].TraceID != rec.TraceID {
				return nil, tandem.Errorf(tandem.EINVALID, "import trace %s: span %s belongs to trace %s", rec.TraceID, p.Trace.Spans[i].SpanID, p.Trace.Spans[i].TraceID)
			}
		}
		for _, raw := range rec.Assessments {
			a, err := assessmentFromBody(rec.TraceID, raw)
			if err != nil {
				return nil, err
			}
			p.Trace.Assessments = append(p.Trace.Assessments, a)
		}
		return &Change{Op: OpImportTrace, Key: rec.TraceID, Payload: p}, nil
	})
	if err == errImportNoop {
		return res, nil
	}
	return res, err
}

// assessmentFromBody reads an assessment's id, name and times from its
// MLflow JSON (as a bundle or a stock server holds it).
func assessmentFromBody(traceID string, raw json.RawMessage) (tandem.Assessment, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return tandem.Assessment{}, tandem.Errorf(tandem.EINVALID, "trace %s: an assessment is not a JSON object", traceID)
	}
	a := tandem.Assessment{TraceID: traceID, Body: raw}
	a.ID, _ = m["assessment_id"].(string)
	a.Name, _ = m["assessment_name"].(string)
	if a.ID == "" || a.Name == "" {
		return a, tandem.Errorf(tandem.EINVALID, "trace %s: an assessment has no assessment_id or assessment_name", traceID)
	}
	for field, dst := range map[string]*int64{"create_time": &a.Created, "last_update_time": &a.Updated} {
		if s, _ := m[field].(string); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return a, tandem.Errorf(tandem.EINVALID, "trace %s: assessment %s: invalid %s %q", traceID, a.ID, field, s)
			}
			*dst = t.UnixMilli()
		}
	}
	m["trace_id"] = traceID
	a.Body, _ = json.Marshal(m)
	return a, nil
}
