package mlflowapi_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// TestArtifactsWithMLflowClient logs files and a folder with the stock
// mlflow client (log_artifact, log_artifacts, multipart for the large file),
// lists them and downloads them back with mlflow.artifacts.download_artifacts,
// against a region serving on loopback (what `tandem server` runs), on a
// folder and on S3.
func TestArtifactsWithMLflowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts Python")
	}
	py := mlflowtest.PythonPath(t)
	for name, u := range artBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reg, err := region.Open(ctx, region.Config{MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: u,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			var parts atomic.Int64
			h := reg.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.Path, "/mlflow-artifacts/mpu/parts/") {
					parts.Add(1)
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()

			src := t.TempDir()
			big := make([]byte, 3<<20+12345)
			rand.Read(big)
			os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
			os.WriteFile(filepath.Join(src, "notes.txt"), []byte("some notes\n"), 0o644)
			os.MkdirAll(filepath.Join(src, "nested", "deeper"), 0o755)
			os.WriteFile(filepath.Join(src, "nested", "MLmodel"), []byte("flavors: {}\n"), 0o644)
			os.WriteFile(filepath.Join(src, "nested", "deeper", "empty.txt"), nil, 0o644)

			mode := "repo"
			if resp, err := http.Post(srv.URL+"/api/2.0/mlflow/runs/create", "application/json", strings.NewReader(`{"experiment_id":"0"}`)); err == nil {
				if resp.StatusCode == 200 {
					mode = "run"
				}
				resp.Body.Close()
			}
			t.Logf("mode %s", mode)
			cmd := exec.Command(py, "testdata/artifact_client.py", srv.URL, src, mode)
			cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+srv.URL)
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("client: %v\n%s\n%s", err, out, stderr)
			}
			var res struct {
				Root   string `json:"root"`
				Top    []string
				Folder [][]any
				Same   bool
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
				t.Fatalf("client output %q: %v", out, err)
			}
			if !res.Same {
				t.Fatal("downloaded artifacts differ from the uploaded files")
			}
			if want := []string{"big.bin", "folder", "sub"}; !reflect.DeepEqual(res.Top, want) {
				t.Fatalf("top listing %v; want %v", res.Top, want)
			}
			wantFolder := [][]any{{"folder/big.bin", false, float64(len(big))}, {"folder/nested", true, nil}, {"folder/notes.txt", false, float64(11)}}
			if !reflect.DeepEqual(res.Folder, wantFolder) {
				t.Fatalf("folder listing %v; want %v", res.Folder, wantFolder)
			}
			if parts.Load() < 4 {
				t.Fatalf("the large files went through %d part uploads; want multipart", parts.Load())
			}
			es, err := reg.Store.ReadJournal(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			puts := 0
			for _, e := range es {
				if e.Op == "artifact.put" {
					puts++
				}
			}
			if puts != 6 {
				t.Fatalf("%d artifact.put entries; want 6", puts)
			}
		})
	}
}
