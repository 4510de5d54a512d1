package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
)

var _ tandem.TraceStore = (*Store)(nil)

// Journal ops of MLflow 3 traces (kind "traces"). Payloads are the tp*
// structs below, fully resolved in prepare: the appliers only write.
const (
	OpTraceStart        = "trace.start"
	OpTraceEnd          = "trace.end"
	OpTraceSpans        = "trace.log_spans"
	OpTraceSetTag       = "trace.set_tag"
	OpTraceDeleteTag    = "trace.delete_tag"
	OpTraceDelete       = "trace.delete"
	OpTraceLinkRun      = "trace.link_run"
	OpTraceLinkPrompts  = "trace.link_prompts"
	OpAssessmentPut     = "assessment.put"
	OpAssessmentDelete  = "assessment.delete"
	traceArtifactSuffix = "/artifacts"
)

func (s *Store) registerTraces() {
	k := tandem.KindTraces
	s.register(OpTraceStart, k, applyTraceStart)
	s.register(OpTraceEnd, k, applyTraceStart)
	s.register(OpTraceSpans, k, applyTraceSpans)
	s.register(OpTraceSetTag, k, applyTraceSetTag)
	s.register(OpTraceDeleteTag, k, applyTraceDeleteTag)
	s.register(OpTraceDelete, k, applyTraceDelete)
	s.register(OpTraceLinkRun, k, applyTraceLinkRun)
	s.register(OpTraceLinkPrompts, k, applyTraceLinkPrompts)
	s.register(OpAssessmentPut, k, applyAssessmentPut)
	s.register(OpAssessmentDelete, k, applyAssessmentDelete)
	s.register(OpImportTrace, k, applyImportTrace) // traces_transfer.go
}

// tpTrace is a trace row and what merges into it.
type tpTrace struct {
	TraceID           string              `json:"trace_id"`
	ExperimentID      string              `json:"experiment_id"`
	ClientRequestID   string              `json:"client_request_id,omitempty"`
	RequestPreview    string              `json:"request_preview,omitempty"`
	ResponsePreview   string              `json:"response_preview,omitempty"`
	RequestTime       int64               `json:"request_time"`
	ExecutionDuration int64               `json:"execution_duration"`
	State             string              `json:"state"`
	Tags              map[string]string   `json:"tags,omitempty"`
	Metadata          map[string]string   `json:"metadata,omitempty"`
	Assessments       []tandem.Assessment `json:"assessments,omitempty"`
	// KeepRow: insert the row only when the trace has none (spans that
	// arrive before their trace's record).
	KeepRow bool          `json:"keep_row,omitempty"`
	Spans   []tandem.Span `json:"spans,omitempty"`
}

type tpTraceKey struct {
	TraceIDs []string `json:"trace_ids"`
	Key      string   `json:"key,omitempty"`
	Value    string   `json:"value,omitempty"`
	RunID    string   `json:"run_id,omitempty"`
	// Prompts are "NAME/VERSION" (trace.link_prompts).
	Prompts []string `json:"prompts,omitempty"`
}

type tpAssessment struct {
	Put     []tandem.Assessment `json:"put,omitempty"`
	TraceID string              `json:"trace_id,omitempty"`
	ID      string              `json:"assessment_id,omitempty"`
}

func applyTraceStart(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTrace
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	return writeTrace(ctx, tx, &p)
}

func writeTrace(ctx context.Context, tx *Tx, p *tpTrace) error {
	// A new row's listing is empty (its tables hold nothing of it yet); an
	// existing row keeps its listing, refreshed below for what changes.
	q := `INSERT INTO traces (trace_id, experiment_id, client_request_id, request_preview, response_preview, request_time, execution_duration, state,
		tags_json, metadata_json, assessments_json)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{}', '{}', '[]') ON CONFLICT (trace_id) DO `
	if p.KeepRow {
		q += `NOTHING`
	} else {
		q += `UPDATE SET experiment_id = excluded.experiment_id, client_request_id = excluded.client_request_id,
			request_preview = excluded.request_preview, response_preview = excluded.response_preview,
			request_time = excluded.request_time, execution_duration = excluded.execution_duration, state = excluded.state`
	}
	if _, err := tx.ExecContext(ctx, q, p.TraceID, p.ExperimentID, p.ClientRequestID, p.RequestPreview, p.ResponsePreview,
		p.RequestTime, p.ExecutionDuration, p.State); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	for _, k := range sortedKeys(p.Tags) {
		if err := upsertTraceKV(ctx, tx, "trace_tags", p.TraceID, k, p.Tags[k]); err != nil {
			return err
		}
	}
	for _, k := range sortedKeys(p.Metadata) {
		if err := upsertTraceKV(ctx, tx, "trace_metadata", p.TraceID, k, p.Metadata[k]); err != nil {
			return err
		}
	}
	for _, a := range p.Assessments {
		if err := putAssessment(ctx, tx, a); err != nil {
			return err
		}
	}
	for _, sp := range p.Spans {
		// The text the full-text filters match, as MLflow's store keeps it
		// (every region computes the same from the same span).
		var text any
		if t, err := otlpspan.MLflowText(sp.Content); err == nil {
			text = t
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO trace_spans (trace_id, span_id, parent_span_id, name, span_type, status, start_ns, end_ns, content, text)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id, span_id) DO UPDATE SET parent_span_id = excluded.parent_span_id,
			name = excluded.name, span_type = excluded.span_type, status = excluded.status, start_ns = excluded.start_ns,
			end_ns = excluded.end_ns, content = excluded.content, text = excluded.text`,
			sp.TraceID, sp.SpanID, sp.ParentSpanID, sp.Name, sp.Type, sp.Status, sp.StartNanos, sp.EndNanos, string(sp.Content), text); err != nil {
			return fmt.Errorf("write span: %w", err)
		}
	}
	var parts listingParts
	if len(p.Tags) > 0 {
		parts |= listTags
	}
	if len(p.Metadata) > 0 {
		parts |= listMetadata
	}
	// putAssessment refreshed the assessments.
	return refreshTraceListing(ctx, tx, p.TraceID, parts)
}

// listingParts says which of a trace's listing columns a write changed.
type listingParts uint8

const (
	listTags listingParts = 1 << iota
	listMetadata
	listAssessments
)

// refreshTraceListing rewrites the parts of a trace's listing columns
// (tags_json, metadata_json, assessments_json) from its tables, after an
// applier changed them in tx. Every region computes the same text from the
// same rows, on either backend: maps are encoded with sorted keys, and the
// assessments come in the order a read gives them.
func refreshTraceListing(ctx context.Context, tx *Tx, id string, parts listingParts) error {
	if parts == 0 {
		return nil
	}
	var sets []string
	var args []any
	// kv encodes a table's pairs of the trace as a JSON object, set in column.
	kv := func(table, column string) error {
		rows, err := tx.QueryContext(ctx, `SELECT key, value FROM `+table+` WHERE trace_id = ?`, id)
		if err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		defer rows.Close()
		m := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			m[k] = v
		}
		b, _ := json.Marshal(m)
		sets, args = append(sets, column+" = ?"), append(args, string(b))
		return rows.Err()
	}
	if parts&listTags != 0 {
		if err := kv("trace_tags", "tags_json"); err != nil {
			return err
		}
	}
	if parts&listMetadata != 0 {
		if err := kv("trace_metadata", "metadata_json"); err != nil {
			return err
		}
	}
	if parts&listAssessments != 0 {
		bodies, err := queryStrings(ctx, tx, `SELECT body FROM trace_assessments WHERE trace_id = ? ORDER BY create_ms, assessment_id`, id)
		if err != nil {
			return err
		}
		sets, args = append(sets, "assessments_json = ?"), append(args, "["+strings.Join(bodies, ",")+"]")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE traces SET `+strings.Join(sets, ", ")+` WHERE trace_id = ?`, append(args, id)...); err != nil {
		return fmt.Errorf("write trace listing: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func upsertTraceKV(ctx context.Context, tx *Tx, table, id, key, value string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (trace_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (trace_id, key) DO UPDATE SET value = excluded.value`, id, key, value); err != nil {
		return fmt.Errorf("write %s: %w", table, err)
	}
	return nil
}

func applyTraceSpans(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var ps []tpTrace
	if err := decodePayload(e, &ps); err != nil {
		return err
	}
	for i := range ps {
		if err := writeTrace(ctx, tx, &ps[i]); err != nil {
			return err
		}
	}
	return nil
}

func applyTraceSetTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTraceKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, id := range p.TraceIDs {
		if err := upsertTraceKV(ctx, tx, "trace_tags", id, p.Key, p.Value); err != nil {
			return err
		}
		if err := refreshTraceListing(ctx, tx, id, listTags); err != nil {
			return err
		}
	}
	return nil
}

func applyTraceDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTraceKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, id := range p.TraceIDs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM trace_tags WHERE trace_id = ? AND key = ?`, id, p.Key); err != nil {
			return fmt.Errorf("delete trace tag: %w", err)
		}
		if err := refreshTraceListing(ctx, tx, id, listTags); err != nil {
			return err
		}
	}
	return nil
}

func applyTraceDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTraceKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, id := range p.TraceIDs {
		for _, t := range []string{"traces", "trace_tags", "trace_metadata", "trace_spans", "trace_assessments", "trace_runs", "trace_prompts"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE trace_id = ?`, id); err != nil {
				return fmt.Errorf("delete trace from %s: %w", t, err)
			}
		}
	}
	return nil
}

func applyTraceLinkRun(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTraceKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, id := range p.TraceIDs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO trace_runs (trace_id, run_id) VALUES (?, ?) ON CONFLICT (trace_id, run_id) DO NOTHING`,
			id, p.RunID); err != nil {
			return fmt.Errorf("link trace to run: %w", err)
		}
	}
	return nil
}

func applyTraceLinkPrompts(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpTraceKey
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, id := range p.TraceIDs {
		for _, pr := range p.Prompts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO trace_prompts (trace_id, prompt_id) VALUES (?, ?) ON CONFLICT (trace_id, prompt_id) DO NOTHING`,
				id, pr); err != nil {
				return fmt.Errorf("link prompt to trace: %w", err)
			}
		}
	}
	return nil
}

func putAssessment(ctx context.Context, tx *Tx, a tandem.Assessment) error {
	was, err := queryStrings(ctx, tx, `SELECT trace_id FROM trace_assessments WHERE assessment_id = ?`, a.ID)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO trace_assessments (assessment_id, trace_id, name, create_ms, update_ms, body)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (assessment_id) DO UPDATE SET trace_id = excluded.trace_id, name = excluded.name,
		create_ms = excluded.create_ms, update_ms = excluded.update_ms, body = excluded.body`,
		a.ID, a.TraceID, a.Name, a.Created, a.Updated, string(a.Body)); err != nil {
		return fmt.Errorf("write assessment: %w", err)
	}
	for _, id := range was {
		if id != a.TraceID { // an assessment moved to another trace
			if err := refreshTraceListing(ctx, tx, id, listAssessments); err != nil {
				return err
			}
		}
	}
	return refreshTraceListing(ctx, tx, a.TraceID, listAssessments)
}

func applyAssessmentPut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpAssessment
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, a := range p.Put {
		if err := putAssessment(ctx, tx, a); err != nil {
			return err
		}
	}
	return nil
}

func applyAssessmentDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpAssessment
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, a := range p.Put { // the overridden assessment comes back valid
		if err := putAssessment(ctx, tx, a); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM trace_assessments WHERE assessment_id = ? AND trace_id = ?`, p.ID, p.TraceID); err != nil {
		return err
	}
	return refreshTraceListing(ctx, tx, p.TraceID, listAssessments)
}

// Writes.

func notFoundTrace(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Trace with ID %s is not found.", id)
}

// traceExperiment returns a trace's experiment, or ENOTFOUND.
func traceExperiment(ctx context.Context, q Querier, id string) (string, error) {
	var exp string
	err := q.QueryRowContext(ctx, `SELECT experiment_id FROM traces WHERE trace_id = ?`, id).Scan(&exp)
	if IsNoRows(err) {
		return "", notFoundTrace(id)
	}
	if err != nil {
		return "", fmt.Errorf("read trace: %w", err)
	}
	return exp, nil
}

func validateTraceInfo(in *tandem.TraceInfo) error {
	if err := tandem.ValidateTraceID(in.TraceID); err != nil {
		return err
	}
	if in.ExperimentID == "" {
		return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'trace_location.mlflow_experiment.experiment_id'.")
	}
	if in.State == "" {
		in.State = tandem.TraceStateUnspecified
	}
	if !tandem.ValidTraceState(in.State) {
		return tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter 'state' supplied.", in.State)
	}
	if in.RequestTime < 0 || in.ExecutionDuration < 0 {
		return tandem.Errorf(tandem.EINVALID, "request_time and execution_duration must not be negative")
	}
	for k, v := range in.Tags {
		if err := tandem.ValidateTraceTag(k, v); err != nil {
			return err
		}
	}
	for k, v := range in.Metadata {
		if err := tandem.ValidateTraceTag(k, v); err != nil {
			return err
		}
	}
	return nil
}

// StartTrace records a finished trace's record (MLflow's StartTraceV3,
// called at the end of a trace), merging with what spans that came first
// already recorded. The experiment must exist and be active. Returns the
// stored record.
func (s *Store) StartTrace(ctx context.Context, in tandem.TraceInfo) (*tandem.TraceInfo, error) {
	if err := validateTraceInfo(&in); err != nil {
		return nil, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		loc, err := activeExperiment(ctx, tx, in.ExperimentID)
		if err != nil {
			return nil, err
		}
		if exp, err := traceExperiment(ctx, tx, in.TraceID); err == nil && exp != in.ExperimentID {
			return nil, tandem.Errorf(tandem.EEXISTS, "Trace with ID %s already exists in experiment %s.", in.TraceID, exp)
		}
		tags := map[string]string{}
		for k, v := range in.Tags {
			tags[k] = v
		}
		tags[tandem.TraceTagArtifactLocation] = loc + "/traces/" + in.TraceID + traceArtifactSuffix
		p := &tpTrace{TraceID: in.TraceID, ExperimentID: in.ExperimentID, ClientRequestID: in.ClientRequestID,
			RequestPreview: in.RequestPreview, ResponsePreview: in.ResponsePreview, RequestTime: in.RequestTime,
			ExecutionDuration: in.ExecutionDuration, State: in.State, Tags: tags, Metadata: in.Metadata}
		now := nowMillis()
		for _, a := range in.Assessments {
			a.TraceID = in.TraceID
			if a.ID == "" {
				a.ID = "a-" + newUUIDHex()
			}
			a.Created, a.Updated = now, now
			body, err := AssessmentBody(a)
			if err != nil {
				return nil, err
			}
			a.Body = body
			p.Assessments = append(p.Assessments, a)
		}
		return &Change{Op: OpTraceStart, Key: in.TraceID, Payload: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetTraceInfo(ctx, in.TraceID)
}

// StartTraceV2 opens a trace with a server-chosen id in state IN_PROGRESS
// (MLflow 2's StartTrace).
func (s *Store) StartTraceV2(ctx context.Context, experimentID string, timestampMs int64, metadata, tags map[string]string) (*tandem.TraceInfo, error) {
	in := tandem.TraceInfo{TraceID: "tr-" + newUUIDHex(), ExperimentID: experimentID, RequestTime: timestampMs,
		State: tandem.TraceStateInProgress, Metadata: metadata, Tags: tags}
	return s.StartTrace(ctx, in)
}

// EndTraceV2 closes a trace opened by StartTraceV2 (MLflow 2's EndTrace):
// its state, its duration from its start and more metadata and tags.
func (s *Store) EndTraceV2(ctx context.Context, traceID string, timestampMs int64, state string, metadata, tags map[string]string) (*tandem.TraceInfo, error) {
	if !tandem.ValidTraceState(state) {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter 'status' supplied.", state)
	}
	for k, v := range tags {
		if err := tandem.ValidateTraceTag(k, v); err != nil {
			return nil, err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadTraceInfo(ctx, tx, traceID)
		if err != nil {
			return nil, err
		}
		p := &tpTrace{TraceID: traceID, ExperimentID: cur.ExperimentID, ClientRequestID: cur.ClientRequestID,
			RequestPreview: cur.RequestPreview, ResponsePreview: cur.ResponsePreview, RequestTime: cur.RequestTime,
			ExecutionDuration: max(timestampMs-cur.RequestTime, 0), State: state, Tags: tags, Metadata: metadata}
		return &Change{Op: OpTraceEnd, Key: traceID, Payload: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetTraceInfo(ctx, traceID)
}

// LogSpans records spans (from OTLP) in experimentID, creating the record
// of any trace they belong to that has none yet, and marks each trace's
// spans as served by the tracking store.
func (s *Store) LogSpans(ctx context.Context, experimentID string, spans []tandem.Span) error {
	if len(spans) == 0 {
		return nil
	}
	byTrace := map[string][]tandem.Span{}
	var order []string
	for _, sp := range spans {
		if err := tandem.ValidateTraceID(sp.TraceID); err != nil {
			return err
		}
		if sp.SpanID == "" {
			return tandem.Errorf(tandem.EINVALID, "span without a span id in trace %s", sp.TraceID)
		}
		if _, ok := byTrace[sp.TraceID]; !ok {
			order = append(order, sp.TraceID)
		}
		byTrace[sp.TraceID] = append(byTrace[sp.TraceID], sp)
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		loc, err := activeExperiment(ctx, tx, experimentID)
		if err != nil {
			return nil, err
		}
		var ps []tpTrace
		for _, id := range order {
			if exp, err := traceExperiment(ctx, tx, id); err == nil && exp != experimentID {
				return nil, tandem.Errorf(tandem.EINVALID, "Trace %s belongs to experiment %s, not %s.", id, exp, experimentID)
			}
			sps := byTrace[id]
			start, end := sps[0].StartNanos, sps[0].EndNanos
			root := sps[0]
			for _, sp := range sps {
				start, end = min(start, sp.StartNanos), max(end, sp.EndNanos)
				if sp.ParentSpanID == "" {
					root = sp
				}
			}
			state := tandem.TraceStateInProgress
			if root.ParentSpanID == "" {
				state = tandem.TraceStateOK
				if root.Status == "ERROR" {
					state = tandem.TraceStateError
				}
			}
			ps = append(ps, tpTrace{TraceID: id, ExperimentID: experimentID, RequestTime: start / 1e6,
				ExecutionDuration: max((end-start)/1e6, 0), State: state, KeepRow: true, Spans: sps,
				Tags: map[string]string{tandem.TraceTagSpansLocation: tandem.SpansInTrackingStore,
					tandem.TraceTagArtifactLocation: loc + "/traces/" + id + traceArtifactSuffix}})
		}
		return &Change{Op: OpTraceSpans, Key: order[0], Payload: ps}, nil
	})
	return err
}

// SetTraceTag sets a tag on a trace (ENOTFOUND when it does not exist).
func (s *Store) SetTraceTag(ctx context.Context, traceID, key, value string) error {
	if err := tandem.ValidateTraceTag(key, value); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := traceExperiment(ctx, tx, traceID); err != nil {
			return nil, err
		}
		return &Change{Op: OpTraceSetTag, Key: traceID, Payload: tpTraceKey{TraceIDs: []string{traceID}, Key: key, Value: value}}, nil
	})
	return err
}

// DeleteTraceTag removes a trace's tag (ENOTFOUND when the trace or the
// tag does not exist).
func (s *Store) DeleteTraceTag(ctx context.Context, traceID, key string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := traceExperiment(ctx, tx, traceID); err != nil {
			return nil, err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM trace_tags WHERE trace_id = ? AND key = ?`, traceID, key).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "No trace tag with key '%s' for trace with ID '%s'", key, traceID)
		}
		return &Change{Op: OpTraceDeleteTag, Key: traceID, Payload: tpTraceKey{TraceIDs: []string{traceID}, Key: key}}, nil
	})
	return err
}

// DeleteTraces deletes traces of an experiment: those named (ids), or the
// oldest up to maxTraces whose request time is at most maxTimestampMs.
// Exactly one of the two ways must be given, as MLflow requires. Returns
// how many were deleted.
func (s *Store) DeleteTraces(ctx context.Context, experimentID string, maxTimestampMs int64, maxTraces int, ids []string) (int, error) {
	if experimentID == "" {
		return 0, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'experiment_id'.")
	}
	byIDs := len(ids) > 0
	if byIDs == (maxTimestampMs > 0) {
		return 0, tandem.Errorf(tandem.EINVALID, "Exactly one of `max_timestamp_millis` and `request_ids` must be specified.")
	}
	if byIDs && maxTraces > 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "`max_traces` can't be specified if `request_ids` is specified.")
	}
	if maxTraces < 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "`max_traces` must be a positive integer, received %d.", maxTraces)
	}
	var n int
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var rows []string
		args := []any{experimentID}
		q := `SELECT trace_id FROM traces WHERE experiment_id = ?`
		if byIDs {
			q += ` AND trace_id IN (` + placeholders(len(ids)) + `)`
			for _, id := range ids {
				args = append(args, id)
			}
		} else {
			q += ` AND request_time <= ? ORDER BY request_time, trace_id`
			args = append(args, maxTimestampMs)
			if maxTraces > 0 {
				q += fmt.Sprintf(` LIMIT %d`, maxTraces)
			}
		}
		r, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				return nil, err
			}
			rows = append(rows, id)
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
		n = len(rows)
		if n == 0 {
			return nil, errNothingToDelete
		}
		return &Change{Op: OpTraceDelete, Key: experimentID, Payload: tpTraceKey{TraceIDs: rows}}, nil
	})
	if errors.Is(err, errNothingToDelete) {
		return 0, nil
	}
	return n, err
}

var errNothingToDelete = tandem.Errorf(tandem.ENOTFOUND, "no traces to delete")

// LinkTracesToRun links existing traces to a run (MLflow's limit: 100).
func (s *Store) LinkTracesToRun(ctx context.Context, ids []string, runID string) error {
	if runID == "" {
		return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'run_id'.")
	}
	if len(ids) > 100 {
		return tandem.Errorf(tandem.EINVALID, "Cannot link more than 100 traces to a run in a single request. Provided %d traces.", len(ids))
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := runState(ctx, tx, runID); err != nil {
			return nil, err
		}
		for _, id := range ids {
			if _, err := traceExperiment(ctx, tx, id); err != nil {
				return nil, err
			}
		}
		return &Change{Op: OpTraceLinkRun, Key: runID, Payload: tpTraceKey{TraceIDs: ids, RunID: runID}}, nil
	})
	return err
}

// LinkPromptsToTrace links prompt versions ("NAME/VERSION") to an
// existing trace; links it has already are kept once. The prompts are not
// looked up, as on MLflow's server: a link names a version by its name.
func (s *Store) LinkPromptsToTrace(ctx context.Context, traceID string, prompts []string) error {
	if len(prompts) == 0 {
		return nil
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := traceExperiment(ctx, tx, traceID); err != nil {
			return nil, err
		}
		return &Change{Op: OpTraceLinkPrompts, Key: traceID, Payload: tpTraceKey{TraceIDs: []string{traceID}, Prompts: prompts}}, nil
	})
	return err
}

// CreateAssessment records a new assessment on a trace; one that overrides
// another marks the other invalid, as MLflow does.
func (s *Store) CreateAssessment(ctx context.Context, a tandem.Assessment, overrides string) (*tandem.Assessment, error) {
	if a.Name == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'assessment_name'.")
	}
	var out tandem.Assessment
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := traceExperiment(ctx, tx, a.TraceID); err != nil {
			return nil, err
		}
		now := nowMillis()
		a.ID, a.Created, a.Updated = "a-"+newUUIDHex(), now, now
		body, err := AssessmentBody(a)
		if err != nil {
			return nil, err
		}
		a.Body = body
		put := []tandem.Assessment{a}
		if overrides != "" {
			old, err := loadAssessment(ctx, tx, a.TraceID, overrides)
			if err != nil {
				return nil, err
			}
			if old.Body, err = setAssessmentFields(old.Body, map[string]any{"valid": false}); err != nil {
				return nil, err
			}
			put = append(put, *old)
		}
		out = a
		return &Change{Op: OpAssessmentPut, Key: a.TraceID, Payload: tpAssessment{Put: put}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAssessment replaces the fields of an assessment named in fields
// (JSON values by proto field name) and stamps its update time.
func (s *Store) UpdateAssessment(ctx context.Context, traceID, id string, fields map[string]any) (*tandem.Assessment, error) {
	var out tandem.Assessment
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadAssessment(ctx, tx, traceID, id)
		if err != nil {
			return nil, err
		}
		cur.Updated = nowMillis()
		set := map[string]any{"last_update_time": rfc3339ms(cur.Updated)}
		for k, v := range fields {
			set[k] = v
		}
		if v, ok := fields["assessment_name"].(string); ok && v != "" {
			cur.Name = v
		}
		if cur.Body, err = setAssessmentFields(cur.Body, set); err != nil {
			return nil, err
		}
		out = *cur
		return &Change{Op: OpAssessmentPut, Key: traceID, Payload: tpAssessment{Put: []tandem.Assessment{*cur}}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAssessment deletes an assessment; an assessment it overrode is
// valid again.
func (s *Store) DeleteAssessment(ctx context.Context, traceID, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadAssessment(ctx, tx, traceID, id)
		if err != nil {
			return nil, err
		}
		p := tpAssessment{TraceID: traceID, ID: id}
		var b map[string]any
		if json.Unmarshal(cur.Body, &b) == nil {
			if ov, _ := b["overrides"].(string); ov != "" {
				if old, err := loadAssessment(ctx, tx, traceID, ov); err == nil {
					if old.Body, err = setAssessmentFields(old.Body, map[string]any{"valid": true}); err == nil {
						p.Put = append(p.Put, *old)
					}
				}
			}
		}
		return &Change{Op: OpAssessmentDelete, Key: traceID, Payload: p}, nil
	})
	return err
}

// AssessmentBody writes a's server-chosen fields into its JSON body.
func AssessmentBody(a tandem.Assessment) (json.RawMessage, error) {
	body := a.Body
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	return setAssessmentFields(body, map[string]any{
		"assessment_id": a.ID, "trace_id": a.TraceID, "assessment_name": a.Name,
		"create_time": rfc3339ms(a.Created), "last_update_time": rfc3339ms(a.Updated),
	})
}

func setAssessmentFields(body json.RawMessage, set map[string]any) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "assessment is not a JSON object")
	}
	for k, v := range set {
		if v == nil {
			delete(m, k) // a field cleared by an update
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "assessment: %v", err)
	}
	return b, nil
}

// rfc3339ms prints milliseconds since the epoch as proto3 JSON prints a
// Timestamp.
func rfc3339ms(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
