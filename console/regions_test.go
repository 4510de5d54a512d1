//go:build tandemtest

package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/console"
	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/replication"
)

// getView reads one of the console's views (never cached) into v.
func getView(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, resp.Header)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func readView(t *testing.T, url string) console.WorkspaceView {
	t.Helper()
	var v console.WorkspaceView
	getView(t, url+console.RegionsPath, &v)
	return v
}

// TestRegionsViewOfTwoRegions: any region answers with every region's
// role, epoch and progress; a stopped region is listed with its error
// while the others are still read.
func TestRegionsViewOfTwoRegions(t *testing.T) {
	w := regiontest.Start(t, regiontest.Options{})
	if _, err := w.Client(t).WaitElected(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	var v console.WorkspaceView
	deadline := time.Now().Add(time.Minute)
	for {
		v = readView(t, w.URLs[1])
		if len(v.Regions) == 2 && v.Regions[1].Replication != nil && v.Regions[1].Replication.Self != nil &&
			v.Regions[0].Failover != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("west's view never showed both regions with west following: %+v", v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v.Workspace != "test" || v.Served != "west" {
		t.Fatalf("view %+v: want workspace test served by west", v)
	}
	east, west := v.Regions[0], v.Regions[1]
	if east.Name != "east" || east.Failover.Role != tandem.RolePrimary || east.Failover.Epoch < 1 || east.Error != "" {
		t.Fatalf("east: %+v", east)
	}
	if west.Name != "west" || west.Failover == nil || west.Failover.Role != tandem.RoleSecondary || west.Failover.Primary != "east" {
		t.Fatalf("west: %+v %+v", west, west.Failover)
	}
	if len(east.Replication.Followers) != 1 || east.Replication.Followers[0].Region != "west" {
		t.Fatalf("east's followers: %+v", east.Replication.Followers)
	}
	if east.Divergence == nil || len(east.Divergence) != 0 || east.DivergenceError != "" {
		t.Fatalf("east's divergence reports: %+v, %q", east.Divergence, east.DivergenceError)
	}

	w.Stop(0)
	v = readView(t, w.URLs[1])
	if v.Regions[0].Error == "" || v.Regions[0].Replication != nil || v.Regions[0].DivergenceError == "" {
		t.Fatalf("stopped east: %+v", v.Regions[0])
	}
	if v.Regions[1].Error != "" || v.Regions[1].Replication == nil {
		t.Fatalf("west, still running, in its own view: %+v", v.Regions[1])
	}
}

// TestRegionsViewOfOneRegion: without a workspace the view is the region
// itself, from its own status.
func TestRegionsViewOfOneRegion(t *testing.T) {
	h, err := console.Regions(console.RegionsConfig{Self: "local", Local: func(context.Context) (replication.Status, error) {
		return replication.Status{Region: "local", Role: tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1}, Head: tandem.Position{Epoch: 1, Seq: 7}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v console.WorkspaceView
	json.NewDecoder(resp.Body).Decode(&v)
	if len(v.Regions) != 1 || v.Regions[0].Name != "local" || v.Regions[0].Replication == nil || v.Regions[0].Replication.Head.Seq != 7 {
		t.Fatalf("single-region view: %+v", v)
	}
}
