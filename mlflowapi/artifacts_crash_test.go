package mlflowapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
)

// buildTandem builds cmd/tandem into a temporary folder, once per test.
func buildTandem(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tandem")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/tandemml/tandem/cmd/tandem").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tandemProc is a running `tandem server` process.
type tandemProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

var servingAddr = regexp.MustCompile(`msg=serving .*addr=(\S+)`)

func startTandem(t *testing.T, bin, metadata, artifacts string) *tandemProc {
	t.Helper()
	cmd := exec.Command(bin, "server", "--listen", "127.0.0.1:0", "--metadata", metadata, "--artifacts", artifacts, "--no-auth")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &tandemProc{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.done:
		t.Fatal("tandem server exited at start")
	case <-time.After(20 * time.Second):
		t.Fatal("tandem server did not start")
	}
	return p
}

// kill sends SIGKILL (kill -9): no shutdown code runs.
func (p *tandemProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

func httpDo(method, url string, body io.Reader) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

func mustHTTP(t *testing.T, want int, method, url string, body io.Reader) []byte {
	t.Helper()
	code, b, _, err := httpDo(method, url, body)
	if err != nil || code != want {
		t.Fatalf("%s %s: %d %s %v; want %d", method, url, code, b, err, want)
	}
	return b
}

// TestArtifactCrashSafety kills a real tandem server (SIGKILL) in the middle
// of a streaming upload, a multipart upload and a multipart complete, starts
// it again on the same data, and checks that no partial artifact is visible
// (list, download, storage path) and that the journal holds no entry for one.
func TestArtifactCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs tandem processes")
	}
	bin := buildTandem(t)
	for name, artifacts := range artBackends(t) {
		t.Run(name, func(t *testing.T) { crashSafety(t, bin, artifacts) })
	}
}

func crashSafety(t *testing.T, bin, artifacts string) {
	dir := t.TempDir()
	metadata := "sqlite://" + filepath.Join(dir, "tandem.db")
	blobs, err := blobstore.Open(context.Background(), artifacts)
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	const root = "/api/2.0/mlflow-artifacts/"

	p := startTandem(t, bin, metadata, artifacts)
	mustHTTP(t, 200, "PUT", p.url+root+"artifacts/0/r/artifacts/ok.txt", strings.NewReader("committed"))

	// A multipart upload with two of three parts staged and the third in flight.
	b := mustHTTP(t, 200, "POST", p.url+root+"mpu/create/0/r/artifacts", strings.NewReader(`{"path":"/local/mp.bin","num_parts":3}`))
	var c mpuCreateResp
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), 4<<20)
	etags := make([]string, 3)
	for i := 0; i < 2; i++ {
		_, _, h, err := httpDo("PUT", c.Credentials[i].URL, bytes.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		etags[i] = h.Get("ETag")
	}

	// Streaming uploads whose bodies never end: a plain PUT and part 3.
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for _, url := range []string{p.url + root + "artifacts/0/r/artifacts/stream.bin", c.Credentials[2].URL} {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			httpDo("PUT", url, pr) // fails when the server dies
		}()
	}
	chunk := bytes.Repeat([]byte("s"), 1<<20)
	for i := 0; i < 16; i++ {
		for _, pw := range pipes {
			if _, err := pw.Write(chunk); err != nil {
				t.Fatalf("server stopped reading: %v", err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	p.kill()
	for _, pw := range pipes {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()

	p = startTandem(t, bin, metadata, artifacts)
	checkVisible := func(t *testing.T, url string, want string) {
		t.Helper()
		b := mustHTTP(t, 200, "GET", url+root+"artifacts?path=0/r/artifacts", nil)
		var l listResp
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		if l.String() != want {
			t.Fatalf("listing after the crash: %q; want %q", l, want)
		}
	}
	checkVisible(t, p.url, "ok.txt:9")
	for _, name := range []string{"stream.bin", "mp.bin"} {
		mustHTTP(t, 404, "GET", p.url+root+"artifacts/0/r/artifacts/"+name, nil)
		if ok, err := blobs.Exists(context.Background(), "0/r/artifacts/"+name); ok || err != nil {
			t.Fatalf("%s exists under its final path after the crash: %v %v", name, ok, err)
		}
	}
	assertJournal(t, metadata, []string{"0/r/artifacts/ok.txt"})

	// The staged parts survived: re-send part 3 and complete the upload.
	_, _, h, err := httpDo("PUT", p.url+c.Credentials[2].URL[strings.Index(c.Credentials[2].URL, root):], bytes.NewReader([]byte("end")))
	if err != nil {
		t.Fatal(err)
	}
	etags[2] = h.Get("ETag")
	parts := []map[string]any{}
	for i, et := range etags {
		parts = append(parts, map[string]any{"part_number": i + 1, "etag": et})
	}
	body, _ := json.Marshal(map[string]any{"path": "/local/mp.bin", "upload_id": c.UploadID, "parts": parts})
	mustHTTP(t, 200, "POST", p.url+root+"mpu/complete/0/r/artifacts", bytes.NewReader(body))
	got := mustHTTP(t, 200, "GET", p.url+root+"artifacts/0/r/artifacts/mp.bin", nil)
	if want := append(append(append([]byte{}, part...), part...), "end"...); !bytes.Equal(got, want) {
		t.Fatalf("resumed multipart upload: %d bytes", len(got))
	}

	// Kill during a large complete: afterwards the artifact is either fully
	// there (record, journal entry, right bytes) or not at all.
	big := bytes.Repeat([]byte("B"), 16<<20)
	b = mustHTTP(t, 200, "POST", p.url+root+"mpu/create/0/r/artifacts", strings.NewReader(`{"path":"big.bin","num_parts":4}`))
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	parts = nil
	for i := 0; i < 4; i++ {
		_, _, h, err := httpDo("PUT", c.Credentials[i].URL, bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, map[string]any{"part_number": i + 1, "etag": h.Get("ETag")})
	}
	body, _ = json.Marshal(map[string]any{"path": "big.bin", "upload_id": c.UploadID, "parts": parts})
	go httpDo("POST", p.url+root+"mpu/complete/0/r/artifacts", bytes.NewReader(body))
	time.Sleep(30 * time.Millisecond)
	p.kill()

	p = startTandem(t, bin, metadata, artifacts)
	code, got, _, err := httpDo("GET", p.url+root+"artifacts/0/r/artifacts/big.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	switch code {
	case 200:
		if len(got) != 4*len(big) {
			t.Fatalf("complete survived the crash with %d bytes; want %d", len(got), 4*len(big))
		}
		checkVisible(t, p.url, "big.bin:67108864 mp.bin:8388611 ok.txt:9")
		assertJournal(t, metadata, []string{"0/r/artifacts/ok.txt", "0/r/artifacts/mp.bin", "0/r/artifacts/big.bin"})
	case 404:
		t.Log("the kill came before the complete committed")
		checkVisible(t, p.url, "mp.bin:8388611 ok.txt:9")
		assertJournal(t, metadata, []string{"0/r/artifacts/ok.txt", "0/r/artifacts/mp.bin"})
	default:
		t.Fatalf("GET big.bin after the crash: %d %s", code, got)
	}
}

// assertJournal checks that the journal holds exactly one artifact.put per
// path in want, in order, and nothing else.
func assertJournal(t *testing.T, metadata string, want []string) {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), metadata, sqlstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.ReadJournal(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		if e.Kind != tandem.KindArtifacts {
			continue // the Default experiment, made at start, and other areas' entries
		}
		if e.Op != "artifact.put" {
			t.Fatalf("unexpected journal entry %+v", e)
		}
		got = append(got, e.Key)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("journal keys = %v; want %v", got, want)
	}
}
