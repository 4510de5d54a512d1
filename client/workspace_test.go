package client_test

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"gocloud.dev/secrets/localsecrets"
)

// workspace is one in-process region serving tandem's API, recording every
// response body and log line so tests can grep them.
type workspace struct {
	URL   string
	Store *sqlstore.Store
	Blobs *blobstore.Store
	DBURL string

	mu        sync.Mutex
	responses bytes.Buffer
	logs      bytes.Buffer
}

func (w *workspace) Write(p []byte) (int, error) { // log sink
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.logs.Write(p)
}

// recorded returns every response body and log line so far.
func (w *workspace) recorded() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.responses.String() + "\n" + w.logs.String()
}

type teeWriter struct {
	http.ResponseWriter
	w *workspace
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.w.mu.Lock()
	t.w.responses.Write(p)
	t.w.mu.Unlock()
	return t.ResponseWriter.Write(p)
}

// startWorkspace starts a region's API on metadataURL and artifactsURL
// (fresh SQLite and a fresh folder when empty).
func startWorkspace(t *testing.T, metadataURL, artifactsURL string) *workspace {
	t.Helper()
	ctx := t.Context()
	if metadataURL == "" {
		metadataURL = storetest.SQLiteURL(t)
	}
	w := &workspace{DBURL: metadataURL}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlstore.Open(ctx, metadataURL, sqlstore.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if artifactsURL == "" {
		artifactsURL = storetest.FileURL(t)
	}
	bl, err := blobstore.Open(ctx, artifactsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	var key [32]byte
	rand.Read(key[:])
	srv := api.New(api.Config{Store: st, Jobs: sqlstore.NewJobs(st), Blobs: bl, Log: log, Keeper: localsecrets.NewKeeper(key)})
	hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		log.Debug("request", "method", r.Method, "path", r.URL.String())
		srv.ServeHTTP(teeWriter{rw, w}, r)
	}))
	t.Cleanup(hs.Close)
	w.URL, w.Store, w.Blobs = hs.URL, st, bl
	return w
}

func newClient(t *testing.T, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Workspace: "ws", Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
