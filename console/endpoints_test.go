//go:build tandemtest

package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/console"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/serving"
)

// startWithSecrets starts a two-region workspace whose regions can store
// endpoint keys (a secrets keeper from the environment).
func startWithSecrets(t *testing.T, config func(string, *region.Config)) *regiontest.Workspace {
	t.Setenv("TANDEM_TEST_CONSOLE_SECRETS", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	return regiontest.Start(t, regiontest.Options{Extra: "secrets: {keeper: {env: TANDEM_TEST_CONSOLE_SECRETS}}\n", Config: config})
}

func readTraffic(t *testing.T, url string) console.TrafficView {
	t.Helper()
	var v console.TrafficView
	getView(t, url+console.EndpointTrafficPath, &v)
	return v
}

// endpointIn finds an endpoint in one region of the view.
func endpointIn(v console.TrafficView, region, endpoint string) *serving.EndpointTraffic {
	for _, r := range v.Regions {
		if r.Name != region {
			continue
		}
		for i := range r.Endpoints {
			if r.Endpoints[i].Endpoint == endpoint {
				return &r.Endpoints[i]
			}
		}
	}
	return nil
}

// score sends n scoring requests to an endpoint of one region, naming
// deployment (empty: routed by the traffic split), and returns the status
// of the last.
func score(t *testing.T, url, endpoint, deployment string, n int) int {
	t.Helper()
	code := 0
	for range n {
		req, _ := http.NewRequest("POST", url+"/endpoints/"+endpoint+"/score", nil)
		req.Header.Set("Content-Type", "application/json")
		if deployment != "" {
			req.Header.Set(serving.DeploymentHeader, deployment)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		code = resp.StatusCode
	}
	return code
}

// TestEndpointTrafficPerRegion: one endpoint placed in two regions, with
// a deployment (no scoring process: the regions have no Python, so every
// request answers 503); the view read from west shows each region's own
// counts: what was scored on east is east's only, and an unknown
// endpoint's requests are counted nowhere.
func TestEndpointTrafficPerRegion(t *testing.T) {
	w := startWithSecrets(t, nil)
	east, west := w.URLs[0], w.URLs[1]
	if _, err := w.Client(t).WaitElected(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	call(t, "POST", east+"/api/2.0/mlflow/registered-models/create", "", map[string]any{"name": "traffic-model"})
	call(t, "POST", east+"/api/2.0/mlflow/model-versions/create", "", map[string]any{"name": "traffic-model", "source": "s3://no-such-bucket/model"})
	ep := east + serving.APIPrefix + "/split-ep"
	call(t, "PUT", ep, "", map[string]any{"name": "split-ep", "auth_mode": "aml_token", "regions": []string{"east", "west"}})
	call(t, "PUT", ep+"/deployments/blue", "", map[string]any{"endpoint": "split-ep", "name": "blue", "model": "models:/traffic-model/1",
		"instance_count": 1, "instance_counts": map[string]int{"west": 2}})
	call(t, "PUT", ep, "", map[string]any{"name": "split-ep", "auth_mode": "aml_token", "regions": []string{"east", "west"}, "traffic": map[string]int{"blue": 100}})

	// Both regions run blue (without processes) once the writes replicate.
	var v console.TrafficView
	deadline := time.Now().Add(time.Minute)
	for {
		v = readTraffic(t, west)
		e, wst := endpointIn(v, "east", "split-ep"), endpointIn(v, "west", "split-ep")
		if e != nil && wst != nil && len(e.Deployments) == 1 && len(wst.Deployments) == 1 && wst.Deployments[0].Wanted == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("west's view never showed blue in both regions: %+v", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v.Served != "west" || len(v.Regions) != 2 || v.Regions[0].Name != "east" || v.Regions[0].Error != "" {
		t.Fatalf("view %+v", v)
	}

	if c := score(t, east, "split-ep", "", 3); c != 503 {
		t.Fatalf("scoring without a process answered %d, want 503", c)
	}
	score(t, east, "split-ep", "blue", 2)
	score(t, east, "no-such-ep", "", 4)
	v = readTraffic(t, west)
	e, wst := endpointIn(v, "east", "split-ep"), endpointIn(v, "west", "split-ep")
	if e.Requests.Requests != 5 || e.Requests.Errors != 5 || e.Requests.Recent != 5 || e.Requests.PerSecond <= 0 {
		t.Fatalf("east's counts of split-ep: %+v", e.Requests)
	}
	if e.Unrouted.Requests != 3 || e.Deployments[0].Name != "blue" || e.Deployments[0].Requests.Requests != 2 || e.Deployments[0].Region != "east" {
		t.Fatalf("east's split: unrouted %+v, blue %+v", e.Unrouted, e.Deployments[0])
	}
	if wst.Requests.Requests != 0 || wst.Deployments[0].Requests.Requests != 0 || wst.Deployments[0].Wanted != 2 {
		t.Fatalf("west's counts, where nothing was scored: %+v %+v", wst.Requests, wst.Deployments[0])
	}
	for _, r := range v.Regions {
		if len(r.Endpoints) != 1 {
			t.Fatalf("region %s lists %d endpoints: the unknown one was kept", r.Name, len(r.Endpoints))
		}
	}
	// The deployment's own status carries the same counts.
	var st serving.DeploymentStatus
	code, out := regiontest.Send(t, "GET", east+serving.APIPrefix+"/split-ep/deployments/blue/status", "", nil)
	b, _ := json.Marshal(out)
	json.Unmarshal(b, &st)
	if code != 200 || st.Requests.Requests != 2 || st.Requests.Errors != 2 {
		t.Fatalf("blue's status on east: %d %+v", code, out)
	}

	// West's own part, as the view reads it with the peer key.
	score(t, west, "split-ep", "", 1)
	v = readTraffic(t, east)
	if got := endpointIn(v, "west", "split-ep").Requests.Requests; got != 1 {
		t.Fatalf("west's count read from east: %d, want 1", got)
	}
	if got := endpointIn(v, "east", "split-ep").Requests.Requests; got != 5 {
		t.Fatalf("east's count read from east: %d, want 5", got)
	}

	// A stopped region is listed with its error; the other still answers.
	w.Stop(0)
	v = readTraffic(t, west)
	if v.Regions[0].Error == "" || len(v.Regions[0].Endpoints) != 0 || endpointIn(v, "west", "split-ep") == nil {
		t.Fatalf("with east stopped: %+v", v)
	}
}
