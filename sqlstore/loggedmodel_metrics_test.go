package sqlstore_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// Metrics logged with a model_id are kept on the logged model (with run
// and dataset), searched and ordered by, and reach a secondary that
// applies the journal.
func TestLoggedModelMetrics(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			exp, err := s.CreateExperiment(ctx, "lmm", "", nil)
			must(err)
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, UserID: "u", StartTime: 1})
			must(err)
			model := func(name string) string {
				lm, err := s.CreateLoggedModel(ctx, tandem.NewLoggedModel{ExperimentID: exp, Name: name, SourceRunID: run})
				must(err)
				return lm.ModelID
			}
			good, bad, plain := model("good"), model("bad"), model("plain")
			must(s.LogBatch(ctx, run, []tandem.Metric{
				{Key: "acc", Value: 0.9, Timestamp: 10, Step: 1, ModelID: good, DatasetName: "eval", DatasetDigest: "d1"},
				{Key: "acc", Value: 0.4, Timestamp: 10, Step: 1, ModelID: bad, DatasetName: "eval", DatasetDigest: "d1"},
				{Key: "acc", Value: 0.95, Timestamp: 11, Step: 1, ModelID: bad, DatasetName: "train", DatasetDigest: "d2"},
				{Key: "loss", Value: math.NaN(), Timestamp: 10, Step: 2, ModelID: good},
				{Key: "other", Value: 1, Timestamp: 10},
			}, nil, nil))
			// the same point again changes nothing
			must(s.LogBatch(ctx, run, []tandem.Metric{{Key: "acc", Value: 0.9, Timestamp: 10, Step: 1, ModelID: good, DatasetName: "eval", DatasetDigest: "d1"}}, nil, nil))

			// an unknown model refuses the whole batch
			err = s.LogBatch(ctx, run, []tandem.Metric{{Key: "late", Value: 1, Timestamp: 10}, {Key: "acc", Value: 1, Timestamp: 12, ModelID: "m-0123456789abcdef0123456789abcdef"}}, nil, nil)
			if tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("unknown model: %v", err)
			}
			lm, err := s.GetLoggedModel(ctx, good, false)
			must(err)
			if len(lm.Metrics) != 2 || lm.Metrics[0].Key != "acc" || lm.Metrics[0].Value != 0.9 || lm.Metrics[0].RunID != run ||
				lm.Metrics[0].DatasetName != "eval" || lm.Metrics[0].DatasetDigest != "d1" || lm.Metrics[0].ModelID != good ||
				lm.Metrics[1].Key != "loss" || !math.IsNaN(lm.Metrics[1].Value) || lm.Metrics[1].DatasetName != "" {
				t.Fatalf("good's metrics: %+v", lm.Metrics)
			}
			if lm, _ := s.GetLoggedModel(ctx, plain, false); len(lm.Metrics) != 0 {
				t.Fatalf("plain has metrics: %+v", lm.Metrics)
			}
			r, err := s.GetRun(ctx, run)
			must(err)
			if len(r.Metrics) != 3 {
				t.Fatalf("run metrics: %+v", r.Metrics)
			}

			names := func(filter string, ds []tandem.LoggedModelDataset, order []tandem.LoggedModelOrder) string {
				t.Helper()
				lms, _, err := s.SearchLoggedModels(ctx, []string{exp}, filter, ds, order, 0, "")
				must(err)
				out := ""
				for _, lm := range lms {
					out += lm.Name + " "
				}
				return out
			}
			for _, c := range []struct {
				filter string
				ds     []tandem.LoggedModelDataset
				order  []tandem.LoggedModelOrder
				want   string
			}{
				{"metrics.acc > 0.5", nil, []tandem.LoggedModelOrder{{Field: "name", Ascending: true}}, "bad good "},
				{"metrics.acc > 0.5", []tandem.LoggedModelDataset{{Name: "eval"}}, nil, "good "},
				{"metrics.acc > 0.5", []tandem.LoggedModelDataset{{Name: "train", Digest: "d2"}}, nil, "bad "},
				{"metrics.acc > 0.5", []tandem.LoggedModelDataset{{Name: "train", Digest: "other"}}, nil, ""},
				{"metrics.loss < 1", nil, nil, ""}, // a NaN point compares with nothing
				{"metrics.acc >= 0.95 AND name = 'bad'", nil, nil, "bad "},
				{"", []tandem.LoggedModelDataset{{Name: "train"}}, nil, "bad "},
				{"", nil, []tandem.LoggedModelOrder{{Field: "metrics.acc", Ascending: false, DatasetName: "eval"}}, "good bad plain "},
				{"", nil, []tandem.LoggedModelOrder{{Field: "metrics.acc", Ascending: true}}, "good bad plain "}, // bad's latest is 0.95
			} {
				if got := names(c.filter, c.ds, c.order); got != c.want {
					t.Errorf("search %q %v %v = %q, want %q", c.filter, c.ds, c.order, got, c.want)
				}
			}

			// a bundle carries them: imported elsewhere, the model has them
			rec, ok, err := sqlstore.TransferLoggedModel(ctx, s.Reader(), good)
			if err != nil || !ok || len(rec.Metrics) != 2 || rec.Metrics[0].RunID != run {
				t.Fatalf("exported: %v %v %+v", ok, err, rec.Metrics)
			}
			dst, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(err)
			if _, err := dst.ImportLoggedModel(ctx, rec); err != nil {
				t.Fatal(err)
			}
			a, _ := s.GetLoggedModel(ctx, good, false)
			imported, err := dst.GetLoggedModel(ctx, good, false)
			must(err)
			if fmt.Sprint(a.Metrics) != fmt.Sprint(imported.Metrics) {
				t.Fatalf("imported metrics:\n%+v\nwant\n%+v", imported.Metrics, a.Metrics)
			}
			if res, err := dst.ImportLoggedModel(ctx, rec); err != nil || res.Status != sqlstore.ImportPresent {
				t.Fatalf("re-import: %+v %v", res, err)
			}
			dst.Close()

			// a secondary applying the journal ends with the same metrics
			for _, url := range []string{storetest.SQLiteURL(t), storetest.PostgresURL(t)} {
				if url == "" {
					continue
				}
				sec, err := sqlstore.Open(ctx, url, sqlstore.Options{})
				must(err)
				es, err := s.ReadJournal(ctx, 0, 10000)
				must(err)
				for _, e := range es {
					if _, err := sec.Apply(ctx, e); err != nil {
						t.Fatalf("apply %s: %v", e.Op, err)
					}
				}
				for _, id := range []string{good, bad} {
					a, _ := s.GetLoggedModel(ctx, id, false)
					b, err := sec.GetLoggedModel(ctx, id, false)
					must(err)
					if fmt.Sprint(a.Metrics) != fmt.Sprint(b.Metrics) || len(b.Metrics) != 2 {
						t.Fatalf("secondary's metrics of %s:\n%+v\nprimary's:\n%+v", id, b.Metrics, a.Metrics)
					}
				}
				sec.Close()
			}
		})
	}
}
