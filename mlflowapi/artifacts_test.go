package mlflowapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// artEnv is one in-process region: stores, the MLflow API behind Guard, and
// an httptest server.
type artEnv struct {
	url   string
	store *sqlstore.Store
	blobs *blobstore.Store
	api   *mlflowapi.Server
}

func newArtEnv(t *testing.T, blobURL string) *artEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blobstore.Open(ctx, blobURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	api := mlflowapi.New(store, blobs, slog.New(slog.DiscardHandler))
	if err := api.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mlflowapi.Guard(api))
	t.Cleanup(srv.Close)
	return &artEnv{url: srv.URL, store: store, blobs: blobs, api: api}
}

// artBackends gives an environment on a folder and, when configured, on S3.
func artBackends(t *testing.T) map[string]string {
	out := map[string]string{"file": storetest.FileURL(t)}
	if u := storetest.S3URL(t); u != "" {
		out["s3"] = u
	}
	return out
}

func (e *artEnv) do(t *testing.T, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (e *artEnv) mustStatus(t *testing.T, want int, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b := e.do(t, method, path, body, hdr...)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, body %s; want %d", method, path, resp.StatusCode, b, want)
	}
	return resp, b
}

// head is the number of artifact entries in the journal (other areas,
// such as the bootstrap of experiment 0, write entries of their own).
func (e *artEnv) head(t *testing.T) int64 {
	return int64(len(e.artifactJournal(t)))
}

func (e *artEnv) artifactJournal(t *testing.T) []tandem.Entry {
	t.Helper()
	es, err := e.store.ReadJournal(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []tandem.Entry
	for _, x := range es {
		if x.Kind == tandem.KindArtifacts {
			out = append(out, x)
		}
	}
	return out
}

func hexsum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

const artBase = "/api/2.0/mlflow-artifacts/artifacts/"

type listResp struct {
	RootURI string `json:"root_uri"`
	Files   []struct {
		Path     string `json:"path"`
		IsDir    bool   `json:"is_dir"`
		FileSize *int64 `json:"file_size"`
	} `json:"files"`
}

func (l listResp) String() string {
	var parts []string
	for _, f := range l.Files {
		if f.IsDir {
			parts = append(parts, f.Path+"/")
		} else {
			parts = append(parts, fmt.Sprintf("%s:%d", f.Path, *f.FileSize))
		}
	}
	return strings.Join(parts, " ")
}

func TestArtifactUploadDownloadListDelete(t *testing.T) {
	for name, u := range artBackends(t) {
		t.Run(name, func(t *testing.T) {
			e := newArtEnv(t, u)
			data := []byte("hello, tandem artifacts\n")
			e.mustStatus(t, 200, "PUT", artBase+"0/r1/artifacts/notes.txt", bytes.NewReader(data), "Content-Type", "text/plain")
			e.mustStatus(t, 200, "PUT", artBase+"0/r1/artifacts/img/plot.png", strings.NewReader("png"))
			e.mustStatus(t, 200, "PUT", artBase+"0/r1/artifacts/model/MLmodel", strings.NewReader("flavors: {}"))
			e.mustStatus(t, 200, "PUT", artBase+"0/r1/artifacts/model/w%20eights.bin", strings.NewReader("0123456789"))

			// Journal: one artifact.put per upload, naming the bytes.
			es := e.artifactJournal(t)
			if len(es) != 4 || es[0].Op != "artifact.put" || es[0].Blobs[0] != (tandem.BlobRef{Path: "0/r1/artifacts/notes.txt", SHA256: hexsum(data), Size: int64(len(data))}) {
				t.Fatalf("journal = %+v", es)
			}
			// The bytes are at their readable path in storage.
			if d, err := e.blobs.Digest(context.Background(), "0/r1/artifacts/model/w eights.bin"); err != nil || d.Size != 10 {
				t.Fatalf("stored bytes: %+v %v", d, err)
			}

			resp, body := e.mustStatus(t, 200, "GET", artBase+"0/r1/artifacts/notes.txt", nil)
			wantHdr := map[string]string{
				"Content-Type":           "text/plain",
				"Content-Disposition":    "attachment; filename=notes.txt",
				"X-Content-Type-Options": "nosniff",
				"Content-Length":         fmt.Sprint(len(data)),
				"Etag":                   `"` + hexsum(data) + `"`,
				"Accept-Ranges":          "bytes",
			}
			for k, v := range wantHdr {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
			if !bytes.Equal(body, data) {
				t.Fatalf("body = %q", body)
			}
			for p, ct := range map[string]string{"img/plot.png": "image/png", "model/MLmodel": "text/plain", "model/w%20eights.bin": "application/octet-stream"} {
				resp, _ := e.mustStatus(t, 200, "GET", artBase+"0/r1/artifacts/"+p, nil)
				if got := resp.Header.Get("Content-Type"); got != ct {
					t.Errorf("%s: Content-Type %q; want %q", p, got, ct)
				}
			}
			resp, _ = e.mustStatus(t, 200, "GET", artBase+"0/r1/artifacts/model/w%20eights.bin", nil)
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="w eights.bin"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			// Range and conditional requests.
			resp, body = e.mustStatus(t, 206, "GET", artBase+"0/r1/artifacts/model/w%20eights.bin", nil, "Range", "bytes=2-5")
			if string(body) != "2345" || resp.Header.Get("Content-Range") != "bytes 2-5/10" {
				t.Fatalf("range: %q %q", body, resp.Header.Get("Content-Range"))
			}
			e.mustStatus(t, 304, "GET", artBase+"0/r1/artifacts/notes.txt", nil, "If-None-Match", `"`+hexsum(data)+`"`)

			// Listing, at several levels, on both prefixes.
			for _, c := range []struct{ path, want string }{
				{"0/r1/artifacts", "img/ model/ notes.txt:24"},
				{"0/r1/artifacts/", "img/ model/ notes.txt:24"},
				{"0/r1/artifacts/model", "MLmodel:11 w eights.bin:10"},
				{"", "0/"},
				{"0/r1/artifacts/notes.txt", ""},
				{"0/none", ""},
			} {
				for _, prefix := range []string{"/api/2.0/", "/ajax-api/2.0/"} {
					_, b := e.mustStatus(t, 200, "GET", prefix+"mlflow-artifacts/artifacts?path="+c.path, nil)
					var l listResp
					if err := json.Unmarshal(b, &l); err != nil {
						t.Fatal(err)
					}
					if l.String() != c.want {
						t.Errorf("list %q = %q; want %q", c.path, l.String(), c.want)
					}
					if c.want == "" && string(b) != "{}" {
						t.Errorf("empty list %q = %s; want {}", c.path, b)
					}
				}
			}
			_, b := e.mustStatus(t, 200, "GET", "/api/2.0/mlflow-artifacts/artifacts", nil)
			if string(b) != `{"files":[{"path":"0","is_dir":true}]}` {
				t.Errorf("root list = %s", b)
			}

			// Errors: a directory, a missing file.
			_, b = e.mustStatus(t, 400, "GET", artBase+"0/r1/artifacts/model", nil)
			if !strings.Contains(string(b), `"INVALID_PARAMETER_VALUE"`) {
				t.Errorf("dir download: %s", b)
			}
			_, b = e.mustStatus(t, 404, "GET", artBase+"0/r1/artifacts/missing.txt", nil)
			if !strings.Contains(string(b), `"RESOURCE_DOES_NOT_EXIST"`) {
				t.Errorf("missing download: %s", b)
			}
			// A file over a directory, a file under a file: refused, nothing written.
			before := e.head(t)
			e.mustStatus(t, 400, "PUT", artBase+"0/r1/artifacts/model", strings.NewReader("x"))
			e.mustStatus(t, 400, "PUT", artBase+"0/r1/artifacts/notes.txt/x", strings.NewReader("x"))
			if e.head(t) != before {
				t.Fatal("a refused upload wrote a journal entry")
			}

			// Overwrite, then delete a directory and a file.
			e.mustStatus(t, 200, "PUT", artBase+"0/r1/artifacts/notes.txt", strings.NewReader("v2"))
			_, body = e.mustStatus(t, 200, "GET", artBase+"0/r1/artifacts/notes.txt", nil)
			if string(body) != "v2" {
				t.Fatalf("overwritten body %q", body)
			}
			e.mustStatus(t, 200, "DELETE", artBase+"0/r1/artifacts/model", nil)
			e.mustStatus(t, 200, "DELETE", artBase+"0/r1/artifacts/img/plot.png", nil)
			e.mustStatus(t, 200, "DELETE", artBase+"0/r1/artifacts/never-there", nil)
			_, b = e.mustStatus(t, 200, "GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/r1/artifacts", nil)
			var l listResp
			json.Unmarshal(b, &l)
			if l.String() != "notes.txt:2" {
				t.Fatalf("after deletes: %s", l)
			}
			e.mustStatus(t, 404, "GET", artBase+"0/r1/artifacts/model/MLmodel", nil)
			for _, k := range []string{"0/r1/artifacts/model/MLmodel", "0/r1/artifacts/img/plot.png"} {
				if ok, _ := e.blobs.Exists(context.Background(), k); ok {
					t.Errorf("bytes of deleted %s still stored", k)
				}
			}
			es = e.artifactJournal(t)
			ops := map[string]int{}
			for _, x := range es {
				ops[x.Op]++
			}
			if ops["artifact.put"] != 5 || ops["artifact.delete"] != 2 || len(es) != 7 {
				t.Fatalf("journal ops = %v", ops)
			}
		})
	}
}

// Unsafe paths are refused with INVALID_PARAMETER_VALUE on every endpoint,
// and nothing is written.
func TestArtifactBadPaths(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	bad := []string{"0/../x", "0/%2e%2e/x", "..", "/etc/passwd", "a//b", "a%5Cb", "a%00b", "a%23b", "./a", "a/./b",
		".tandem/mpu/x", "a%01b", "%ff"}
	for _, p := range bad {
		for _, m := range []string{"PUT", "GET", "DELETE"} {
			_, b := e.mustStatus(t, 400, m, artBase+p, strings.NewReader("x"))
			if !strings.Contains(string(b), `"error_code":"INVALID_PARAMETER_VALUE"`) {
				t.Errorf("%s %s: %s", m, p, b)
			}
		}
		e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/"+p, strings.NewReader(`{"path":"f","num_parts":1}`))
	}
	for _, p := range []string{"../x", "/abs", "a/../b", "a%5Cb", "a%00", ".tandem"} {
		e.mustStatus(t, 400, "GET", "/api/2.0/mlflow-artifacts/artifacts?path="+p, nil)
	}
	// tandem's asset files are read-only through the proxy.
	for _, m := range []string{"PUT", "DELETE"} {
		e.mustStatus(t, 400, m, "/api/2.0/mlflow-artifacts/artifacts/assets/models/m/1/model.pkl", strings.NewReader("x"))
	}
	e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/assets/models/m/1", strings.NewReader(`{"path":"f","num_parts":1}`))
	// The file name of a multipart upload is checked too.
	for _, f := range []string{"..", "", "a\x00b"} {
		body, _ := json.Marshal(map[string]any{"path": f, "num_parts": 1})
		e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r", bytes.NewReader(body))
	}
	if e.head(t) != 0 {
		t.Fatal("a refused request wrote a journal entry")
	}
	if l, _ := sqlstore.ListArtifactDir(context.Background(), e.store.Reader(), ""); len(l) != 0 {
		t.Fatalf("records after bad requests: %+v", l)
	}
}

type mpuCreateResp struct {
	UploadID    string `json:"upload_id"`
	Credentials []struct {
		URL        string            `json:"url"`
		PartNumber int               `json:"part_number"`
		Headers    map[string]string `json:"headers"`
	} `json:"credentials"`
}

func putURL(t *testing.T, url string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestArtifactMultipartUpload(t *testing.T) {
	for name, u := range artBackends(t) {
		t.Run(name, func(t *testing.T) {
			e := newArtEnv(t, u)
			ctx := context.Background()
			parts := [][]byte{bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<20), []byte("tail")}
			whole := bytes.Join(parts, nil)

			create := func(dir, file string, n int) mpuCreateResp {
				body, _ := json.Marshal(map[string]any{"path": file, "num_parts": n})
				_, b := e.mustStatus(t, 200, "POST", "/api/2.0/mlflow-artifacts/mpu/create/"+dir, bytes.NewReader(body))
				var c mpuCreateResp
				if err := json.Unmarshal(b, &c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := create("0/r1/artifacts/model", "/home/me/data/weights.bin", 3)
			if len(c.UploadID) != 32 || len(c.Credentials) != 3 {
				t.Fatalf("create = %+v", c)
			}
			etags := make([]string, 3)
			for i := 2; i >= 0; i-- { // parts may arrive in any order
				cr := c.Credentials[i]
				if cr.PartNumber != i+1 || !strings.HasPrefix(cr.URL, e.url+"/api/2.0/mlflow-artifacts/mpu/parts/"+c.UploadID+"/") {
					t.Fatalf("credential %d = %+v", i, cr)
				}
				resp := putURL(t, cr.URL, parts[i])
				if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+hexsum(parts[i])+`"` {
					t.Fatalf("part %d: %d etag %q", i+1, resp.StatusCode, resp.Header.Get("ETag"))
				}
				etags[i] = resp.Header.Get("ETag")
			}
			// Nothing is visible before complete.
			e.mustStatus(t, 404, "GET", artBase+"0/r1/artifacts/model/weights.bin", nil)
			if e.head(t) != 0 {
				t.Fatal("parts wrote journal entries")
			}
			partsJSON := []map[string]any{}
			for i, et := range etags {
				partsJSON = append(partsJSON, map[string]any{"part_number": i + 1, "etag": et, "url": c.Credentials[i].URL})
			}
			// Complete with the wrong file name, then the right one.
			body, _ := json.Marshal(map[string]any{"path": "/home/me/other.bin", "upload_id": c.UploadID, "parts": partsJSON})
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts/model", bytes.NewReader(body))
			body, _ = json.Marshal(map[string]any{"path": "/home/me/data/weights.bin", "upload_id": c.UploadID, "parts": partsJSON})
			e.mustStatus(t, 200, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts/model", bytes.NewReader(body))
			resp, got := e.mustStatus(t, 200, "GET", artBase+"0/r1/artifacts/model/weights.bin", nil)
			if !bytes.Equal(got, whole) || resp.Header.Get("ETag") != `"`+hexsum(whole)+`"` {
				t.Fatalf("completed artifact: %d bytes, etag %s", len(got), resp.Header.Get("ETag"))
			}
			es := e.artifactJournal(t)
			if len(es) != 1 || es[0].Blobs[0].SHA256 != hexsum(whole) || es[0].Blobs[0].Size != int64(len(whole)) {
				t.Fatalf("journal = %+v", es)
			}
			assertNoStaging(t, e)
			// Completing twice: the upload is gone.
			e.mustStatus(t, 404, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts/model", bytes.NewReader(body))

			// A part whose bytes differ from the ETag the client reports: refused, nothing visible.
			c = create("0/r1/artifacts", "x.bin", 2)
			putURL(t, c.Credentials[0].URL, []byte("one"))
			putURL(t, c.Credentials[1].URL, []byte("two"))
			body, _ = json.Marshal(map[string]any{"path": "x.bin", "upload_id": c.UploadID, "parts": []map[string]any{
				{"part_number": 1, "etag": `"` + hexsum([]byte("one")) + `"`}, {"part_number": 2, "etag": `"` + hexsum([]byte("TWO")) + `"`}}})
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts", bytes.NewReader(body))
			e.mustStatus(t, 404, "GET", artBase+"0/r1/artifacts/x.bin", nil)
			if ok, _ := e.blobs.Exists(ctx, "0/r1/artifacts/x.bin"); ok {
				t.Fatal("a refused complete published bytes")
			}
			// Parts out of order, a part outside the range, a missing part.
			for _, ps := range [][]map[string]any{
				{{"part_number": 2}, {"part_number": 1}},
				{{"part_number": 3}},
			} {
				body, _ = json.Marshal(map[string]any{"path": "x.bin", "upload_id": c.UploadID, "parts": ps})
				e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts", bytes.NewReader(body))
			}
			e.mustStatus(t, 400, "PUT", "/api/2.0/mlflow-artifacts/mpu/parts/"+c.UploadID+"/3", strings.NewReader("x"))
			e.mustStatus(t, 400, "PUT", "/api/2.0/mlflow-artifacts/mpu/parts/"+c.UploadID+"/0", strings.NewReader("x"))
			e.mustStatus(t, 404, "PUT", "/api/2.0/mlflow-artifacts/mpu/parts/"+strings.Repeat("0", 32)+"/1", strings.NewReader("x"))
			e.mustStatus(t, 400, "PUT", "/api/2.0/mlflow-artifacts/mpu/parts/..%2f..%2fx/1", strings.NewReader("x"))
			// Abort removes the staging; the upload is then unknown.
			body, _ = json.Marshal(map[string]any{"path": "x.bin", "upload_id": c.UploadID})
			e.mustStatus(t, 200, "POST", "/api/2.0/mlflow-artifacts/mpu/abort/0/r1/artifacts", bytes.NewReader(body))
			e.mustStatus(t, 404, "POST", "/api/2.0/mlflow-artifacts/mpu/abort/0/r1/artifacts", bytes.NewReader(body))
			e.mustStatus(t, 404, "PUT", c.Credentials[0].URL[len(e.url):], strings.NewReader("x"))

			c = create("0/r1/artifacts", "y.bin", 2)
			putURL(t, c.Credentials[0].URL, []byte("only one"))
			body, _ = json.Marshal(map[string]any{"path": "y.bin", "upload_id": c.UploadID, "parts": []map[string]any{{"part_number": 1}, {"part_number": 2}}})
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r1/artifacts", bytes.NewReader(body))
			e.mustStatus(t, 404, "GET", artBase+"0/r1/artifacts/y.bin", nil)

			// Bad create requests.
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r1", strings.NewReader(`{"path":"f.bin","num_parts":0}`))
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r1", strings.NewReader(`{"path":"f.bin","num_parts":10001}`))
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r1", strings.NewReader(`{"num_parts":1}`))
			e.mustStatus(t, 400, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r1", strings.NewReader(`{"path":`))
			if e.head(t) != 1 {
				t.Fatalf("journal head %d; want only the one completed upload", e.head(t))
			}
			// The sweeper removes abandoned staging.
			if n, err := e.api.SweepUploads(ctx, 0); err != nil || n != 1 {
				t.Fatalf("sweep = %d, %v; want the one abandoned upload", n, err)
			}
			assertNoStaging(t, e)
		})
	}
}

func assertNoStaging(t *testing.T, e *artEnv) {
	t.Helper()
	it := e.blobs.Bucket().List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(obj.Key, ".tandem/") {
			t.Fatalf("staging left: %s", obj.Key)
		}
	}
}

// makeRun returns a run id and its artifact URI: through runs/create when
// the tracking API is there, else by writing a minimal runs row.
func makeRun(t *testing.T, e *artEnv) (string, string) {
	t.Helper()
	resp, b := e.do(t, "POST", "/api/2.0/mlflow/runs/create", strings.NewReader(`{"experiment_id":"0"}`), "Content-Type", "application/json")
	if resp.StatusCode == 200 {
		var r struct {
			Run struct {
				Info struct {
					RunID       string `json:"run_id"`
					ArtifactURI string `json:"artifact_uri"`
				} `json:"info"`
			} `json:"run"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return r.Run.Info.RunID, r.Run.Info.ArtifactURI
	}
	db := e.store.DB()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, experiment_id TEXT, artifact_uri TEXT)`); err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	uri := "mlflow-artifacts:/0/" + id + "/artifacts"
	if _, err := db.Exec(`INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES (?, '0', 'r', '', 'RUNNING', 0, ?, 'active')`, id, uri); err != nil {
		t.Fatal(err)
	}
	return id, uri
}

func TestArtifactsListForRun(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	id, uri := makeRun(t, e)
	root, err := mlflowapi.ParseArtifactURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"top.bin", "d/a.txt", "d/e/b.txt"} {
		e.mustStatus(t, 200, "PUT", artBase+root+"/"+p, strings.NewReader("123456"))
	}
	for _, c := range []struct{ q, want string }{
		{"run_id=" + id, "d/ top.bin:6"},
		{"run_uuid=" + id, "d/ top.bin:6"},
		{"run_id=" + id + "&path=d", "d/a.txt:6 d/e/"},
		{"run_id=" + id + "&path=d/", "d/a.txt:6 d/e/"},
		{"run_id=" + id + "&path=d/e", "d/e/b.txt:6"},
		{"run_id=" + id + "&path=d/a.txt", ""},
		{"run_id=" + id + "&path=nothing", ""},
		{"run_id=" + id + "&page_token=abc", "d/ top.bin:6"},
	} {
		for _, prefix := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"} {
			_, b := e.mustStatus(t, 200, "GET", prefix+"artifacts/list?"+c.q, nil)
			var l listResp
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if l.RootURI != uri || l.String() != c.want {
				t.Errorf("%s: root %q files %q; want %q", c.q, l.RootURI, l, c.want)
			}
		}
	}
	_, b := e.mustStatus(t, 404, "GET", "/api/2.0/mlflow/artifacts/list?run_id=nope", nil)
	if !strings.Contains(string(b), "RESOURCE_DOES_NOT_EXIST") {
		t.Errorf("unknown run: %s", b)
	}
	e.mustStatus(t, 400, "GET", "/api/2.0/mlflow/artifacts/list", nil)
	e.mustStatus(t, 400, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+id+"&path=../x", nil)
	e.mustStatus(t, 400, "GET", "/api/2.0/mlflow/artifacts/list?run_id="+id+"&path=/etc", nil)
}

func TestArtifactAjaxPrefixAndPresigned(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	e.mustStatus(t, 200, "PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/f.csv", strings.NewReader("a,b\n1,2\n"))
	resp, b := e.mustStatus(t, 200, "GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/f.csv", nil)
	if string(b) != "a,b\n1,2\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("ajax download: %q %q", b, resp.Header.Get("Content-Type"))
	}
	_, b = e.mustStatus(t, 200, "GET", "/api/2.0/mlflow-artifacts/presigned/0/r/artifacts/f.csv", nil)
	var p struct {
		URL      string            `json:"url"`
		Headers  map[string]string `json:"headers"`
		FileSize int64             `json:"file_size"`
	}
	json.Unmarshal(b, &p)
	if p.URL != e.url+"/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/f.csv" || p.FileSize != 8 {
		t.Fatalf("presigned = %s", b)
	}
	req, _ := http.NewRequest("GET", p.URL, nil)
	req.Header.Set("Range", "bytes=4-7")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 206 || string(got) != "1,2\n" {
		t.Fatalf("ranged download: %d %q", r2.StatusCode, got)
	}
	e.mustStatus(t, 404, "GET", "/api/2.0/mlflow-artifacts/presigned/0/r/artifacts/none", nil)
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := int64(0); i < k; i++ {
		b[i] = byte((p.off + i) % 251)
	}
	p.off += k
	return int(k), nil
}

// A 100 MiB upload streams: the server's allocations stay far below the
// upload's size, and the recorded digest is the digest of the bytes sent.
func TestArtifactLargeUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB upload")
	}
	e := newArtEnv(t, storetest.FileURL(t))
	const size = 100 << 20
	h := sha256.New()
	io.Copy(h, &patternReader{n: size})
	want := hex.EncodeToString(h.Sum(nil))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest("PUT", e.url+artBase+"0/r/artifacts/big.bin", &patternReader{n: size})
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
		t.Fatalf("uploading 100 MiB allocated %d MiB: the body is buffered", alloc>>20)
	}
	a, err := sqlstore.GetArtifact(context.Background(), e.store.Reader(), "0/r/artifacts/big.bin")
	if err != nil || a.Size != size || a.SHA256 != want {
		t.Fatalf("record = %+v, %v", a, err)
	}
	// Download streams too, with the right length and bytes.
	resp, err = http.Get(e.url + artBase + "0/r/artifacts/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	n, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	if n != size || hex.EncodeToString(h.Sum(nil)) != want || resp.ContentLength != size {
		t.Fatalf("download: %d bytes, length header %d", n, resp.ContentLength)
	}
}

func TestParseArtifactURI(t *testing.T) {
	for uri, want := range map[string]string{
		"mlflow-artifacts:/0/abc/artifacts":                                        "0/abc/artifacts",
		"mlflow-artifacts://host:5000/0/abc/artifacts":                             "0/abc/artifacts",
		"mlflow-artifacts:/":                                                       "",
		"http://h:1/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts":              "1/r/artifacts",
		"https://h/ajax-api/2.0/mlflow-artifacts/artifacts/1/models/m-1/artifacts": "1/models/m-1/artifacts",
	} {
		if got, err := mlflowapi.ParseArtifactURI(uri); err != nil || got != want {
			t.Errorf("ParseArtifactURI(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	for uri, code := range map[string]string{
		"mlflow-artifacts:/0/../../etc":                         tandem.EINVALID,
		"mlflow-artifacts:/0/%2e%2e/x":                          tandem.EINVALID,
		"mlflow-artifacts:/.tandem/mpu":                         tandem.EINVALID,
		"mlflow-artifacts:0/abc":                                tandem.EINVALID,
		"mlflow-artifacts:/a?x=1":                               tandem.EINVALID,
		"s3://bucket/0/abc/artifacts":                           tandem.ENOTIMPLEMENTED,
		"/var/mlruns/0/abc/artifacts":                           tandem.ENOTIMPLEMENTED,
		"http://h/other/mlflow-artifacts/artifacts/x":           tandem.ENOTIMPLEMENTED,
		"http://h/api/2.0/mlflow-artifacts/artifactsX/x":        tandem.ENOTIMPLEMENTED,
		"http://h/api/2.0/mlflow-artifacts/artifacts/a/../../b": tandem.EINVALID,
	} {
		if got, err := mlflowapi.ParseArtifactURI(uri); tandem.ErrorCode(err) != code {
			t.Errorf("ParseArtifactURI(%q) = %q, %v; want %s", uri, got, err, code)
		}
	}
}

// FuzzParseArtifactURI: an accepted URI always gives a safe relative path
// ("" or one CheckPath accepts) outside tandem's reserved folder.
func FuzzParseArtifactURI(f *testing.F) {
	for _, s := range []string{"mlflow-artifacts:/0/r/artifacts", "mlflow-artifacts://h:1/0/r", "http://h/api/2.0/mlflow-artifacts/artifacts/0/r",
		"mlflow-artifacts:/0/../x", "mlflow-artifacts:/%2e%2e", "https://h/ajax-api/2.0/mlflow-artifacts/artifacts", "s3://b/k", "mlflow-artifacts:/.tandem/x",
		"mlflow-artifacts:/a%00b", "mlflow-artifacts:/a%5cb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		p, err := mlflowapi.ParseArtifactURI(uri)
		if err != nil {
			if c := tandem.ErrorCode(err); c != tandem.EINVALID && c != tandem.ENOTIMPLEMENTED {
				t.Fatalf("%q: error code %s", uri, c)
			}
			return
		}
		if p == "" {
			return
		}
		if err := blobstore.CheckPath(p); err != nil {
			t.Fatalf("%q gave unsafe path %q: %v", uri, p, err)
		}
		if p == ".tandem" || strings.HasPrefix(p, ".tandem/") {
			t.Fatalf("%q reaches the reserved folder: %q", uri, p)
		}
	})
}

// refusingGate is the gate of a region that is not the primary.
type refusingGate struct{}

func (refusingGate) WriteEpoch(context.Context) (int64, error) {
	return 0, tandem.Errorf(tandem.EUNAVAILABLE, "not the primary")
}

// A region that may not write refuses uploads before touching storage: the
// bytes of an existing artifact stay the recorded ones.
func TestArtifactWritesRefusedWhenNotPrimary(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	ctx := context.Background()
	e.mustStatus(t, 200, "PUT", artBase+"0/r/artifacts/a.txt", strings.NewReader("original"))
	b := mustHTTP(t, 200, "POST", e.url+"/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts", strings.NewReader(`{"path":"m.bin","num_parts":1}`))
	var c mpuCreateResp
	json.Unmarshal(b, &c)
	putURL(t, c.Credentials[0].URL, []byte("part"))
	e.store.SetGate(refusingGate{})
	e.mustStatus(t, 503, "PUT", artBase+"0/r/artifacts/a.txt", strings.NewReader("overwritten"))
	e.mustStatus(t, 503, "DELETE", artBase+"0/r/artifacts/a.txt", nil)
	e.mustStatus(t, 503, "POST", "/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts", strings.NewReader(`{"path":"n.bin","num_parts":1}`))
	body, _ := json.Marshal(map[string]any{"path": "m.bin", "upload_id": c.UploadID, "parts": []map[string]any{{"part_number": 1}}})
	e.mustStatus(t, 503, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r/artifacts", bytes.NewReader(body))
	if d, err := e.blobs.Digest(ctx, "0/r/artifacts/a.txt"); err != nil || d.SHA256 != hexsum([]byte("original")) {
		t.Fatalf("stored bytes changed on a refused upload: %+v %v", d, err)
	}
	if ok, _ := e.blobs.Exists(ctx, "0/r/artifacts/m.bin"); ok {
		t.Fatal("a refused complete published bytes")
	}
	_, got := e.mustStatus(t, 200, "GET", artBase+"0/r/artifacts/a.txt", nil)
	if string(got) != "original" {
		t.Fatalf("served %q", got)
	}
}

// Every artifact write endpoint appends exactly the journal entries of the
// change it makes: one per upload, complete and delete; none for staging.
func TestArtifactEndpointsJournal(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	var c mpuCreateResp
	steps := []struct {
		name string
		run  func()
		want string // ops appended
	}{
		{"PUT", func() { e.mustStatus(t, 200, "PUT", artBase+"0/r/artifacts/d/a.txt", strings.NewReader("a")) }, "artifact.put"},
		{"mpu/create", func() {
			b := mustHTTP(t, 200, "POST", e.url+"/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts/d", strings.NewReader(`{"path":"m.bin","num_parts":1}`))
			json.Unmarshal(b, &c)
		}, ""},
		{"mpu part", func() { putURL(t, c.Credentials[0].URL, []byte("part")) }, ""},
		{"mpu/complete", func() {
			body, _ := json.Marshal(map[string]any{"path": "m.bin", "upload_id": c.UploadID, "parts": []map[string]any{{"part_number": 1}}})
			e.mustStatus(t, 200, "POST", "/api/2.0/mlflow-artifacts/mpu/complete/0/r/artifacts/d", bytes.NewReader(body))
		}, "artifact.put"},
		{"mpu/abort", func() {
			b := mustHTTP(t, 200, "POST", e.url+"/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts/d", strings.NewReader(`{"path":"n.bin","num_parts":1}`))
			json.Unmarshal(b, &c)
			body, _ := json.Marshal(map[string]any{"path": "n.bin", "upload_id": c.UploadID})
			e.mustStatus(t, 200, "POST", "/api/2.0/mlflow-artifacts/mpu/abort/0/r/artifacts/d", bytes.NewReader(body))
		}, ""},
		{"DELETE dir", func() { e.mustStatus(t, 200, "DELETE", artBase+"0/r/artifacts/d", nil) }, "artifact.delete"},
		{"DELETE nothing", func() { e.mustStatus(t, 200, "DELETE", artBase+"0/r/artifacts/d", nil) }, ""},
	}
	seen := map[string]bool{}
	for _, s := range steps {
		before := e.artifactJournal(t)
		s.run()
		after := e.artifactJournal(t)
		var ops []string
		for _, x := range after[len(before):] {
			ops = append(ops, x.Op)
			seen[x.Op] = true
		}
		if strings.Join(ops, ",") != s.want {
			t.Errorf("%s appended %v; want %q", s.name, ops, s.want)
		}
	}
	for _, op := range e.store.Ops() {
		if strings.HasPrefix(op, "artifact.") && !seen[op] {
			t.Errorf("op %s is registered but no endpoint above exercised it", op)
		}
	}
}

// A body that ends before its Content-Length is a failed upload: 400,
// nothing stored or recorded.
func TestArtifactTruncatedUpload(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s0/r/artifacts/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n%s", artBase, strings.Repeat("x", 1000))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "INVALID_PARAMETER_VALUE") {
		t.Fatalf("truncated upload: %d %s", resp.StatusCode, b)
	}
	e.mustStatus(t, 404, "GET", artBase+"0/r/artifacts/cut.bin", nil)
	if ok, _ := e.blobs.Exists(context.Background(), "0/r/artifacts/cut.bin"); ok || e.head(t) != 0 {
		t.Fatal("a truncated upload left bytes or a journal entry")
	}
}

// Sweeping abandoned uploads never removes one being created or in use.
func TestArtifactSweepSparesLiveUploads(t *testing.T) {
	e := newArtEnv(t, storetest.FileURL(t))
	stop := make(chan struct{})
	swept := make(chan int)
	go func() {
		total := 0
		for {
			select {
			case <-stop:
				swept <- total
				return
			default:
			}
			n, err := e.api.SweepUploads(context.Background(), time.Hour)
			if err != nil {
				t.Error(err)
			}
			total += n
		}
	}()
	for i := 0; i < 40; i++ {
		b := mustHTTP(t, 200, "POST", e.url+"/api/2.0/mlflow-artifacts/mpu/create/0/r/artifacts", strings.NewReader(fmt.Sprintf(`{"path":"f%d.bin","num_parts":1}`, i)))
		var c mpuCreateResp
		json.Unmarshal(b, &c)
		if r := putURL(t, c.Credentials[0].URL, []byte("x")); r.StatusCode != 200 {
			t.Fatalf("part upload %d: %d", i, r.StatusCode)
		}
	}
	close(stop)
	if n := <-swept; n != 0 {
		t.Fatalf("swept %d live uploads", n)
	}
}
