package region

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/localexec"
	"github.com/tandemml/tandem/pyenv"
	"github.com/tandemml/tandem/rayexec"
	"github.com/tandemml/tandem/sqlstore"
)

// workDir is the region's folder for job attempts: Config.WorkDir, else
// next to a SQLite database, else under the system's temporary folder.
func (r *Region) workDir() string {
	if r.cfg.WorkDir != "" {
		return r.cfg.WorkDir
	}
	if p, ok := strings.CutPrefix(r.cfg.MetadataURL, "sqlite://"); ok {
		p, _, _ = strings.Cut(p, "?")
		return filepath.Join(filepath.Dir(p), "work-"+r.cfg.Name)
	}
	return filepath.Join(os.TempDir(), "tandem-work-"+r.cfg.Name)
}

// trackingURI is where the region's job processes reach it: the
// workspace's URL of the region, else the address it listens on.
func (r *Region) trackingURI() string {
	if u := origin(r.cfg).Advertised; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	if v, ok := r.listenURL.Load().(string); ok {
		return v
	}
	return "http://" + r.cfg.Listen
}

// openJobs builds the region's job runner (Serve runs it).
func (r *Region) openJobs() *jobs.Runner {
	dir := r.workDir()
	local := localexec.New(filepath.Join(dir, "attempts"), r.log)
	local.BaseEnv = jobEnviron(os.Environ())
	ex := &executors{local: local, log: r.log}
	envs := r.cfg.Environments
	if envs == nil {
		python := os.Getenv("TANDEM_PYTHON")
		if python == "" {
			python = "python3"
		}
		envs = pyenv.New(filepath.Join(dir, "envs"), python, r.log)
	}
	cfg := jobs.Config{Region: r.cfg.Name, Roles: r.Roles, Store: r.Store, Jobs: sqlstore.NewJobs(r.Store), Blobs: r.Blobs, Executor: ex.of,
		WorkDir: filepath.Join(dir, "jobs"), Log: r.log, Envs: envs,
		DefaultMaxInstances: r.cfg.LocalMaxInstances, TrackingURI: r.trackingURI}
	if r.MLflow != nil { // webhook events of the versions jobs register
		cfg.ModelVersionCreated = r.MLflow.ModelVersionCreated
	}
	if r.Identity != nil {
		cfg.Tokens = &attemptTokens{id: r.Identity}
	}
	if ws := r.cfg.Workspace; ws != nil {
		cfg.WorkspaceMaxInstances = ws.Jobs.MaxInstances // jobs.max_instances
		cfg.DefaultResubmit = ws.Jobs.Resubmit           // jobs.resubmit
	}
	// The settings tandem apply wrote (replicated) win over the file's as
	// read at start, so a change reaches every region without a restart.
	file := tandem.JobSettings{MaxInstances: cfg.WorkspaceMaxInstances, Resubmit: cfg.DefaultResubmit}
	cfg.Settings = func(ctx context.Context) tandem.JobSettings {
		js, err := r.Store.JobSettings(ctx)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.ENOTFOUND {
				r.log.Warn("job settings: using the workspace file's", "err", err)
			}
			return file
		}
		return *js
	}
	runner := jobs.New(cfg)
	local.OnExit = runner.Wake
	return runner
}

// jobEnviron is the environment job processes start from: the server's,
// without tandem's own settings and credentials (TANDEM_*, MLFLOW_TRACKING_*
// and the cloud credentials the server's storage uses are not the job's).
func jobEnviron(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "TANDEM_"), strings.HasPrefix(k, "MLFLOW_TRACKING_"),
			strings.HasPrefix(k, "AWS_"), strings.HasPrefix(k, "AZURE_"), k == "GOOGLE_APPLICATION_CREDENTIALS":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// executors hands out the executor of each compute target: the region's
// one local executor, one Ray client per address.
type executors struct {
	local tandem.Executor
	log   *slog.Logger
	mu    sync.Mutex
	ray   map[string]tandem.Executor
}

func (e *executors) of(t *tandem.ComputeTarget) (tandem.Executor, error) {
	switch t.Type {
	case tandem.ComputeLocal, "":
		return e.local, nil
	case tandem.ComputeRay:
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.ray == nil {
			e.ray = map[string]tandem.Executor{}
		}
		ex, ok := e.ray[t.Address]
		if !ok {
			ex = rayexec.New(t.Address, e.log)
			e.ray[t.Address] = ex
		}
		return ex, nil
	}
	return nil, tandem.Errorf(tandem.EINVALID, "compute %s: unknown type %q", t.Name, t.Type)
}

// attemptTokens issues each attempt a token of the principal that
// submitted the job, and revokes it when the attempt ends (or when a new
// primary interrupts it: the revocation replicates, so the old attempt's
// process can write no more anywhere).
type attemptTokens struct{ id tandem.Identity }

func (t *attemptTokens) Issue(ctx context.Context, principal, description string, ttl time.Duration, grants []tandem.TokenGrant) (string, string, error) {
	p, err := t.id.Principal(ctx, principal)
	if err != nil {
		return "", "", fmt.Errorf("principal %s of the job: %w", principal, err)
	}
	raw, tok, err := auth.NewToken(p.ID, description, ttl, time.Now())
	if err != nil {
		return "", "", err
	}
	tok.Grants = grants
	if err := t.id.CreateToken(ctx, tok); err != nil {
		return "", "", err
	}
	return raw, tok.ID, nil
}

func (t *attemptTokens) Revoke(ctx context.Context, id string) error {
	return t.id.RevokeToken(ctx, id)
}
