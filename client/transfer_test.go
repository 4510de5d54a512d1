package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer"
)

// Export copies the archive as it arrives, with the bearer token of
// MLFLOW_TRACKING_TOKEN when no config names one, and reports progress.
func TestExportStreamsTheArchive(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("TANDEM_TOKEN", "")
	t.Setenv("MLFLOW_TRACKING_TOKEN", "mlflow-tok")
	archive := bytes.Repeat([]byte("tar!"), 1<<19) // 2 MiB: more than one read
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sel transfer.Selection
		if r.URL.Path != transfer.ExportPath || r.Header.Get("Authorization") != "Bearer mlflow-tok" || json.NewDecoder(r.Body).Decode(&sel) != nil || !sel.All {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad export request"}`))
			return
		}
		w.Write(archive)
	}))
	defer srv.Close()
	c, err := ForURL(srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	var last int64
	n, err := c.Export(context.Background(), transfer.Selection{All: true}, &got, func(k int64) { last = k })
	if err != nil || n != int64(len(archive)) || last != n || !bytes.Equal(got.Bytes(), archive) {
		t.Fatalf("export: n=%d last=%d err=%v same=%v", n, last, err, bytes.Equal(got.Bytes(), archive))
	}
	// A refused export is the workspace's error, in its code.
	_, err = c.Export(context.Background(), transfer.Selection{}, io.Discard, nil)
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), "bad export request") {
		t.Fatalf("refused export: %v", err)
	}
}

// Import sends the stream, passes the workspace's progress on and returns
// its report; an error event returns the error with the report so far;
// an answer that ends without a report is an interrupted import.
func TestImportReadsTheEventStream(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	mode := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != transfer.ImportPath || string(body) != "the tar stream" || r.Header.Get("Content-Type") != "application/x-tar" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		dry := r.URL.Query().Get("dry_run") == "true"
		enc := json.NewEncoder(w)
		enc.Encode(transfer.Event{Event: "progress", Progress: &transfer.Progress{Phase: "verify", Done: 1, Total: 2}})
		switch mode {
		case "ok":
			enc.Encode(transfer.Event{Event: "report", Report: &transfer.Report{DryRun: dry, Blobs: 3}})
		case "error":
			enc.Encode(transfer.Event{Event: "error", ErrorCode: tandem.ECONFLICT, Message: "a clash", Report: &transfer.Report{Blobs: 1}})
		}
	}))
	defer srv.Close()
	c, err := ForURL(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func() io.ReadCloser { return io.NopCloser(strings.NewReader("the tar stream")) }
	var seen []transfer.Progress
	mode = "ok"
	rep, err := c.Import(context.Background(), open, true, func(p transfer.Progress) { seen = append(seen, p) })
	if err != nil || rep == nil || !rep.DryRun || rep.Blobs != 3 || len(seen) != 1 || seen[0].Phase != "verify" {
		t.Fatalf("import: %+v %v progress %+v", rep, err, seen)
	}
	mode = "error"
	rep, err = c.Import(context.Background(), open, false, nil)
	if tandem.ErrorCode(err) != tandem.ECONFLICT || !strings.Contains(tandem.ErrorMessage(err), "a clash") || rep == nil || rep.Blobs != 1 {
		t.Fatalf("failed import: %+v %v", rep, err)
	}
	mode = "cut"
	rep, err = c.Import(context.Background(), open, false, nil)
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || !strings.Contains(tandem.ErrorMessage(err), "run the same import again") || rep != nil {
		t.Fatalf("interrupted import: %+v %v", rep, err)
	}
}

// Call reaches paths outside tandem's API prefix (MLflow's routes).
func TestCallFromTheRoot(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/2.0/mlflow/experiments/get-by-name" || r.URL.Query().Get("experiment_name") != "x" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no route"}`))
			return
		}
		w.Write([]byte(`{"experiment": {"experiment_id": "7"}}`))
	}))
	defer srv.Close()
	c, _ := ForURL(srv.URL, nil)
	var got struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	if err := c.Call(context.Background(), "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=x", nil, &got); err != nil || got.Experiment.ID != "7" {
		t.Fatalf("%+v %v", got, err)
	}
}
