// Package regiontest starts a multi-region workspace inside a test
// process: every region a real region.Region serving on its own loopback
// port, with its own SQLite file and artifact folder. It is test support:
// only tests import it (nothing in cmd/tandem does).
package regiontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// Options shape the workspace.
type Options struct {
	// Names are the regions, the first the primary; default east, west.
	Names []string
	// Extra is more workspace.yaml, appended at the top level
	// (durability, telemetry, ...).
	Extra string
	// Config adjusts each region's configuration before it opens (auth,
	// the MLflow UI, ...); nil: none.
	Config func(name string, cfg *region.Config)
	// Registries gives regions a container registry (regions[].registry).
	Registries map[string]string
}

// Workspace is a running workspace.
type Workspace struct {
	WS      *workspace.Workspace
	Names   []string
	URLs    []string // by region, http://127.0.0.1:PORT
	Regions []*region.Region
	cancels []context.CancelFunc
	done    []chan struct{}
}

// Start starts the workspace and waits until every region answers
// /health; the test's cleanup stops what is still running.
func Start(t testing.TB, o Options) *Workspace {
	t.Helper()
	if len(o.Names) == 0 {
		o.Names = []string{"east", "west"}
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "peer.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &Workspace{Names: o.Names}
	lns := make([]net.Listener, len(o.Names))
	var regs strings.Builder
	for i, name := range o.Names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		w.URLs = append(w.URLs, "http://"+ln.Addr().String())
		reg := ""
		if r := o.Registries[name]; r != "" {
			reg = fmt.Sprintf(", registry: %q", r)
		}
		fmt.Fprintf(&regs, "  - {name: %s, url: %q, metadata: \"sqlite://%s.db\", artifacts: \"file://%s\"%s}\n", name, w.URLs[i], name, name, reg)
	}
	ws, err := workspace.Parse([]byte(fmt.Sprintf("workspace: test\nprimary: %s\npeer_key: {file: %q}\n%s\nregions:\n%s",
		o.Names[0], keyFile, o.Extra, regs.String())))
	if err != nil {
		t.Fatal(err)
	}
	w.WS = ws
	for i, name := range o.Names {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t), Workspace: ws}
		if o.Config != nil {
			o.Config(name, &cfg)
		}
		r, err := region.Open(ctx, cfg)
		if err != nil {
			cancel()
			t.Fatalf("open region %s: %v", name, err)
		}
		done := make(chan struct{})
		w.Regions, w.cancels, w.done = append(w.Regions, r), append(w.cancels, cancel), append(w.done, done)
		go func() { r.Serve(ctx, lns[i]); r.Close(); close(done) }()
		t.Cleanup(func() { w.Stop(i) })
	}
	rs, err := client.RegionsFromWorkspace(ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.WaitHealthy(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	return w
}

// Client talks to every region with the workspace's peer key, as the
// failover verbs do.
func (w *Workspace) Client(t testing.TB) *client.Regions {
	t.Helper()
	rs, err := client.RegionsFromWorkspace(w.WS)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Stop stops region i (its server and stores); stopping twice is a no-op.
func (w *Workspace) Stop(i int) {
	w.cancels[i]()
	<-w.done[i]
}

// KeepDivergence stores in region i a divergence report whose divergent
// tail is entries (positions after fork, in order), as a region that
// rejoined newPrimary in newEpoch keeps one, and returns it: for tests of
// what reads and replays reports, without staging a real fork.
func (w *Workspace) KeepDivergence(t testing.TB, i int, newPrimary string, newEpoch int64, fork tandem.Position, entries []tandem.Entry) failover.Report {
	t.Helper()
	rep := failover.NewReport(w.Names[i], newPrimary, newEpoch, failover.Divergence{Fork: fork, Tail: entries}, time.Now())
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failover.ParseReport(body); err != nil {
		t.Fatalf("KeepDivergence: %v", err)
	}
	err = w.Regions[i].Store.WriteLocal(context.Background(), func(ctx context.Context, tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO failover_divergence (id, created_ms, body) VALUES (?, ?, ?)`, rep.ID, time.Now().UnixMilli(), string(body))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Send is one JSON request (body nil: none) with an Authorization header
// ("" : none); it returns the status and the decoded JSON answer.
func Send(t testing.TB, method, url, authz string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
