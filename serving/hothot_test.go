package serving_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/gateway"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// hotRegion is one region of a two-region workspace with serving mounted
// the way the region mounts it: the endpoints API behind the replication
// frontend (writes reach the primary), scoring local.
type hotRegion struct {
	r      *region.Region
	svc    *serving.Service
	url    string
	c      *client.Client
	cancel context.CancelFunc
	done   chan struct{}
	srv    *http.Server
}

func (h *hotRegion) stop() {
	h.srv.Close()
	h.cancel()
	<-h.done
	<-h.done
	<-h.done
	h.r.Close()
}

// TestHotHot: an endpoint written on the primary runs in both regions of
// its placement; the secondary scores with the same keys from its own
// replicated copy of the model, and keeps scoring when the primary's
// server and scoring processes are gone. An endpoint placed in the
// primary only is not served by the secondary.
func TestHotHot(t *testing.T) {
	venv := venvWithSklearn(t)
	python := filepath.Join(venv, "bin", "python")
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("TANDEM_HH_PEER_KEY", "hot-hot-peer-key-0123456789abcdef")
	t.Setenv("TANDEM_HH_SECRETS", base64.StdEncoding.EncodeToString(key))
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	ws, err := workspace.Parse([]byte(fmt.Sprintf(`workspace: hh
primary: east
peer_key: {env: TANDEM_HH_PEER_KEY}
secrets: {keeper: {env: TANDEM_HH_SECRETS}}
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://%s", metadata: "sqlite://y.db", artifacts: "file://y"}
`, lns[0].Addr(), lns[1].Addr())))
	if err != nil {
		t.Fatal(err)
	}
	peerKey, err := ws.Key()
	if err != nil {
		t.Fatal(err)
	}
	var hs [2]*hotRegion
	for i, name := range []string{"east", "west"} {
		ctx, cancel := context.WithCancel(context.Background())
		r, err := region.Open(ctx, region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t), Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		h := &hotRegion{r: r, url: "http://" + lns[i].Addr().String(), cancel: cancel, done: make(chan struct{}, 3)}
		h.svc = serving.New(serving.Config{Region: name, Store: r.Store, Blobs: r.Blobs, Vault: r.Vault, Python: python,
			CacheDir: t.TempDir(), URL: h.url, Reconcile: 2 * time.Second, Roles: r.Roles, PeerToken: replication.Token(peerKey)})
		api := replication.NewFrontend(r.Replication, h.svc.APIHandler())
		mux := http.NewServeMux()
		mux.Handle("/", r.Handler())
		mux.Handle(serving.APIPrefix, api)
		mux.Handle(serving.APIPrefix+"/", api)
		mux.Handle("/endpoints/", h.svc.ScoringHandler())
		h.srv = &http.Server{Handler: mux}
		// The region's own server runs replication and failover; the
		// test serves the composed handler on the advertised address.
		spare, _ := net.Listen("tcp", "127.0.0.1:0")
		go func() { r.Serve(ctx, spare); h.done <- struct{}{} }()
		go func() { h.srv.Serve(lns[i]); h.done <- struct{}{} }()
		go func() { h.svc.Run(ctx); h.done <- struct{}{} }()
		h.c, err = client.New(client.Config{Workspace: "hh", Endpoints: []string{h.url}})
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = h
	}
	east, west := hs[0], hs[1]
	stopped := false
	defer func() {
		if !stopped {
			east.stop()
		}
		west.stop()
	}()
	ctx := context.Background()
	// The primary takes its role (no witness: the workspace file's).
	deadline := time.Now().Add(time.Minute)
	for east.r.Roles.Current().Role != tandem.RolePrimary {
		if time.Now().After(deadline) {
			t.Fatalf("east never became primary: %+v", east.r.Roles.Current())
		}
		time.Sleep(100 * time.Millisecond)
	}
	tr := train(t, ctx, venv, east.url)
	if _, err := east.c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Regions: []string{"all"}}, "create"); err != nil {
		t.Fatal(err)
	}
	// Written through the secondary: forwarded to the primary.
	if _, err := west.c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris/1",
		RequestSettings: tandem.RequestSettings{RequestTimeoutMS: 30000, MaxConcurrentRequestsPerInstance: 8},
		DataCollector: &tandem.DataCollector{Collections: map[string]tandem.DataCollection{ // sampling_rate: 1.0 by default
			tandem.CollectionModelInputs: {Enabled: true}, tandem.CollectionModelOutputs: {Enabled: true}}}}, "create"); err != nil {
		t.Fatal(err)
	}
	if _, err := east.c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 100}}, "update"); err != nil {
		t.Fatal(err)
	}
	if _, err := east.c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "east-only", Regions: []string{"east"}}, "create"); err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		// Each region reports its own processes.
		if st := waitReady(t, h.c, "iris-ep", "blue", 1, nil); st.Region != []string{"east", "west"}[i] {
			t.Fatalf("status from %s: %+v", h.url, st)
		}
	}
	keys, err := west.c.EndpointKeys(ctx, "iris-ep") // any region answers
	if err != nil {
		t.Fatal(err)
	}
	split, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": tr.Columns, "data": tr.Data}})
	want := fmt.Sprint(tr.Predictions)
	check := func(h *hotRegion) {
		t.Helper()
		status, resp := score(t, h.url+"/endpoints/iris-ep/score", keys.PrimaryKey, string(split))
		var got struct {
			Predictions []int `json:"predictions"`
		}
		json.Unmarshal([]byte(resp), &got)
		if status != 200 || fmt.Sprint(got.Predictions) != want {
			t.Fatalf("%s: %d %s; want %s", h.url, status, resp, want)
		}
	}
	check(east)
	check(west)
	// Request logs: the secondary writes no metadata, so it sends its
	// lines to the primary, which appends them to the deployment's run
	// under request_logs/west/; they replicate back like any artifact.
	answers := map[string]string{}
	for i := range 10 {
		id := fmt.Sprintf("west-%d", i)
		answers[id] = scoreWithID(t, west.url+"/endpoints/iris-ep/score", keys.PrimaryKey, "", id, string(split))
	}
	logLines, raw := waitLogs(t, east.url, "iris-ep", "blue", "west", 11)
	checkLines(t, logLines, raw, "west", "iris-ep", "blue", string(split), answers, keys.PrimaryKey, keys.SecondaryKey)
	if len(logLines) != 11 { // with check(west)'s request
		t.Fatalf("%d lines of west in the primary's run, want 11", len(logLines))
	}
	if lines, _ := waitLogs(t, east.url, "iris-ep", "blue", "east", 1); len(lines) != 1 || lines[0].Region != "east" {
		t.Fatalf("east's own lines: %+v", lines)
	}
	if lines, _ := waitLogs(t, west.url, "iris-ep", "blue", "west", 11); len(lines) != 11 {
		t.Fatalf("west's lines as west reads them (replicated): %d, want 11", len(lines))
	}
	// One global URL in front of both (tandem gateway).
	gw, err := gateway.New(gateway.Config{Regions: []gateway.Region{{Name: "east", URL: east.url}, {Name: "west", URL: west.url}},
		CheckEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithCancel(ctx)
	defer gcancel()
	go gw.Run(gctx)
	gsrv := httptest.NewServer(gw)
	defer gsrv.Close()
	global := &hotRegion{url: gsrv.URL}
	check(global)
	if status, resp := score(t, west.url+"/endpoints/east-only/score", keys.PrimaryKey, string(split)); status != 404 {
		t.Fatalf("east-only endpoint on west: %d %s", status, resp)
	}
	// The primary goes away, with its scoring processes: the secondary
	// keeps answering from its own copy.
	east.stop()
	stopped = true
	for range 20 {
		check(west)
		check(global) // the gateway sends scoring to the region left
	}
	if _, err := west.c.GetEndpoint(ctx, "iris-ep"); err != nil {
		t.Fatalf("show on the secondary without its primary: %v", err)
	}
}
