//go:build tandemtest

package replication_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// hostileStrings are the fuzz corpora of the repository (every
// testdata/fuzz folder) plus strings one backend stores and another may
// refuse: NUL, invalid UTF-8, a lone surrogate, incompressible values at
// MLflow's length limits, 4-byte characters, a huge value. Each is a raw
// JSON string body (without quotes), so bytes no encoder would write reach
// the server as they are.
func hostileStrings(t *testing.T) []string {
	var out []string
	root, _ := filepath.Abs("..")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(filepath.ToSlash(path), "/testdata/fuzz/") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "string(") && strings.HasSuffix(line, ")") {
				if s, err := strconv.Unquote(line[len("string(") : len(line)-1]); err == nil {
					out = append(out, jsonBody(s))
				}
			}
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no fuzz corpus strings found")
	}
	random := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawStdEncoding.EncodeToString(b)[:n]
	}
	out = append(out,
		`a\u0000b`, `\u0000`, "plain\xff\xfe", "\xc3\x28", `\ud800`, `x\udfffy`,
		random(6000), random(8000), random(1601), random(1600),
		strings.Repeat("😀", 500), strings.Repeat("é", 5000), random(100000),
		jsonBody("tab\tnew\nline"), `\u0001\u001f`, "\x7f",
	)
	return out
}

func jsonBody(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TestMixedBackendsSurviveHostileStrings runs a two-region workspace whose
// regions use different metadata backends (SQLite primary / PostgreSQL
// secondary, and the other way round), sends every hostile string as an
// experiment name, experiment tag, run tag, param key and value and in a
// log-batch, and requires: no 5xx from the primary, the secondary caught
// up with no apply blocked, and both sides equal.
func TestMixedBackendsSurviveHostileStrings(t *testing.T) {
	pg := storetest.PostgresURL(t)
	if pg == "" {
		t.Skip("needs TANDEM_TEST_POSTGRES")
	}
	strs := hostileStrings(t)
	for _, tc := range []struct{ name, east, west string }{
		{"sqlite-primary", storetest.SQLiteURL(t), pg},
		{"postgres-primary", storetest.PostgresURL(t), storetest.SQLiteURL(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
			var lns [2]net.Listener
			for i := range lns {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				lns[i] = ln
			}
			ws, err := workspace.Parse([]byte(fmt.Sprintf(`workspace: mixed
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://%s", metadata: "sqlite://y.db", artifacts: "file://y"}
`, lns[0].Addr(), lns[1].Addr())))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var regions [2]*region.Region
			done := make(chan struct{}, 2)
			for i, name := range []string{"east", "west"} {
				meta := tc.east
				if i == 1 {
					meta = tc.west
				}
				r, err := region.Open(ctx, region.Config{Name: name, MetadataURL: meta,
					ArtifactsURL: storetest.FileURL(t), Workspace: ws})
				if err != nil {
					t.Fatal(err)
				}
				regions[i] = r
				go func() { r.Serve(ctx, lns[i]); done <- struct{}{} }()
			}
			defer func() {
				cancel()
				<-done
				<-done
				regions[0].Close()
				regions[1].Close()
			}()
			base := "http://" + lns[0].Addr().String() + "/api/2.0/mlflow/"
			post := func(path, body string) (int, []byte) {
				resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					t.Errorf("%s %.200q: %s %.300s", path, body, resp.Status, b)
				}
				return resp.StatusCode, b
			}
			_, b := post("experiments/create", `{"name":"base"}`)
			var exp struct {
				ID string `json:"experiment_id"`
			}
			json.Unmarshal(b, &exp)
			_, b = post("runs/create", `{"experiment_id":"`+exp.ID+`"}`)
			var run struct {
				Run struct {
					Info struct {
						RunID string `json:"run_id"`
					} `json:"info"`
				} `json:"run"`
			}
			json.Unmarshal(b, &run)
			id := run.Run.Info.RunID
			accepted := 0
			for i, s := range strs {
				for _, c := range []struct{ path, body string }{
					{"experiments/create", `{"name":"` + s + `"}`},
					{"experiments/set-experiment-tag", fmt.Sprintf(`{"experiment_id":"%s","key":"k%d","value":"%s"}`, exp.ID, i, s)},
					{"runs/set-tag", fmt.Sprintf(`{"run_id":"%s","key":"t%d","value":"%s"}`, id, i, s)},
					{"runs/log-parameter", fmt.Sprintf(`{"run_id":"%s","key":"p%d","value":"%s"}`, id, i, s)},
					{"runs/log-parameter", fmt.Sprintf(`{"run_id":"%s","key":"%s","value":"v"}`, id, s)},
					{"runs/update", fmt.Sprintf(`{"run_id":"%s","run_name":"%s"}`, id, s)},
					{"registered-models/create", `{"name":"` + s + `"}`},
					{"runs/log-batch", fmt.Sprintf(`{"run_id":"%s","params":[{"key":"b%d","value":"%s"}],"tags":[{"key":"bt%d","value":"%s"}]}`, id, i, s, i, s)},
				} {
					if code, _ := post(c.path, c.body); code == 200 {
						accepted++
					}
				}
			}
			if accepted == 0 {
				t.Fatal("no write accepted")
			}
			want, err := regions[0].Store.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Wait for the secondary to catch up; the deadline only bounds
			// a broken run (a blocked apply never catches up).
			var st replication.Status
			for deadline := time.Now().Add(90 * time.Second); ; {
				head, _ := regions[1].Store.Head(ctx)
				st, _ = regions[1].Replication.Status(ctx)
				if head == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("secondary at %v, primary at %v; self status %+v", head, want, st.Self)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if st.Self != nil && st.Self.ApplyBlocked != nil {
				t.Fatalf("apply still marked blocked after catching up: %+v", st.Self)
			}
			a, err := regions[0].Replication.Checksums(ctx, 0, true, false)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := regions[1].Replication.Checksums(ctx, 0, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if d := replication.Compare(a, b2, nil); len(d) != 0 {
				t.Fatalf("differences %v", d)
			}
			resp, err := http.Get("http://" + lns[1].Addr().String() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(m, []byte(`tandem_replication_apply_blocked{region="west"} 0`)) {
				t.Fatalf("metrics lack tandem_replication_apply_blocked 0:\n%s", m)
			}
			t.Logf("%d strings, %d writes accepted, head %v", len(strs), accepted, want)
		})
	}
}
