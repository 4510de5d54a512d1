package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// registryFixture creates, when the tracking migration has not created
// them, the experiments and runs tables the registry checks (same columns
// as the tracking schema), and adds experiment "1" and run "r1".
func registryFixture(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS experiments (experiment_id TEXT PRIMARY KEY, num_id BIGINT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,
			artifact_location TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, creation_time BIGINT NOT NULL, last_update_time BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, name TEXT NOT NULL, user_id TEXT NOT NULL,
			status TEXT NOT NULL, start_time BIGINT NOT NULL, end_time BIGINT, artifact_uri TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, deleted_time BIGINT)`,
		`INSERT INTO experiments (experiment_id, num_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES ('1', 1, 'reg-test', 'mlflow-artifacts:/1', 'active', 0, 0) ON CONFLICT DO NOTHING`,
		`INSERT INTO experiments (experiment_id, num_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES ('2', 2, 'reg-test-deleted', 'mlflow-artifacts:/2', 'deleted', 0, 0) ON CONFLICT DO NOTHING`,
		`INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage)
			VALUES ('r1', '1', 'run', 'u', 'RUNNING', 0, 'mlflow-artifacts:/1/r1/artifacts', 'active') ON CONFLICT DO NOTHING`,
	} {
		if _, err := s.DB().Exec(q); err != nil {
			t.Fatalf("fixture: %v\n%s", err, q)
		}
	}
}

func openRegistry(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	registryFixture(t, s)
	return s
}

func head(t *testing.T, s *sqlstore.Store) int64 {
	t.Helper()
	p, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p.Seq
}

func TestRegistryLifecycle(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openRegistry(t, b.URL)

			lm, err := s.CreateLoggedModel(ctx, tandem.NewLoggedModel{ExperimentID: "1", Name: "model", SourceRunID: "r1",
				Tags: []tandem.Tag{{Key: "mlflow.user", Value: "me"}}, Params: []tandem.Tag{{Key: "lr", Value: "0.1"}}})
			if err != nil {
				t.Fatal(err)
			}
			if !tandem.ValidModelID(lm.ModelID) || lm.Status != tandem.LoggedModelPending ||
				lm.ArtifactLocation != "mlflow-artifacts:/1/models/"+lm.ModelID+"/artifacts" || len(lm.Params) != 1 || len(lm.Tags) != 1 {
				t.Fatalf("created logged model = %+v", lm)
			}
			if _, err := s.CreateLoggedModel(ctx, tandem.NewLoggedModel{ExperimentID: "99"}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("logged model in a missing experiment: %v", err)
			}
			if _, err := s.CreateLoggedModel(ctx, tandem.NewLoggedModel{ExperimentID: "2"}); tandem.ErrorCode(err) != tandem.EINVALIDSTATE {
				t.Fatalf("logged model in a deleted experiment: %v", err)
			}
			if lm, err = s.FinalizeLoggedModel(ctx, lm.ModelID, tandem.LoggedModelReady); err != nil || lm.Status != tandem.LoggedModelReady {
				t.Fatalf("finalize: %+v %v", lm, err)
			}

			if _, err := s.CreateRegisteredModel(ctx, "M", "", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateRegisteredModel(ctx, "M", "", nil); tandem.ErrorCode(err) != tandem.EEXISTS {
				t.Fatalf("duplicate create: %v", err)
			}
			mv, err := s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "M", Source: "models:/" + lm.ModelID, ModelID: lm.ModelID})
			if err != nil {
				t.Fatal(err)
			}
			if mv.Version != 1 || mv.RunID != "r1" || mv.Source != "models:/"+lm.ModelID || mv.CurrentStage != "None" {
				t.Fatalf("model version = %+v", mv)
			}
			uri, err := s.GetModelVersionDownloadURI(ctx, "M", 1)
			if err != nil || uri != lm.ArtifactLocation {
				t.Fatalf("download uri = %q, %v; want %q", uri, err, lm.ArtifactLocation)
			}
			lm, _ = s.GetLoggedModel(ctx, lm.ModelID, false)
			if got := tagValue(lm.Tags, "mlflow.modelVersions"); got != `[{"name": "M", "version": 1}]` {
				t.Fatalf("mlflow.modelVersions = %q", got)
			}

			// Aliases resolve, move, and vanish with their version.
			if err := s.SetRegisteredModelAlias(ctx, "M", "champion", 1); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetModelVersionByAlias(ctx, "M", "champion")
			if err != nil || got.Version != 1 || len(got.Aliases) != 1 || got.Aliases[0] != "champion" {
				t.Fatalf("by alias: %+v %v", got, err)
			}
			if _, err := s.GetModelVersionByAlias(ctx, "M", "nope"); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("missing alias: %v", err)
			}
			if err := s.SetRegisteredModelAlias(ctx, "M", "champion", 7); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("alias to a missing version: %v", err)
			}
			mv2, err := s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "M", Source: "s3://bucket/model"})
			if err != nil || mv2.Version != 2 {
				t.Fatalf("second version: %+v %v", mv2, err)
			}
			if err := s.SetRegisteredModelAlias(ctx, "M", "champion", 2); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.GetModelVersionByAlias(ctx, "M", "champion"); got.Version != 2 {
				t.Fatalf("moved alias resolves to %d", got.Version)
			}
			if err := s.DeleteModelVersion(ctx, "M", 2); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetModelVersionByAlias(ctx, "M", "champion"); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("alias of a deleted version: %v", err)
			}
			// A deleted version's number is not reused.
			mv3, err := s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "M", Source: "s3://bucket/model"})
			if err != nil || mv3.Version != 3 {
				t.Fatalf("version after a delete: %+v %v", mv3, err)
			}

			// Stages: archive_existing_versions moves the others out.
			if _, err := s.TransitionModelVersionStage(ctx, "M", 1, "production", false); err != nil {
				t.Fatal(err)
			}
			if _, err := s.TransitionModelVersionStage(ctx, "M", 3, "Production", true); err != nil {
				t.Fatal(err)
			}
			if v1, _ := s.GetModelVersion(ctx, "M", 1); v1.CurrentStage != tandem.StageArchived {
				t.Fatalf("v1 stage = %s, want Archived", v1.CurrentStage)
			}
			latest, err := s.GetLatestVersions(ctx, "M", []string{"Production"})
			if err != nil || len(latest) != 1 || latest[0].Version != 3 {
				t.Fatalf("latest production: %+v %v", latest, err)
			}
			if _, err := s.TransitionModelVersionStage(ctx, "M", 3, "Bogus", false); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("bogus stage: %v", err)
			}

			// Rename carries versions and aliases.
			if err := s.SetRegisteredModelAlias(ctx, "M", "prod", 3); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RenameRegisteredModel(ctx, "M", "M2"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.GetModelVersionByAlias(ctx, "M2", "prod"); err != nil || got.Version != 3 || got.Name != "M2" {
				t.Fatalf("alias after rename: %+v %v", got, err)
			}
			if _, err := s.GetRegisteredModel(ctx, "M"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("old name after rename: %v", err)
			}

			// Search.
			for _, n := range []string{"alpha", "Alphabet", "beta"} {
				if _, err := s.CreateRegisteredModel(ctx, n, "", []tandem.Tag{{Key: "team", Value: n[:1]}}); err != nil {
					t.Fatal(err)
				}
			}
			names := func(filter string, order ...string) []string {
				t.Helper()
				rms, _, err := s.SearchRegisteredModels(ctx, filter, 0, order, "")
				if err != nil {
					t.Fatalf("search %q: %v", filter, err)
				}
				var out []string
				for _, rm := range rms {
					out = append(out, rm.Name)
				}
				return out
			}
			if got := fmt.Sprint(names("name LIKE 'alpha%'")); got != "[alpha]" {
				t.Fatalf("LIKE is case-sensitive: %s", got)
			}
			if got := fmt.Sprint(names("name ILIKE 'alpha%'")); got != "[Alphabet alpha]" {
				t.Fatalf("ILIKE: %s", got)
			}
			if got := fmt.Sprint(names("tags.team = 'b'")); got != "[beta]" {
				t.Fatalf("tag filter: %s", got)
			}
			if got := fmt.Sprint(names("", "name DESC")); got != "[beta alpha M2 Alphabet]" {
				t.Fatalf("order by name DESC: %s", got)
			}
			// Prompts are left out unless asked for; the client adds the
			// prompt condition to every model search.
			if _, err := s.CreateRegisteredModel(ctx, "alpha-prompt", "", []tandem.Tag{{Key: "mlflow.prompt.is_prompt", Value: "true"}}); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(names("name LIKE 'alpha%' AND tag.`mlflow.prompt.is_prompt` != 'true'")); got != "[alpha]" {
				t.Fatalf("client's model search: %s", got)
			}
			if got := fmt.Sprint(names("tags.`mlflow.prompt.is_prompt` = 'true'")); got != "[alpha-prompt]" {
				t.Fatalf("prompt search: %s", got)
			}
			if err := s.DeleteRegisteredModel(ctx, "alpha-prompt"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.SearchRegisteredModels(ctx, "run_id = 'x'", 0, nil, ""); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("bad filter key: %v", err)
			}
			page1, tok, err := s.SearchRegisteredModels(ctx, "", 3, nil, "")
			if err != nil || len(page1) != 3 || tok == "" {
				t.Fatalf("page 1: %d %q %v", len(page1), tok, err)
			}
			page2, tok2, err := s.SearchRegisteredModels(ctx, "", 3, nil, tok)
			if err != nil || len(page2) != 1 || tok2 != "" {
				t.Fatalf("page 2: %d %q %v", len(page2), tok2, err)
			}
			mvs, _, err := s.SearchModelVersions(ctx, "name = 'M2' AND version_number >= 1", 0, []string{"version_number DESC"}, "")
			if err != nil || len(mvs) != 2 || mvs[0].Version != 3 || mvs[1].Version != 1 {
				t.Fatalf("search versions: %+v %v", mvs, err)
			}
			mvs, _, err = s.SearchModelVersions(ctx, "run_id IN ('r1', 'zz')", 0, nil, "")
			if err != nil || len(mvs) != 1 || mvs[0].Version != 1 {
				t.Fatalf("search versions by run: %+v %v", mvs, err)
			}

			lms, _, err := s.SearchLoggedModels(ctx, []string{"1"}, "params.lr = '0.1' AND name = 'model'", nil, nil, 0, "")
			if err != nil || len(lms) != 1 || lms[0].ModelID != lm.ModelID {
				t.Fatalf("search logged models: %+v %v", lms, err)
			}
			// IN on params and tags, and the experiment as an attribute, as
			// MLflow's store takes them.
			for filter, want := range map[string]int{"params.lr IN ('0.1', '0.2')": 1, "params.lr NOT IN ('0.1')": 0,
				"params.lr IN ('0.3')": 0, "experiment_id = '1'": 1, "experiment_id != '1'": 0} {
				lms, _, err := s.SearchLoggedModels(ctx, []string{"1"}, filter, nil, nil, 0, "")
				if err != nil || len(lms) != want {
					t.Errorf("search logged models %q: %d models, %v; want %d", filter, len(lms), err, want)
				}
			}
			if err := s.DeleteLoggedModel(ctx, lm.ModelID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetLoggedModel(ctx, lm.ModelID, false); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("deleted logged model: %v", err)
			}
			if _, err := s.GetLoggedModel(ctx, lm.ModelID, true); err != nil {
				t.Fatalf("deleted logged model with allow_deleted: %v", err)
			}
			if err := s.DeleteRegisteredModel(ctx, "M2"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetModelVersion(ctx, "M2", 1); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("version of a deleted model: %v", err)
			}
		})
	}
}

func tagValue(tags []tandem.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// TestModelVersionNumbersUnderConcurrency creates versions from many
// goroutines: every create gets a distinct number and together they are 1..n.
func TestModelVersionNumbersUnderConcurrency(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := openRegistry(t, b.URL)
			if _, err := s.CreateRegisteredModel(ctx, "C", "", nil); err != nil {
				t.Fatal(err)
			}
			const n = 24
			var wg sync.WaitGroup
			versions := make([]int64, n)
			errs := make([]error, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mv, err := s.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "C", Source: fmt.Sprintf("s3://b/%d", i)})
					versions[i], errs[i] = mv.Version, err
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
			for i, v := range versions {
				if v != int64(i+1) {
					t.Fatalf("versions = %v; want 1..%d without duplicates", versions, n)
				}
			}
			mvs, _, err := s.SearchModelVersions(ctx, "name = 'C'", 0, nil, "")
			if err != nil || len(mvs) != n {
				t.Fatalf("stored versions: %d %v", len(mvs), err)
			}
		})
	}
}

// TestRegistryEntriesReplay applies a primary's registry journal to a fresh
// store (as a secondary does) and checks both end in the same state: the
// appliers depend only on the payload.
func TestRegistryEntriesReplay(t *testing.T) {
	ctx := context.Background()
	p := openRegistry(t, storetest.SQLiteURL(t))
	lm, err := p.CreateLoggedModel(ctx, tandem.NewLoggedModel{ExperimentID: "1", Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = p.CreateRegisteredModel(ctx, "R", "d", []tandem.Tag{{Key: "a", Value: "b"}})
	must(err)
	_, err = p.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "R", Source: "models:/" + lm.ModelID, ModelID: lm.ModelID})
	must(err)
	must(p.SetRegisteredModelAlias(ctx, "R", "best", 1))
	_, err = p.TransitionModelVersionStage(ctx, "R", 1, "Staging", true)
	must(err)
	must(p.SetModelVersionTag(ctx, "R", 1, "k", "v"))
	must(p.LogLoggedModelParams(ctx, lm.ModelID, []tandem.Tag{{Key: "x", Value: "1"}}))

	for _, url := range []string{storetest.SQLiteURL(t), storetest.PostgresURL(t)} {
		if url == "" {
			continue
		}
		sec := openRegistry(t, url)
		es, err := p.ReadJournal(ctx, 0, 1000)
		must(err)
		for _, e := range es {
			if _, err := sec.Apply(ctx, e); err != nil {
				t.Fatalf("apply %s: %v", e.Op, err)
			}
		}
		a, _ := p.GetRegisteredModel(ctx, "R")
		b, err := sec.GetRegisteredModel(ctx, "R")
		must(err)
		if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
			t.Fatalf("secondary differs:\n%+v\n%+v", a, b)
		}
		la, _ := p.GetLoggedModel(ctx, lm.ModelID, false)
		lb, err := sec.GetLoggedModel(ctx, lm.ModelID, false)
		must(err)
		if fmt.Sprintf("%+v", la) != fmt.Sprintf("%+v", lb) {
			t.Fatalf("secondary logged model differs:\n%+v\n%+v", la, lb)
		}
	}
}
