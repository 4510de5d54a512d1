package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

func TestTraces(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "traces-"+name, "", nil)
			must(t, err)
			head := func() tandem.Position { p, _ := s.Head(ctx); return p }

			// Bad input changes nothing, with MLflow's codes.
			before := head()
			for _, tc := range []struct {
				in   tandem.TraceInfo
				code string
			}{
				{tandem.TraceInfo{TraceID: "tr-1", ExperimentID: "999"}, tandem.ENOTFOUND},
				{tandem.TraceInfo{TraceID: "tr-1", ExperimentID: exp, State: "DONE"}, tandem.EINVALID},
				{tandem.TraceInfo{TraceID: "", ExperimentID: exp}, tandem.EINVALID},
				{tandem.TraceInfo{TraceID: "tr-1", ExperimentID: exp, Tags: map[string]string{"": "x"}}, tandem.EINVALID},
			} {
				if _, err := s.StartTrace(ctx, tc.in); tandem.ErrorCode(err) != tc.code {
					t.Errorf("StartTrace(%+v): %v; want %s", tc.in, err, tc.code)
				}
			}
			if _, err := s.DeleteTraces(ctx, exp, 0, 0, nil); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("DeleteTraces with neither ids nor time: %v", err)
			}
			if _, err := s.DeleteTraces(ctx, exp, 5, 1, []string{"tr-x"}); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("DeleteTraces with both: %v", err)
			}
			if head() != before {
				t.Fatalf("refused writes journalled: %v -> %v", before, head())
			}

			// Spans first, then the record: they merge.
			span := func(trace, id, parent, name string, attrs string) tandem.Span {
				c := fmt.Sprintf(`{"name":%q,"attributes":[%s]}`, name, attrs)
				return tandem.Span{TraceID: trace, SpanID: id, ParentSpanID: parent, Name: name, Status: "OK",
					StartNanos: 2_000_000, EndNanos: 5_000_000, Content: json.RawMessage(c)}
			}
			must(t, s.LogSpans(ctx, exp, []tandem.Span{
				span("tr-a", "01", "", "root", `{"key":"model","value":{"stringValue":"\"tiny\""}}`),
				span("tr-a", "02", "01", "child", `{"key":"note","value":{"stringValue":"\"hello world\""}}`)}))
			info, err := s.StartTrace(ctx, tandem.TraceInfo{TraceID: "tr-a", ExperimentID: exp, State: tandem.TraceStateOK,
				RequestTime: 2, ExecutionDuration: 3, Tags: map[string]string{"team": "x"}, Metadata: map[string]string{"m": "1"}})
			must(t, err)
			if info.Tags[tandem.TraceTagSpansLocation] != tandem.SpansInTrackingStore || info.Tags["team"] != "x" ||
				!strings.HasSuffix(info.Tags[tandem.TraceTagArtifactLocation], "/traces/tr-a/artifacts") {
				t.Fatalf("merged tags: %v", info.Tags)
			}
			for _, id := range []string{"tr-b", "tr-c"} {
				_, err := s.StartTrace(ctx, tandem.TraceInfo{TraceID: id, ExperimentID: exp, State: tandem.TraceStateError, RequestTime: 10})
				must(t, err)
			}
			_, err = s.CreateAssessment(ctx, tandem.Assessment{TraceID: "tr-a", Name: "score",
				Body: json.RawMessage(`{"feedback":{"value":0.8},"valid":true}`)}, "")
			must(t, err)
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, StartTime: 1})
			must(t, err)
			must(t, s.LinkTracesToRun(ctx, []string{"tr-b"}, run))
			must(t, s.LinkPromptsToTrace(ctx, "tr-c", []string{"greet/1", "greet/2"}))
			must(t, s.LinkPromptsToTrace(ctx, "tr-c", []string{"greet/1"})) // once is enough
			if err := s.LinkPromptsToTrace(ctx, "tr-nope", []string{"greet/1"}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("link prompts to an unknown trace: %v", err)
			}
			if rec, _, err := sqlstore.TransferTrace(ctx, s.Reader(), "tr-c"); err != nil || strings.Join(rec.Prompts, ",") != "greet/1,greet/2" {
				t.Fatalf("bundle record's prompts: %v %v", rec.Prompts, err)
			}

			search := func(filter string, order ...string) []string {
				t.Helper()
				got, _, err := s.SearchTraces(ctx, []string{exp}, filter, 100, order, "")
				if err != nil {
					t.Fatalf("search %q: %v", filter, err)
				}
				var ids []string
				for _, g := range got {
					ids = append(ids, g.TraceID)
				}
				return ids
			}
			for filter, want := range map[string]string{
				"":                                    "tr-b,tr-c,tr-a",
				"trace.status = 'ERROR'":              "tr-b,tr-c",
				"span.attributes.model = 'tiny'":      "tr-a",
				"span.attributes.model = 'tin'":       "",
				"span.attributes.note LIKE '%world%'": "tr-a",
				"trace.text ILIKE '%HELLO%'":          "tr-a",
				"feedback.score > 0.5":                "tr-a",
				"feedback.score > 0.9":                "",
				"run_id = '" + run + "'":              "tr-b",
				"run_id IS NULL":                      "tr-c,tr-a", // tr-b's run is a link
				"run_id IS NOT NULL":                  "tr-b",
				"trace.execution_time_ms < 1e309":     "tr-b,tr-c,tr-a",
				"trace.execution_time_ms > 1e309":     "",
				"metadata.m = '1'":                    "tr-a",
				"tags.team IS NULL":                   "tr-b,tr-c",
				"trace.request_id IN ('tr-a','tr-c')": "tr-c,tr-a",
				"trace.execution_time_ms >= 3":        "tr-a",
				`prompt = "greet/2"`:                  "tr-c",
				`prompt = "greet/3"`:                  "",
			} {
				if got := strings.Join(search(filter), ","); got != want {
					t.Errorf("search %q = %s; want %s", filter, got, want)
				}
			}
			if got := strings.Join(search("", "timestamp_ms ASC", "request_id DESC"), ","); got != "tr-a,tr-c,tr-b" {
				t.Errorf("ordered search = %s", got)
			}

			// Delete by time: the oldest up to max_traces.
			n, err := s.DeleteTraces(ctx, exp, 100, 1, nil)
			must(t, err)
			if n != 1 || strings.Join(search(""), ",") != "tr-b,tr-c" {
				t.Fatalf("delete by time: %d, left %v", n, search(""))
			}
			if _, err := s.GetTraceInfo(ctx, "tr-a"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("deleted trace: %v", err)
			}
		})
	}
}

func TestAssessmentOverride(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "assess-"+name, "", nil)
			must(t, err)
			_, err = s.StartTrace(ctx, tandem.TraceInfo{TraceID: "tr-o", ExperimentID: exp, State: tandem.TraceStateOK})
			must(t, err)
			first, err := s.CreateAssessment(ctx, tandem.Assessment{TraceID: "tr-o", Name: "q", Body: json.RawMessage(`{"feedback":{"value":1},"valid":true}`)}, "")
			must(t, err)
			second, err := s.CreateAssessment(ctx, tandem.Assessment{TraceID: "tr-o", Name: "q",
				Body: json.RawMessage(`{"feedback":{"value":2},"valid":true,"overrides":"` + first.ID + `"}`)}, first.ID)
			must(t, err)
			valid := func(id string) any {
				a, err := s.GetAssessment(ctx, "tr-o", id)
				must(t, err)
				var m map[string]any
				json.Unmarshal(a.Body, &m)
				return m["valid"]
			}
			if valid(first.ID) != false || valid(second.ID) != true {
				t.Fatalf("after override: first %v second %v", valid(first.ID), valid(second.ID))
			}
			must(t, s.DeleteAssessment(ctx, "tr-o", second.ID))
			if valid(first.ID) != true {
				t.Fatalf("overridden assessment not valid again after the override's delete")
			}
			if _, err := s.GetAssessment(ctx, "tr-o", second.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("deleted assessment: %v", err)
			}
		})
	}
}
