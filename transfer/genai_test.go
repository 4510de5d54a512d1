package transfer_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/bundle"
)

// TestGenAIRoundTrip: an evaluation dataset (tags, records, links to two
// experiments), a scorer with two versions, an issue and a webhook (its
// secret left behind: it arrives disabled) are exported with the whole
// workspace and imported into an empty one on SQLite and PostgreSQL,
// identical record by record and served again; a second import finds them
// present and writes nothing.
func TestGenAIRoundTrip(t *testing.T) {
	src := newWorkspace(t, storetest.SQLiteURL(t))
	const api = "/api/3.0/mlflow/"
	exp := callJSON(t, "POST", src.URL+"/api/2.0/mlflow/experiments/create", `{"name":"genai"}`)["experiment_id"].(string)
	exp2 := callJSON(t, "POST", src.URL+"/api/2.0/mlflow/experiments/create", `{"name":"genai-2"}`)["experiment_id"].(string)
	ds := callJSON(t, "POST", src.URL+api+"datasets/create", `{"name":"qa","experiment_ids":["`+exp+`","`+exp2+`"],"tags":"{\"stage\": \"dev\"}"}`)["dataset"].(map[string]any)
	id := ds["dataset_id"].(string)
	callJSON(t, "POST", src.URL+api+"datasets/"+id+"/records",
		`{"records":"[{\"inputs\": {\"q\": \"2+2\"}, \"expectations\": {\"answer\": \"4\"}}, {\"inputs\": {\"q\": \"sky\"}, \"outputs\": \"blue\"}]"}`)
	for _, v := range []string{"1", "2"} {
		callJSON(t, "POST", src.URL+api+"scorers/register", `{"experiment_id":"`+exp+`","name":"polite","serialized_scorer":"{\"v\": `+v+`}"}`)
	}
	hook, err := src.Store.CreateWebhook(t.Context(), tandem.Webhook{Name: "ci", URL: "https://93.184.216.34/hook", Status: tandem.WebhookActive,
		Events: []tandem.WebhookEvent{{Entity: "model_version", Action: "created"}}, SealedSecret: "sealed-by-the-source-key"})
	if err != nil {
		t.Fatal(err)
	}
	iss := callJSON(t, "POST", src.URL+api+"issues", `{"experiment_id":"`+exp+`","name":"slow","description":"p99","severity":"high","categories":["latency"]}`)["issue"].(map[string]any)
	issID := iss["issue_id"].(string)

	path := filepath.Join(t.TempDir(), "ws.tgz")
	if st := exportAll(t, src, path); st.EvaluationDatasets != 1 || st.Scorers != 1 || st.Issues != 1 || st.Webhooks != 1 {
		t.Fatalf("export stats %+v", st)
	}
	want, _, err := sqlstore.TransferDataset(t.Context(), src.Store.Reader(), id)
	if err != nil || len(want.Records) != 2 || len(want.ExperimentIDs) != 2 {
		t.Fatalf("source dataset %+v: %v", want, err)
	}
	wantSc, err := sqlstore.TransferScorers(t.Context(), src.Store.Reader(), exp)
	if err != nil || len(wantSc) != 1 || len(wantSc[0].Versions) != 2 {
		t.Fatalf("source scorers %+v: %v", wantSc, err)
	}
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			dst := newWorkspace(t, be.URL)
			rep, err := importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindEvaluationDataset][sqlstore.ImportNew] != 1 || rep.Counts[bundle.KindScorer][sqlstore.ImportNew] != 1 ||
				rep.Counts[bundle.KindIssue][sqlstore.ImportNew] != 1 || rep.Counts[bundle.KindWebhook][sqlstore.ImportNew] != 1 || rep.Conflicts() != 0 {
				t.Fatalf("import: %+v %+v", rep.Counts, rep.Notes)
			}
			got, ok, err := sqlstore.TransferDataset(t.Context(), dst.Store.Reader(), id)
			if err != nil || !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("imported dataset (%v, %v):\n%+v\nwant\n%+v", ok, err, got, want)
			}
			gotSc, err := sqlstore.TransferScorers(t.Context(), dst.Store.Reader(), exp)
			if err != nil || !reflect.DeepEqual(gotSc, wantSc) {
				t.Fatalf("imported scorers (%v):\n%+v\nwant\n%+v", err, gotSc, wantSc)
			}
			var recs []map[string]any
			raw := callJSON(t, "GET", dst.URL+api+"datasets/"+id+"/records", "")["records"].(string)
			if err := json.Unmarshal([]byte(raw), &recs); err != nil || len(recs) != 2 {
				t.Fatalf("records served after import: %s (%v)", raw, err)
			}
			sc := callJSON(t, "GET", dst.URL+api+"scorers/get?experiment_id="+exp+"&name=polite", "")["scorer"].(map[string]any)
			if sc["scorer_version"] != 2.0 || sc["serialized_scorer"] != `{"v": 2}` {
				t.Fatalf("scorer served after import: %v", sc)
			}
			// The webhook came without its secret, so disabled until one is set.
			gotHook, err := dst.Store.GetWebhook(t.Context(), hook.ID)
			if err != nil || gotHook.SealedSecret != "" || gotHook.Status != tandem.WebhookDisabled || gotHook.URL != hook.URL ||
				gotHook.Created != hook.Created || len(gotHook.Events) != 1 {
				t.Fatalf("imported webhook: %+v %v", gotHook, err)
			}
			got2 := callJSON(t, "GET", dst.URL+api+"issues/"+issID, "")["issue"].(map[string]any)
			if !reflect.DeepEqual(got2, iss) {
				t.Fatalf("issue served after import:\n%v\nwant\n%v", got2, iss)
			}
			before := head(t, dst)
			rep, err = importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindEvaluationDataset][sqlstore.ImportPresent] != 1 || rep.Counts[bundle.KindScorer][sqlstore.ImportPresent] != 1 ||
				rep.Counts[bundle.KindIssue][sqlstore.ImportPresent] != 1 || rep.Counts[bundle.KindWebhook][sqlstore.ImportPresent] != 1 || head(t, dst) != before {
				t.Fatalf("second import: %+v, head %v -> %v", rep.Counts, before, head(t, dst))
			}
		})
	}
}
