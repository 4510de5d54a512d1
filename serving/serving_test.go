package serving_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// venvWithSklearn is the stock MLflow environment, when it has scikit-learn.
func venvWithSklearn(t *testing.T) string {
	venv := mlflowtest.Venv(t)
	if out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import sklearn").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no scikit-learn in %s under CI: %s", venv, out)
		}
		t.Skipf("no scikit-learn in %s", venv)
	}
	return venv
}

// region1 is a single region with the serving Service mounted as the
// region will mount it (see the wiring in the report), served on loopback.
type region1 struct {
	r   *region.Region
	svc *serving.Service
	srv *httptest.Server
	c   *client.Client
}

func startRegion(t *testing.T, python string) *region1 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", r.Handler())
	rr := &region1{r: r}
	srv := httptest.NewServer(mux)
	rr.svc = serving.New(serving.Config{Region: "local", Store: r.Store, Blobs: r.Blobs, Vault: r.Vault, Python: python,
		CacheDir: t.TempDir(), URL: srv.URL, Reconcile: 2 * time.Second})
	mux.Handle(serving.APIPrefix, rr.svc.APIHandler())
	mux.Handle(serving.APIPrefix+"/", rr.svc.APIHandler())
	mux.Handle("/endpoints/", rr.svc.ScoringHandler())
	done := make(chan struct{})
	go func() { defer close(done); rr.svc.Run(ctx) }()
	rr.srv = srv
	rr.c, err = client.New(client.Config{Workspace: "serving", Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; srv.Close(); r.Close() })
	return rr
}

type trained struct {
	Version     int64       `json:"version"`
	Columns     []string    `json:"columns"`
	Data        [][]float64 `json:"data"`
	Predictions []int       `json:"predictions"`
}

// train runs testdata/train.py with the stock client against a region:
// it registers the next version of model iris and prints what it trained.
func train(t *testing.T, ctx context.Context, venv, url string) trained {
	t.Helper()
	out := mlflowtest.Python(t, ctx, venv, filepath.Join("testdata", "train.py"), url, "iris")
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var tr trained
	if err := json.Unmarshal(lines[len(lines)-1], &tr); err != nil {
		t.Fatalf("train output: %v\n%s", err, out)
	}
	return tr
}

func waitReady(t *testing.T, c *client.Client, ep, dep string, n int, cond func(*serving.DeploymentStatus) bool) *serving.DeploymentStatus {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(4 * time.Minute)
	var last *serving.DeploymentStatus
	for time.Now().Before(deadline) {
		st, err := c.DeploymentStatus(ctx, ep, dep)
		if err == nil {
			last = st
			if st.Ready >= n && (cond == nil || cond(st)) {
				return st
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	logs, _ := c.DeploymentLogs(ctx, ep, dep, 50)
	t.Fatalf("deployment %s/%s not ready: %+v\n%v", ep, dep, last, logs)
	return nil
}

func score(t *testing.T, url, key string, body string) (int, string) {
	t.Helper()
	status, _, resp := scoreWith(t, url, key, body, nil)
	return status, resp
}

// scoreWith scores once with extra request headers and returns the
// answer's status, headers and body.
func scoreWith(t *testing.T, url, key, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.String()
}

// TestScoreStockModel: a scikit-learn model registered with the stock
// client is served by an endpoint with a two-instance deployment; HTTP
// scoring (dataframe_split and dataframe_records) returns what
// mlflow.pyfunc.load_model predicts; a wrong key is 401, an unknown
// endpoint 404, a malformed body the scoring server's own 400; a scoring
// process killed is restarted while every request keeps succeeding.
func TestScoreStockModel(t *testing.T) {
	venv := venvWithSklearn(t)
	python := filepath.Join(venv, "bin", "python")
	rg := startRegion(t, python)
	ctx := context.Background()
	tr := train(t, ctx, venv, rg.srv.URL)
	c := rg.c

	// A deployment of a version that does not exist is refused, and
	// nothing is created.
	_, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep"}, "create")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:7"}, "create")
	if tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("deployment of a missing version: %v", err)
	}
	if ds, err := c.ListDeployments(ctx, "iris-ep"); err != nil || len(ds) != 0 {
		t.Fatalf("deployments after a refused create: %v %v", ds, err)
	}
	_, err = c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris/1", InstanceCount: 2,
		RequestSettings: tandem.RequestSettings{RequestTimeoutMS: 30000, MaxConcurrentRequestsPerInstance: 8}}, "create")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "update"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, "iris-ep", "blue", 2, nil)
	keys, err := c.EndpointKeys(ctx, "iris-ep")
	if err != nil || keys.PrimaryKey == "" || keys.SecondaryKey == "" || keys.PrimaryKey == keys.SecondaryKey {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	ep, _ := c.GetEndpoint(ctx, "iris-ep")
	scoreURL := rg.srv.URL + "/endpoints/iris-ep/score"
	if ep.ScoringURI != scoreURL {
		t.Fatalf("scoring_uri %q", ep.ScoringURI)
	}

	split, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": tr.Columns, "data": tr.Data}})
	var recs []map[string]float64
	for _, row := range tr.Data {
		m := map[string]float64{}
		for i, col := range tr.Columns {
			m[col] = row[i]
		}
		recs = append(recs, m)
	}
	records, _ := json.Marshal(map[string]any{"dataframe_records": recs})
	want := fmt.Sprint(tr.Predictions)
	for name, body := range map[string][]byte{"dataframe_split": split, "dataframe_records": records} {
		for _, key := range []string{keys.PrimaryKey, keys.SecondaryKey} {
			status, resp := score(t, scoreURL, key, string(body))
			var got struct {
				Predictions []int `json:"predictions"`
			}
			json.Unmarshal([]byte(resp), &got)
			if status != 200 || fmt.Sprint(got.Predictions) != want {
				t.Fatalf("%s: %d %s; want predictions %s", name, status, resp, want)
			}
		}
	}
	// /invocations answers the same.
	if status, resp := score(t, rg.srv.URL+"/endpoints/iris-ep/invocations", keys.PrimaryKey, string(split)); status != 200 || !strings.Contains(resp, "predictions") {
		t.Fatalf("invocations: %d %s", status, resp)
	}
	// The Go client's Score (what tandem online-endpoint invoke sends).
	res, err := c.Score(ctx, "iris-ep", keys.PrimaryKey, "", "", split)
	if err != nil || res.Status != 200 || res.Deployment != "blue" {
		t.Fatalf("client score: %+v %v", res, err)
	}
	// Refusals.
	if status, _ := score(t, scoreURL, "", string(split)); status != 401 {
		t.Fatalf("no key: %d", status)
	}
	if status, _ := score(t, scoreURL, "wrong-key", string(split)); status != 401 {
		t.Fatalf("wrong key: %d", status)
	}
	if status, _ := score(t, rg.srv.URL+"/endpoints/nope-ep/score", keys.PrimaryKey, string(split)); status != 404 {
		t.Fatalf("unknown endpoint: %d", status)
	}
	if status, resp := score(t, scoreURL, keys.PrimaryKey, `{"dataframe_split": 12}`); status != 400 || !strings.Contains(resp, "error_code") {
		t.Fatalf("malformed body: %d %s (want the scoring server's 400)", status, resp)
	}
	// Regenerating the primary key: the old one stops working, the
	// secondary keeps working.
	if err := c.RegenerateEndpointKey(ctx, "iris-ep", "Primary"); err != nil {
		t.Fatal(err)
	}
	if status, _ := score(t, scoreURL, keys.PrimaryKey, string(split)); status != 401 {
		t.Fatalf("old primary key after regenerate: %d", status)
	}
	if status, _ := score(t, scoreURL, keys.SecondaryKey, string(split)); status != 200 {
		t.Fatalf("secondary key after regenerate: %d", status)
	}
	key := keys.SecondaryKey

	// Kill one scoring process; score continuously until it is back.
	st, _ := c.DeploymentStatus(ctx, "iris-ep", "blue")
	victim := st.Instances[0]
	var okN, failN, during atomic.Int64
	var firstFail atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var down atomic.Bool
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, resp := score(t, scoreURL, key, string(split))
				var got struct {
					Predictions []int `json:"predictions"`
				}
				json.Unmarshal([]byte(resp), &got)
				if status == 200 && fmt.Sprint(got.Predictions) == want {
					okN.Add(1)
					if down.Load() {
						during.Add(1)
					}
				} else {
					failN.Add(1)
					firstFail.CompareAndSwap(nil, fmt.Sprintf("%d %s", status, resp))
				}
			}
		}()
	}
	for okN.Load() < 5 && failN.Load() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if failN.Load() != 0 {
		close(stop)
		wg.Wait()
		t.Fatalf("scoring failed before the kill: %v", firstFail.Load())
	}
	down.Store(true)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, "iris-ep", "blue", 2, func(st *serving.DeploymentStatus) bool {
		for _, in := range st.Instances {
			if in.ID == victim.ID {
				return in.Restarts >= 1 && in.Ready && in.PID != victim.PID
			}
		}
		return false
	})
	down.Store(false)
	close(stop)
	wg.Wait()
	if failN.Load() != 0 || during.Load() == 0 {
		t.Fatalf("while a process restarted: %d ok (%d during the restart), %d failed (first: %v)", okN.Load(), during.Load(), failN.Load(), firstFail.Load())
	}
	t.Logf("while a process restarted: %d requests answered (%d during the restart), 0 failed", okN.Load(), during.Load())

	// Blue/green: version 2 of the model as green, at 10% of the traffic.
	if tr2 := train(t, ctx, venv, rg.srv.URL); tr2.Version != 2 || fmt.Sprint(tr2.Predictions) != want {
		t.Fatalf("second training: %+v", tr2)
	}
	settings := tandem.RequestSettings{RequestTimeoutMS: 30000, MaxConcurrentRequestsPerInstance: 8}
	if _, err := c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "green", Model: "models:/iris/2", RequestSettings: settings}, "create"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, "iris-ep", "green", 1, nil)
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 90, "green": 10}}, "update"); err != nil {
		t.Fatal(err)
	}
	byDep := map[string]int{}
	for range 1000 {
		res, err := c.Score(ctx, "iris-ep", key, "", "", split)
		if err != nil || res.Status != 200 {
			t.Fatalf("blue/green score: %+v %v", res, err)
		}
		byDep[res.Deployment]++
	}
	// Binomial(1000, 0.1): mean 100, sd 9.5; 5 sd either side.
	if byDep["green"] < 52 || byDep["green"] > 148 || byDep["blue"]+byDep["green"] != 1000 {
		t.Fatalf("90/10 split over 1000 requests: %v", byDep)
	}
	t.Logf("90/10 split over 1000 requests: %v", byDep)
	if res, err := c.Score(ctx, "iris-ep", key, "green", "", split); err != nil || res.Status != 200 || res.Deployment != "green" {
		t.Fatalf("scoring green by name: %+v %v", res, err)
	}
	// Mirror: every live request to blue, half of them copied to green.
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100, "green": 0},
		MirrorTraffic: map[string]int{"green": 50}}, "update"); err != nil {
		t.Fatal(err)
	}
	greenServed := func() int64 {
		st, err := c.DeploymentStatus(ctx, "iris-ep", "green")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, in := range st.Instances {
			n += in.Served
		}
		return n
	}
	// (The region that took the write routes by it at once.)
	before := greenServed()
	for range 200 {
		res, err := c.Score(ctx, "iris-ep", key, "", "", split)
		if err != nil || res.Status != 200 || res.Deployment != "blue" {
			t.Fatalf("with a mirror: %+v %v", res, err)
		}
	}
	// Mirrored copies run in the background: wait until green is idle
	// and its count stops moving.
	var mirrored int64
	for deadline, last := time.Now().Add(30*time.Second), int64(-1); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		st, err := c.DeploymentStatus(ctx, "iris-ep", "green")
		if err != nil {
			t.Fatal(err)
		}
		if mirrored = greenServed() - before; mirrored == last && st.Instances[0].InFlight == 0 {
			break
		}
		last = mirrored
	}
	// Binomial(200, 0.5): mean 100, sd 7.1; 5 sd either side.
	if mirrored < 64 || mirrored > 136 {
		t.Fatalf("mirrored %d of 200 requests at 50%%", mirrored)
	}
	t.Logf("mirrored %d of 200 requests at 50%%", mirrored)

	// Rolling blue to version 2 under load fails no request.
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "update"); err != nil {
		t.Fatal(err)
	}
	okN.Store(0)
	failN.Store(0)
	stop = make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Score(ctx, "iris-ep", key, "", "", split)
				if err == nil && res.Status == 200 {
					okN.Add(1)
				} else {
					failN.Add(1)
					if res != nil {
						firstFail.CompareAndSwap(nil, fmt.Sprintf("%d %s", res.Status, res.Body))
					} else {
						firstFail.CompareAndSwap(nil, fmt.Sprint(err))
					}
				}
			}
		}()
	}
	if _, err := c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris/2", InstanceCount: 2, RequestSettings: settings}, "update"); err != nil {
		t.Fatal(err)
	}
	rolled := waitReady(t, c, "iris-ep", "blue", 2, func(st *serving.DeploymentStatus) bool {
		for _, in := range st.Instances {
			if in.Model != "iris:2" {
				return false
			}
		}
		return len(st.Instances) == 2
	})
	close(stop)
	wg.Wait()
	if failN.Load() != 0 || okN.Load() == 0 {
		t.Fatalf("rollout to version 2: %d ok, %d failed (first: %v)", okN.Load(), failN.Load(), firstFail.Load())
	}
	t.Logf("rollout to version 2: %d requests answered, 0 failed", okN.Load())
	st = rolled

	// Deleting the endpoint stops its processes.
	if err := c.DeleteEndpoint(ctx, "iris-ep"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(st.Instances[1].PID, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("scoring process %d still runs after the endpoint was deleted", st.Instances[1].PID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := score(t, scoreURL, key, string(split)); status != 404 {
		t.Fatalf("deleted endpoint: %d", status)
	}
}
