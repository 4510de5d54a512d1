// Package region assembles one running region of a workspace: its metadata
// store, artifact store and HTTP APIs. cmd/tandem wires a Region from flags
// or the workspace file; tests start Regions in-process or as processes.
package region

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/sqlstore"
)

// Config is what one region needs to run.
type Config struct {
	Name         string // region name ("local" for a single-region server)
	Listen       string // host:port
	MetadataURL  string // sqlite:///... or postgres://...
	ArtifactsURL string // file:///..., s3://..., azblob://..., gs://...
	Logger       *slog.Logger
}

// Region is one running region.
type Region struct {
	cfg    Config
	Store  *sqlstore.Store
	Blobs  *blobstore.Store
	MLflow *mlflowapi.Server
	log    *slog.Logger
	mux    *http.ServeMux
}

// Open opens the stores and builds the HTTP handlers; it does not listen.
func Open(ctx context.Context, cfg Config) (*Region, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	store, err := sqlstore.Open(ctx, cfg.MetadataURL, sqlstore.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	blobs, err := blobstore.Open(ctx, cfg.ArtifactsURL)
	if err != nil {
		store.Close()
		return nil, err
	}
	r := &Region{cfg: cfg, Store: store, Blobs: blobs, log: log, mux: http.NewServeMux()}
	r.MLflow = mlflowapi.New(store, blobs, log)
	if err := r.MLflow.Bootstrap(ctx); err != nil {
		r.Close()
		return nil, err
	}
	r.mux.HandleFunc("GET /health", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("OK"))
	})
	r.mux.HandleFunc("GET /version", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(tandem.MLflowCompat))
	})
	r.mux.HandleFunc("GET /api/tandem/v1/version", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"tandem": tandem.Version, "mlflow_api": tandem.MLflowCompat})
	})
	r.mux.Handle(api.Prefix+"/", api.New(api.Config{Store: store, Blobs: blobs, Log: log, MetadataURL: cfg.MetadataURL}))
	r.mux.Handle("/api/", r.MLflow)
	r.mux.Handle("/ajax-api/", r.MLflow)
	return r, nil
}

// Handler is the region's whole HTTP surface.
func (r *Region) Handler() http.Handler { return mlflowapi.Guard(r.mux) }

// Close closes the stores.
func (r *Region) Close() error {
	return errors.Join(r.Store.Close(), r.Blobs.Close())
}

// Serve listens on cfg.Listen (or uses ln when not nil) and serves until ctx
// ends, then shuts down gracefully.
func (r *Region) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", r.cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", r.cfg.Listen, err)
		}
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	r.log.Info("serving", "region", r.cfg.Name, "addr", ln.Addr().String(),
		"metadata", r.Store.Dialect().String(), "artifacts", r.Blobs.URL())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
