// Package serving_test measures what tandem's scoring router adds to a
// request (issue 15): the same body scored straight at a stock MLflow
// scoring process and through POST /endpoints/NAME/score (key check,
// traffic split, admission, proxy), with GOMAXPROCS and 8x GOMAXPROCS
// clients at once (p=1, p=8: b.SetParallelism).
//
//	TANDEM_TEST_MLFLOW_VENV=... go test ./bench/serving -run '^$' -bench ScoringOverhead -benchtime 2000x
//
// Compare the ns/op of direct and routed for the added latency, and their
// inverse for the throughput ratio.
package serving_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

func BenchmarkScoringOverhead(b *testing.B) {
	venv := mlflowtest.Venv(b)
	if out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import sklearn").CombinedOutput(); err != nil {
		b.Skipf("no scikit-learn in %s: %s", venv, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(b), ArtifactsURL: storetest.FileURL(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	mux := http.NewServeMux()
	mux.Handle("/", r.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	svc := serving.New(serving.Config{Region: "local", Store: r.Store, Blobs: r.Blobs, Vault: r.Vault,
		Python: filepath.Join(venv, "bin", "python"), CacheDir: b.TempDir(), Reconcile: time.Second})
	mux.Handle(serving.APIPrefix, svc.APIHandler())
	mux.Handle(serving.APIPrefix+"/", svc.APIHandler())
	mux.Handle("/endpoints/", svc.ScoringHandler())
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(ctx) }()
	defer func() { cancel(); <-done }()

	out := mlflowtest.Python(b, ctx, venv, filepath.Join("..", "..", "serving", "testdata", "train.py"), srv.URL, "iris")
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var tr struct {
		Columns []string    `json:"columns"`
		Data    [][]float64 `json:"data"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &tr); err != nil {
		b.Fatal(err)
	}
	c, _ := client.New(client.Config{Workspace: "bench", Endpoints: []string{srv.URL}})
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep"}, "create"); err != nil {
		b.Fatal(err)
	}
	if _, err := c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris/1",
		RequestSettings: tandem.RequestSettings{RequestTimeoutMS: 30000, MaxConcurrentRequestsPerInstance: 64}}, "create"); err != nil {
		b.Fatal(err)
	}
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "update"); err != nil {
		b.Fatal(err)
	}
	var st *serving.DeploymentStatus
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if st, err = c.DeploymentStatus(ctx, "iris-ep", "blue"); err == nil && st.Ready == 1 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not ready: %+v %v", st, err)
		}
	}
	keys, err := c.EndpointKeys(ctx, "iris-ep")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": tr.Columns, "data": tr.Data}})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(url, key string) error {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d/invocations", st.Instances[0].Port)
	routed := srv.URL + "/endpoints/iris-ep/score"
	for _, conc := range []int{1, 8} {
		for _, t := range []struct{ name, url, key string }{{"direct", direct, ""}, {"routed", routed, keys.PrimaryKey}} {
			b.Run(fmt.Sprintf("%s/p=%d", t.name, conc), func(b *testing.B) {
				b.SetParallelism(conc)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := post(t.url, t.key); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
