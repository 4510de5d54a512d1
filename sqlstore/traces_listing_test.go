package sqlstore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
)

// TestTraceListing follows the listing the appliers keep on a trace's row
// (tags, metadata and assessments as JSON, what a search returns) through
// every kind of write, and checks after each step that it says what the
// trace's tables say (GetTraceInfo reads those). A row without a listing
// (written before migration 0031) is read from its tables.
func TestTraceListing(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "listing-"+name, "", nil)
			must(t, err)
			agree := func(step string) {
				t.Helper()
				found, _, err := s.SearchTraces(ctx, []string{exp}, "", 100, nil, "")
				must(t, err)
				for _, got := range found {
					want, err := s.GetTraceInfo(ctx, got.TraceID)
					must(t, err)
					if got.Listing == nil {
						t.Fatalf("%s: %s has no listing", step, got.TraceID)
					}
					must(t, got.Decode())
					var bodies []json.RawMessage
					must(t, json.Unmarshal(got.Listing.Assessments, &bodies))
					var wantBodies []json.RawMessage
					for _, a := range want.Assessments {
						wantBodies = append(wantBodies, a.Body)
					}
					if !reflect.DeepEqual(got.Tags, want.Tags) || !reflect.DeepEqual(got.Metadata, want.Metadata) {
						t.Fatalf("%s: %s lists tags %v metadata %v; its tables hold %v, %v", step, got.TraceID, got.Tags, got.Metadata, want.Tags, want.Metadata)
					}
					if len(bodies) != len(wantBodies) {
						t.Fatalf("%s: %s lists %d assessments; its table holds %d", step, got.TraceID, len(bodies), len(wantBodies))
					}
					for i := range bodies {
						if !jsonEqual(t, bodies[i], wantBodies[i]) {
							t.Fatalf("%s: %s lists assessment %s; its table holds %s", step, got.TraceID, bodies[i], wantBodies[i])
						}
					}
				}
			}

			// Spans before their trace's record, then the record.
			must(t, s.LogSpans(ctx, exp, []tandem.Span{{TraceID: "tr-l1", SpanID: "01", Name: "root", Status: "OK",
				StartNanos: 1_000_000, EndNanos: 2_000_000, Content: json.RawMessage(`{"name":"root"}`)}}))
			agree("spans first")
			_, err = s.StartTrace(ctx, tandem.TraceInfo{TraceID: "tr-l1", ExperimentID: exp, State: tandem.TraceStateOK,
				RequestTime: 1, Tags: map[string]string{"team": "a<b>&c"}, Metadata: map[string]string{"m": "1"}})
			must(t, err)
			_, err = s.StartTrace(ctx, tandem.TraceInfo{TraceID: "tr-l2", ExperimentID: exp, State: tandem.TraceStateOK,
				RequestTime: 2, Metadata: map[string]string{tandem.TraceMetadataSourceRun: "given"}})
			must(t, err)
			agree("records")

			must(t, s.SetTraceTag(ctx, "tr-l1", "reviewed", "yes"))
			agree("set tag")
			must(t, s.DeleteTraceTag(ctx, "tr-l1", "team"))
			agree("delete tag")

			// A link to a run changes no tag or metadata (the stock server
			// shows none for it).
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, StartTime: 1})
			must(t, err)
			must(t, s.LinkTracesToRun(ctx, []string{"tr-l1", "tr-l2"}, run))
			agree("link run")
			got, _, err := s.SearchTraces(ctx, []string{exp}, "", 100, []string{"timestamp_ms ASC"}, "")
			must(t, err)
			must(t, got[0].Decode())
			must(t, got[1].Decode())
			if got[0].Metadata[tandem.TraceMetadataSourceRun] != "" || got[1].Metadata[tandem.TraceMetadataSourceRun] != "given" {
				t.Fatalf("source runs listed: %v, %v", got[0].Metadata, got[1].Metadata)
			}

			// Assessments: create, override, update, delete.
			first, err := s.CreateAssessment(ctx, tandem.Assessment{TraceID: "tr-l1", Name: "q",
				Body: json.RawMessage(`{"feedback":{"value":1},"valid":true}`)}, "")
			must(t, err)
			agree("create assessment")
			second, err := s.CreateAssessment(ctx, tandem.Assessment{TraceID: "tr-l1", Name: "q",
				Body: json.RawMessage(`{"feedback":{"value":2},"valid":true,"overrides":"` + first.ID + `"}`)}, first.ID)
			must(t, err)
			agree("override assessment")
			_, err = s.UpdateAssessment(ctx, "tr-l1", second.ID, map[string]any{"rationale": "because"})
			must(t, err)
			agree("update assessment")
			must(t, s.DeleteAssessment(ctx, "tr-l1", second.ID))
			agree("delete assessment")
			_, err = s.EndTraceV2(ctx, "tr-l2", 9, tandem.TraceStateError, map[string]string{"m2": "x"}, map[string]string{"t2": "y"})
			must(t, err)
			agree("end trace")

			// A row written before the listing columns is read from its tables.
			_, err = s.DB().ExecContext(ctx, `UPDATE traces SET tags_json = NULL, metadata_json = NULL, assessments_json = NULL`)
			must(t, err)
			found, _, err := s.SearchTraces(ctx, []string{exp}, "", 1, nil, "")
			must(t, err)
			want, err := s.GetTraceInfo(ctx, found[0].TraceID)
			must(t, err)
			if found[0].Listing != nil || !reflect.DeepEqual(found[0].Tags, want.Tags) || !reflect.DeepEqual(found[0].Metadata, want.Metadata) ||
				len(found[0].Assessments) != len(want.Assessments) {
				t.Fatalf("unlisted row read as %+v; its tables hold %+v", found[0], want)
			}
			// Its next write lists what it changes; the rest still comes from the tables.
			must(t, s.SetTraceTag(ctx, found[0].TraceID, "after", "1"))
			found, _, err = s.SearchTraces(ctx, []string{exp}, "", 1, nil, "")
			must(t, err)
			if found[0].Listing != nil || found[0].Tags["after"] != "1" {
				t.Fatalf("half-listed row read as %+v", found[0])
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	must(t, json.Unmarshal(a, &x))
	must(t, json.Unmarshal(b, &y))
	return reflect.DeepEqual(x, y)
}
