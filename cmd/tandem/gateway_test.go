package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGatewayCommand(t *testing.T) {
	region := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/tandem/v1/replication/status" {
			json.NewEncoder(w).Encode(map[string]any{"role": "primary", "epoch": 1})
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte("echo:" + string(b)))
	}))
	defer region.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs([]string{"gateway", "--listen", addr, "--region", "eastus=" + region.URL, "--check-every", "50ms", "--log-level", "error"})
		done <- root.ExecuteContext(ctx)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var body string
	for range 100 {
		resp, err := http.Post("http://"+addr+"/api/2.0/mlflow/runs/create", "application/json", strings.NewReader(`{"x":1}`))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				body = string(b)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body != `echo:{"x":1}` {
		t.Fatalf("through the gateway: %q", body)
	}
}

// The help example points at the regions `tandem up` starts by default
// (east :5000, west :5001; its witness is :5002) and listens elsewhere.
func TestGatewayExamplePorts(t *testing.T) {
	ex := newGatewayCmd().Example
	listen := regexp.MustCompile(`--listen 127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(ex, -1)
	regions := regexp.MustCompile(`--region (\w+)=http://127\.0\.0\.1:(\d+)`).FindAllStringSubmatch(ex, -1)
	if len(listen) == 0 || len(regions) != 2 {
		t.Fatalf("example: %s", ex)
	}
	for _, l := range listen {
		if p := l[1]; p == "5000" || p == "5001" || p == "5002" {
			t.Errorf("the example gateway listens on :%s, which tandem up uses", p)
		}
	}
	if regions[0][2] != "5000" || regions[1][2] != "5001" {
		t.Errorf("the example's regions are on :%s and :%s, tandem up's on :5000 and :5001", regions[0][2], regions[1][2])
	}
}

// TestGatewayFindsTheWorkspace: run bare in a `tandem up` folder, the
// gateway serves the regions of the workspace file recorded in
// .tandem/config.json (as the failover verbs find it).
func TestGatewayFindsTheWorkspace(t *testing.T) {
	region := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/tandem/v1/replication/status" {
			json.NewEncoder(w).Encode(map[string]any{"role": "primary", "epoch": 1})
			return
		}
		w.Write([]byte("found:" + r.URL.Path))
	}))
	defer region.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".tandem"), 0o755)
	os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte("workspace: gw\nprimary: east\nregions:\n  - name: east\n    url: "+region.URL+"\n    metadata: sqlite:///tmp/unused.db\n    artifacts: file:///tmp/unused\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".tandem", "config.json"), []byte(`{"workspace":"gw","endpoints":["`+region.URL+`"],"workspace_file":"workspace.yaml"}`), 0o644)
	t.Chdir(dir)
	t.Setenv("TANDEM_WORKSPACE", "")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs([]string{"gateway", "--listen", addr, "--check-every", "50ms", "--log-level", "error"})
		done <- root.ExecuteContext(ctx)
	}()
	var body string
	for range 200 {
		resp, err := http.Get("http://" + addr + "/api/2.0/mlflow/experiments/get?experiment_id=0")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				body = string(b)
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("gateway stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if body != "found:/api/2.0/mlflow/experiments/get" {
		t.Fatalf("through the gateway: %q", body)
	}
}
