package serving

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/mlflowapi"
)

// modelDir returns a local folder holding the files of a registered model
// version, copied from this region's artifact store (its replicated copy)
// into the cache: every file's SHA-256 is checked against its record, and
// the folder appears under its final name only when complete.
func (s *Service) modelDir(ctx context.Context, name string, version int64) (string, error) {
	sum := sha256.Sum256([]byte(name))
	dst := filepath.Join(s.cfg.CacheDir, "models", hex.EncodeToString(sum[:8]), strconv.FormatInt(version, 10))
	if _, err := os.Stat(filepath.Join(dst, "MLmodel")); err == nil {
		return dst, nil
	}
	uri, err := s.cfg.Store.GetModelVersionDownloadURI(ctx, name, version)
	if err != nil {
		return "", err
	}
	root, err := mlflowapi.ParseArtifactURI(uri)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "model %s version %d is stored at %s, outside this workspace's artifact store", name, version, uri)
	}
	arts, err := s.cfg.Store.ArtifactsUnder(ctx, root)
	if err != nil {
		return "", err
	}
	if len(arts) == 0 {
		return "", tandem.Errorf(tandem.EUNAVAILABLE, "model %s version %d: no files at %s in this region's artifact store (yet)", name, version, root)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, a := range arts {
		rel := strings.TrimPrefix(strings.TrimPrefix(a.Path, root), "/")
		if rel == "" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("model file %s: unsafe path", a.Path)
		}
		if err := s.copyArtifact(ctx, a, filepath.Join(tmp, filepath.FromSlash(rel))); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "MLmodel")); err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "model %s version %d is not an MLflow model (no MLmodel file at %s)", name, version, root)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(filepath.Join(dst, "MLmodel")); serr == nil {
			return dst, nil
		}
		return "", err
	}
	return dst, nil
}

func (s *Service) copyArtifact(ctx context.Context, a tandem.Artifact, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rd, err := s.cfg.Blobs.Open(ctx, a.Path)
	if err != nil {
		return fmt.Errorf("model file %s: %w", a.Path, err)
	}
	defer rd.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), rd)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("model file %s: %w", a.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); a.SHA256 != "" && got != a.SHA256 {
		return fmt.Errorf("model file %s: SHA-256 %s differs from the recorded %s", a.Path, got, a.SHA256)
	}
	return nil
}

// metrics are the scoring metrics of a region.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	restarts *prometheus.CounterVec
	// Request logs (requestlog.go).
	logsWritten prometheus.Counter
	logsDropped prometheus.Counter
}

func newMetrics(region string, reg prometheus.Registerer) *metrics {
	labels := prometheus.Labels{"region": region}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_endpoint_requests_total",
			Help: "Scoring requests by endpoint, deployment and HTTP status.", ConstLabels: labels}, []string{"endpoint", "deployment", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tandem_endpoint_request_seconds",
			Help: "Scoring request latency through the region's router.", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"endpoint", "deployment"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tandem_endpoint_instance_restarts_total",
			Help: "Scoring processes restarted after they exited or failed their liveness probe.", ConstLabels: labels}, []string{"endpoint", "deployment"}),
		logsWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_endpoint_request_logs_total",
			Help: "Request log lines of this region written to their deployment's run (by this region or by the primary it sent them to).", ConstLabels: labels}),
		logsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tandem_endpoint_request_logs_dropped_total",
			Help: "Request log lines dropped: the buffer was full, or the primary refused them for good.", ConstLabels: labels}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.restarts, m.logsWritten, m.logsDropped)
	}
	return m
}
