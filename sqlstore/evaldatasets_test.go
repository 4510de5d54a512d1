package sqlstore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func records(t *testing.T, js string) []tandem.RecordInput {
	t.Helper()
	var out []tandem.RecordInput
	must(t, json.Unmarshal([]byte(js), &out))
	return out
}

func TestEvaluationDatasets(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "ds-"+name, "", nil)
			must(t, err)
			exp2, err := s.CreateExperiment(ctx, "ds2-"+name, "", nil)
			must(t, err)
			head := func() tandem.Position { p, _ := s.Head(ctx); return p }

			// Bad input changes nothing.
			before := head()
			_, err = s.CreateEvaluationDataset(ctx, " ", nil, nil)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.CreateEvaluationDataset(ctx, "qa", nil, []string{"424242"})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = s.UpsertDatasetRecords(ctx, "d-missing", records(t, `[{"inputs":{"q":"x"}}]`))
			wantCode(t, err, tandem.ENOTFOUND)
			wantCode(t, s.SetEvaluationDatasetTags(ctx, "d-missing", map[string]json.RawMessage{"a": json.RawMessage(`"b"`)}), tandem.ENOTFOUND)
			if head() != before {
				t.Fatalf("refused writes journalled: %v -> %v", before, head())
			}

			d, err := s.CreateEvaluationDataset(ctx, "qa", map[string]string{"mlflow.user": "ann", "team": "x"}, []string{exp, exp})
			must(t, err)
			if !strings.HasPrefix(d.ID, "d-") || d.CreatedBy != "ann" || d.Tags["team"] != "x" || !reflect.DeepEqual(d.ExperimentIDs, []string{exp}) || len(d.Digest) != 8 {
				t.Fatalf("created %+v", d)
			}

			// Upsert: the same inputs twice in one batch are one record;
			// a later upsert with those inputs updates it.
			res, err := s.UpsertDatasetRecords(ctx, d.ID, records(t, `[
				{"inputs":{"q":"2+2","n":1},"expectations":{"answer":"4"},"tags":{"mlflow.user":"bob"}},
				{"inputs":{"n":1,"q":"2+2"},"expectations":{"why":"sum"}},
				{"inputs":{"q":"capital of France"},"outputs":"Paris","source":{"source_type":"TRACE","source_data":{"trace_id":"tr-1"}}}]`))
			must(t, err)
			if res != (tandem.UpsertResult{Inserted: 2, Updated: 1}) {
				t.Fatalf("first upsert %+v", res)
			}
			res, err = s.UpsertDatasetRecords(ctx, d.ID, records(t, `[{"inputs":{"q":"capital of France"},"outputs":null,"tags":{"k":"v"}}]`))
			must(t, err)
			if res != (tandem.UpsertResult{Updated: 1}) {
				t.Fatalf("second upsert %+v", res)
			}
			recs, next, err := s.DatasetRecords(ctx, d.ID, 1, "")
			must(t, err)
			if len(recs) != 1 || next == "" {
				t.Fatalf("page 1: %d records, next %q", len(recs), next)
			}
			more, next2, err := s.DatasetRecords(ctx, d.ID, 1, next)
			must(t, err)
			if len(more) != 1 || next2 != "" || more[0].ID == recs[0].ID {
				t.Fatalf("page 2: %+v next %q", more, next2)
			}
			all := append(recs, more...)
			byQ := map[string]tandem.DatasetRecord{}
			for _, r := range all {
				var in map[string]any
				must(t, json.Unmarshal(r.Inputs, &in))
				byQ[in["q"].(string)] = r
			}
			sum, paris := byQ["2+2"], byQ["capital of France"]
			var exps map[string]string
			must(t, json.Unmarshal(sum.Expectations, &exps))
			if !reflect.DeepEqual(exps, map[string]string{"answer": "4", "why": "sum"}) || sum.CreatedBy != "bob" {
				t.Fatalf("merged record %+v", sum)
			}
			if paris.Outputs != nil || paris.SourceType != "TRACE" || paris.SourceID != "tr-1" || !strings.Contains(string(paris.Tags), `"k":"v"`) {
				t.Fatalf("updated record %+v (outputs %s)", paris, paris.Outputs)
			}
			got, err := s.GetEvaluationDataset(ctx, d.ID)
			must(t, err)
			if got.Profile != `{"num_records": 2}` || !strings.Contains(got.Schema, `"q":"string"`) || !strings.Contains(got.Schema, `"n":"integer"`) || got.Digest == "" {
				t.Fatalf("dataset after upserts %+v", got)
			}

			// Tags, links and search.
			must(t, s.SetEvaluationDatasetTags(ctx, d.ID, map[string]json.RawMessage{"stage": json.RawMessage(`"gold"`), "n": json.RawMessage(`3`), "gone": json.RawMessage(`null`)}))
			must(t, s.DeleteEvaluationDatasetTag(ctx, d.ID, "team"))
			must(t, s.DeleteEvaluationDatasetTag(ctx, d.ID, "team")) // idempotent
			h := head()
			_, err = s.LinkEvaluationDataset(ctx, d.ID, []string{exp}, nil) // already linked
			must(t, err)
			if head() != h {
				t.Fatalf("a link that changes nothing was journalled")
			}
			got, err = s.LinkEvaluationDataset(ctx, d.ID, []string{exp2}, []string{exp})
			must(t, err)
			if !reflect.DeepEqual(got.ExperimentIDs, []string{exp2}) || !reflect.DeepEqual(got.Tags, map[string]string{"mlflow.user": "ann", "stage": "gold", "n": "3"}) {
				t.Fatalf("after tags and links %+v", got)
			}
			_, err = s.LinkEvaluationDataset(ctx, d.ID, []string{"99999"}, nil)
			wantCode(t, err, tandem.ENOTFOUND)
			other, err := s.CreateEvaluationDataset(ctx, "other", nil, []string{exp})
			must(t, err)
			for _, tc := range []struct {
				in   tandem.DatasetSearch
				want []string
			}{
				{tandem.DatasetSearch{}, []string{other.ID, d.ID}},
				{tandem.DatasetSearch{OrderBy: []string{"name ASC"}}, []string{other.ID, d.ID}},
				{tandem.DatasetSearch{OrderBy: []string{"name DESC"}}, []string{d.ID, other.ID}},
				{tandem.DatasetSearch{Filter: "name = 'qa'"}, []string{d.ID}},
				{tandem.DatasetSearch{Filter: "name LIKE 'o%'"}, []string{other.ID}},
				{tandem.DatasetSearch{Filter: "tags.stage = 'gold' AND created_by = 'ann'"}, []string{d.ID}},
				{tandem.DatasetSearch{Filter: "name IN ('qa', 'nope')"}, []string{d.ID}},
				{tandem.DatasetSearch{ExperimentIDs: []string{exp}}, []string{other.ID}},
				{tandem.DatasetSearch{ExperimentIDs: []string{exp2}}, []string{d.ID}},
			} {
				ds, _, err := s.SearchEvaluationDatasets(ctx, tc.in)
				must(t, err)
				var ids []string
				for _, x := range ds {
					ids = append(ids, x.ID)
				}
				if !reflect.DeepEqual(ids, tc.want) {
					t.Errorf("search %+v: %v, want %v", tc.in, ids, tc.want)
				}
			}
			page, tok, err := s.SearchEvaluationDatasets(ctx, tandem.DatasetSearch{MaxResults: 1})
			must(t, err)
			page2, tok2, err := s.SearchEvaluationDatasets(ctx, tandem.DatasetSearch{MaxResults: 1, PageToken: tok})
			must(t, err)
			if len(page) != 1 || len(page2) != 1 || tok2 != "" || page[0].ID == page2[0].ID {
				t.Fatalf("paging: %v %q %v %q", page, tok, page2, tok2)
			}
			for _, f := range []string{"color = 'x'", "created_time LIKE 'x'", "tags.a > 'b'", "name = 'a' OR name = 'b'"} {
				_, _, err := s.SearchEvaluationDatasets(ctx, tandem.DatasetSearch{Filter: f})
				wantCode(t, err, tandem.EINVALID)
			}

			// Record deletion, then the whole dataset.
			n, err := s.DeleteDatasetRecords(ctx, d.ID, []string{sum.ID, "dr-none"})
			must(t, err)
			if n != 1 {
				t.Fatalf("deleted %d records", n)
			}
			got, err = s.GetEvaluationDataset(ctx, d.ID)
			must(t, err)
			if got.Profile != `{"num_records": 1}` {
				t.Fatalf("profile after delete %q", got.Profile)
			}
			must(t, s.DeleteEvaluationDataset(ctx, other.ID))
			must(t, s.DeleteEvaluationDataset(ctx, other.ID)) // idempotent, as MLflow's
			_, err = s.GetEvaluationDataset(ctx, other.ID)
			wantCode(t, err, tandem.ENOTFOUND)

			// A replica that applies the journal serves the same datasets.
			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			es, err := s.ReadJournal(ctx, 0, 10000)
			must(t, err)
			kinds := 0
			for _, e := range es {
				if e.Kind == tandem.KindEvalDatasets {
					kinds++
				}
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			if kinds == 0 {
				t.Fatal("no entries of kind evaluation_datasets")
			}
			want, err := s.GetEvaluationDataset(ctx, d.ID)
			must(t, err)
			have, err := replica.GetEvaluationDataset(ctx, d.ID)
			must(t, err)
			if !reflect.DeepEqual(want, have) {
				t.Fatalf("replica dataset\n%+v\nwant\n%+v", have, want)
			}
			wr, _, err := s.DatasetRecords(ctx, d.ID, 0, "")
			must(t, err)
			hr, _, err := replica.DatasetRecords(ctx, d.ID, 0, "")
			must(t, err)
			if !reflect.DeepEqual(wr, hr) || len(hr) != 1 {
				t.Fatalf("replica records %+v, want %+v", hr, wr)
			}
			if _, err := replica.GetEvaluationDataset(ctx, other.ID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("deleted dataset on the replica: %v", err)
			}
		})
	}
}

func TestScorers(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "sc-"+name, "", nil)
			must(t, err)
			exp2, err := s.CreateExperiment(ctx, "sc2-"+name, "", nil)
			must(t, err)
			_, err = s.RegisterScorer(ctx, exp, " ", `{}`)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.RegisterScorer(ctx, exp, "relevance", `{not json`)
			wantCode(t, err, tandem.EINVALID)
			_, err = s.RegisterScorer(ctx, "987654", "relevance", `{}`)
			wantCode(t, err, tandem.ENOTFOUND)

			v1, err := s.RegisterScorer(ctx, exp, "relevance", `{"v":1}`)
			must(t, err)
			v2, err := s.RegisterScorer(ctx, exp, "relevance", `{"v":2}`)
			must(t, err)
			if v1.Version != 1 || v2.Version != 2 || v1.ScorerID != v2.ScorerID || v1.ScorerID == "" {
				t.Fatalf("versions %+v %+v", v1, v2)
			}
			_, err = s.RegisterScorer(ctx, exp, "safety", `{"v":1}`)
			must(t, err)
			_, err = s.RegisterScorer(ctx, exp2, "relevance", `{"v":9}`)
			must(t, err)

			list, err := s.ListScorers(ctx, []string{exp2, exp})
			must(t, err)
			var got []string
			for _, v := range list {
				got = append(got, v.ExperimentID+"/"+v.Name+"/"+v.Serialized)
			}
			want := []string{exp + `/relevance/{"v":2}`, exp + `/safety/{"v":1}`, exp2 + `/relevance/{"v":9}`}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("list %v, want %v", got, want)
			}
			g, err := s.GetScorer(ctx, exp, "relevance", 1)
			must(t, err)
			if g.Serialized != `{"v":1}` {
				t.Fatalf("get v1 %+v", g)
			}
			g, err = s.GetScorer(ctx, exp, "relevance", 0)
			must(t, err)
			if g.Version != 2 {
				t.Fatalf("latest %+v", g)
			}
			_, err = s.GetScorer(ctx, exp, "relevance", 7)
			wantCode(t, err, tandem.ENOTFOUND)

			must(t, s.DeleteScorer(ctx, exp, "relevance", 2))
			wantCode(t, s.DeleteScorer(ctx, exp, "relevance", 2), tandem.ENOTFOUND)
			g, err = s.GetScorer(ctx, exp, "relevance", 0)
			must(t, err)
			if g.Version != 1 {
				t.Fatalf("latest after deleting v2 %+v", g)
			}
			must(t, s.DeleteScorer(ctx, exp, "safety", 0))
			_, err = s.ListScorerVersions(ctx, exp, "safety")
			wantCode(t, err, tandem.ENOTFOUND)

			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			es, err := s.ReadJournal(ctx, 0, 10000)
			must(t, err)
			for _, e := range es {
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			a, err := s.ListScorers(ctx, []string{exp, exp2})
			must(t, err)
			b, err := replica.ListScorers(ctx, []string{exp, exp2})
			must(t, err)
			if !reflect.DeepEqual(a, b) || len(b) != 2 {
				t.Fatalf("replica scorers %+v, want %+v", b, a)
			}
		})
	}
}

// TestPromptVersions: a prompt version (tagged as MLflow's client tags it)
// has a placeholder source, which a model version may not have; the
// reserved alias latest names the newest version.
func TestPromptVersions(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			prompt := []tandem.Tag{{Key: "mlflow.prompt.is_prompt", Value: "true"}}
			_, err := s.CreateRegisteredModel(ctx, "greet", "", prompt)
			must(t, err)
			for _, src := range []string{"dummy-source", "prompt-template"} {
				_, err := s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "greet", Source: src, Tags: prompt})
				must(t, err)
			}
			_, err = s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "greet", Source: "/etc/passwd", Tags: prompt})
			wantCode(t, err, tandem.EINVALID)
			_, err = s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "greet", Source: "dummy-source"})
			wantCode(t, err, tandem.EINVALID) // not a prompt: a local path
			_, err = s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "greet", Source: "dummy-source",
				Tags: append(append([]tandem.Tag{}, prompt...), tandem.Tag{Key: "mlflow.prompt.is_prompt", Value: "false"})})
			wantCode(t, err, tandem.EINVALID) // the last value of the tag decides
			mv, err := s.GetModelVersionByAlias(ctx, "greet", "latest")
			must(t, err)
			if mv.Version != 2 {
				t.Fatalf("latest is version %d, want 2", mv.Version)
			}
			_, err = s.CreateRegisteredModel(ctx, "empty", "", prompt)
			must(t, err)
			_, err = s.GetModelVersionByAlias(ctx, "empty", "LATEST")
			wantCode(t, err, tandem.ENOTFOUND)
		})
	}
}
