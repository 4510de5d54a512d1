// Package rayexec is the tandem.Executor of a Ray compute target: it runs
// job attempts on a Ray cluster through the Ray Job Submission REST API
// that the cluster's dashboard serves (http://HEAD:8265/api/jobs/).
//
// One attempt is one Ray job; the handle is its submission id
// (SubmissionID of LaunchSpec.ID), so a restarted region finds its attempts
// on the cluster again. The attempt's folder (WorkDir) is zipped
// deterministically and uploaded once per content as a package
// (PUT /api/packages/gcs/_ray_pkg_<hash>.zip) that the job names as its
// runtime_env working_dir; Env becomes runtime_env.env_vars, Pip
// runtime_env.pip (Ray installs it on the node, in a virtualenv per
// environment). The command is the job's entrypoint, which Ray runs with a
// shell in the unpacked working folder.
//
// A Ray worker need not share the region's filesystem: an attempt's data
// inputs (LaunchSpec.Inputs) are downloaded by the job itself, before its
// command starts, from the region (its artifact proxy, its asset API) into
// a folder of its own on the worker, and its named outputs
// (LaunchSpec.Outputs) are folders the job makes on its worker and uploads
// itself to its run's artifacts through the region's artifact proxy
// before it ends (outputs.go, outputs.py). Neither travels in the working
// folder's package.
//
// Ray has no run-time limit of its own, so Timeout is recorded in the
// job's metadata and enforced by Status: past it, Status stops the job and
// reports it failed. Ray runs one driver per job: InstanceCount above 1 is
// for the program to use through Ray itself (tasks, actors).
//
// Ray stores the runtime_env, env_vars included, and shows it to whoever
// can read the cluster's job API (Ray 2.60 masks env_vars only for browser
// requests to the dashboard): the cluster's dashboard must be reachable by
// the region only, as its jobs' tokens are. A cluster with Ray's token
// authentication on (RAY_AUTH_MODE=token) takes the executor WithToken.
package rayexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// requestTimeout bounds one request to the cluster when the caller's
// context has no deadline; uploads get uploadTimeout.
const (
	requestTimeout = 60 * time.Second
	uploadTimeout  = 15 * time.Minute
)

// Executor runs attempts on one Ray cluster. It holds no state of its own
// beyond the address: everything about an attempt lives in the cluster.
// Safe for concurrent use.
type Executor struct {
	address string
	hc      *http.Client
	log     *slog.Logger
	now     func() time.Time
	tmp     string // where packages are zipped; "" is os.TempDir
	token   string // Ray's authentication token; never logged
}

// New returns the executor for the Ray cluster whose dashboard is at
// address (for example http://127.0.0.1:8265).
func New(address string, log *slog.Logger) *Executor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{
		address: strings.TrimRight(address, "/"),
		hc:      &http.Client{},
		log:     log.With("compute", "ray", "address", strings.TrimRight(address, "/")),
		now:     time.Now,
	}
}

// WithToken returns a copy of the executor that authenticates to the
// cluster with Ray's token authentication (a cluster started with
// RAY_AUTH_MODE=token): every request carries "Authorization: Bearer
// token". The token is a secret: it is never logged nor put in an error.
func (e *Executor) WithToken(token string) *Executor {
	c := *e
	c.token = token
	return &c
}

var _ tandem.Executor = (*Executor)(nil)

// submitRequest is the body of POST /api/jobs/.
type submitRequest struct {
	Entrypoint   string            `json:"entrypoint"`
	SubmissionID string            `json:"submission_id"`
	RuntimeEnv   map[string]any    `json:"runtime_env,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// newSubmitRequest is the submission of spec, with workingDir the URI of
// its uploaded folder ("" when it has none).
func newSubmitRequest(spec tandem.LaunchSpec, workingDir string) submitRequest {
	env := map[string]any{}
	if workingDir != "" {
		env["working_dir"] = workingDir
	}
	if len(spec.Env) > 0 {
		vars := make(map[string]string, len(spec.Env))
		for k, v := range spec.Env {
			vars[k] = v
		}
		env["env_vars"] = vars
	}
	if len(spec.Pip) > 0 {
		env["pip"] = append([]string(nil), spec.Pip...)
	}
	meta := map[string]string{metaAttempt: spec.ID}
	if spec.Timeout > 0 {
		meta[metaTimeout] = spec.Timeout.String()
	}
	return submitRequest{Entrypoint: entrypoint(spec), SubmissionID: SubmissionID(spec.ID), RuntimeEnv: env, Metadata: meta}
}

// PlacesProcesses: a distributed attempt is one Ray job whose ranks are
// actors spread over the cluster (ranks.py), not one job per rank.
func (e *Executor) PlacesProcesses() {}

// Start uploads the attempt's folder (unless the cluster has it already)
// and submits the job. Starting an attempt that is already on the cluster
// (a retry after a lost answer, a restarted region) returns its handle;
// a different job under the same submission id is EEXISTS.
func (e *Executor) Start(ctx context.Context, spec tandem.LaunchSpec) (string, error) {
	if spec.ID == "" {
		return "", tandem.Errorf(tandem.EINVALID, "ray: an attempt needs an ID")
	} else if strings.TrimSpace(spec.Command) == "" {
		return "", tandem.Errorf(tandem.EINVALID, "ray: attempt %s has no command", spec.ID)
	}
	if spec.InstanceCount > 1 && len(spec.Processes) == 0 {
		e.log.Info("ray runs one driver per job; instance_count without a distribution is left to the program", "attempt", spec.ID, "instance_count", spec.InstanceCount)
	}
	if len(spec.Outputs) > 0 && spec.OutputsArtifactPath == "" {
		return "", tandem.Errorf(tandem.EINVALID, "ray: attempt %s has outputs but no artifact path to upload them to", spec.ID)
	}
	workingDir := ""
	if extra := extraFiles(spec); spec.WorkDir != "" || len(extra) > 0 {
		uri, err := e.upload(ctx, spec.WorkDir, extra)
		if err != nil {
			return "", err
		}
		workingDir = uri
	}
	req := newSubmitRequest(spec, workingDir)
	body, err := json.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("ray submit: %w", err)
	}
	var resp struct {
		SubmissionID string `json:"submission_id"`
	}
	status, msg, err := e.call(ctx, http.MethodPost, "/api/jobs/", bytes.NewReader(body), int64(len(body)), &resp)
	if err != nil {
		return "", redactError(err, spec.Env)
	}
	switch {
	case status == http.StatusOK:
		if resp.SubmissionID != req.SubmissionID {
			return "", tandem.Errorf(tandem.EINTERNAL, "ray: submitted %s, the cluster answered %q", req.SubmissionID, resp.SubmissionID)
		}
		e.log.Info("ray job submitted", "attempt", spec.ID, "submission_id", req.SubmissionID, "working_dir", workingDir)
		return req.SubmissionID, nil
	case status/100 == 4 && strings.Contains(msg, "already exists"):
		return e.resume(ctx, req)
	}
	return "", redactError(e.refused(http.MethodPost, "/api/jobs/", status, msg), spec.Env)
}

// resume answers a submission whose id the cluster knows already: the same
// attempt if the job carries its ID and command.
func (e *Executor) resume(ctx context.Context, req submitRequest) (string, error) {
	j, found, err := e.job(ctx, req.SubmissionID)
	if err != nil {
		return "", err
	}
	if found && j.Metadata[metaAttempt] == req.Metadata[metaAttempt] && j.Entrypoint == req.Entrypoint {
		e.log.Info("ray job already submitted", "attempt", req.Metadata[metaAttempt], "submission_id", req.SubmissionID, "status", j.Status)
		return req.SubmissionID, nil
	}
	return "", tandem.Errorf(tandem.EEXISTS, "ray: the cluster at %s has another job with submission id %s", e.address, req.SubmissionID)
}

// upload zips dir with extra (packDir) and puts it into the cluster unless
// a package of the same content is there already; it returns the
// package's URI.
func (e *Executor) upload(ctx context.Context, dir string, extra map[string][]byte) (string, error) {
	pkg, err := packDir(dir, e.tmp, extra)
	if err != nil {
		return "", err
	}
	defer os.Remove(pkg.Path)
	path := "/api/packages/gcs/" + pkg.Name
	// The check also pins the package in the cluster for a while, so it
	// is not collected between here and the submission.
	status, msg, err := e.call(ctx, http.MethodGet, path, nil, 0, nil)
	if err != nil {
		return "", err
	}
	switch status {
	case http.StatusOK:
		e.log.Debug("ray package present", "package", pkg.Name)
		return pkg.URI(), nil
	case http.StatusNotFound:
	default:
		return "", e.refused(http.MethodGet, path, status, msg)
	}
	f, err := os.Open(pkg.Path)
	if err != nil {
		return "", fmt.Errorf("ray package: %w", err)
	}
	defer f.Close()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, uploadTimeout)
		defer cancel()
	}
	status, msg, err = e.call(ctx, http.MethodPut, path, f, pkg.Size, nil)
	if err != nil {
		return "", err
	} else if status != http.StatusOK {
		return "", e.refused(http.MethodPut, path, status, msg)
	}
	e.log.Info("ray package uploaded", "package", pkg.Name, "bytes", pkg.Size)
	return pkg.URI(), nil
}

// Status looks the job up. A job the cluster does not know is
// ProcessLost; a job past its timeout is stopped and reported failed.
func (e *Executor) Status(ctx context.Context, handle string) (tandem.ProcessStatus, error) {
	j, found, err := e.job(ctx, handle)
	if err != nil {
		return tandem.ProcessStatus{}, err
	}
	if !found {
		return tandem.ProcessStatus{State: tandem.ProcessLost,
			Message: fmt.Sprintf("the Ray cluster at %s has no job %s", e.address, handle)}, nil
	}
	// The cluster's clock, not ours, decides a timeout: Ray's start and
	// end times are on it, and observe compares them with now.
	now := j.Date
	if now.IsZero() {
		now = e.now()
	}
	obs, err := observe(j, now)
	if err != nil {
		return tandem.ProcessStatus{}, err
	}
	if obs.Expire {
		e.log.Info("ray job timed out; stopping it", "submission_id", handle, "timeout", j.Metadata[metaTimeout])
		stopped, err := e.stop(ctx, handle)
		if err != nil {
			return tandem.ProcessStatus{}, err
		}
		if !stopped {
			// It ended by itself meanwhile: report how.
			if j, found, err = e.job(ctx, handle); err != nil {
				return tandem.ProcessStatus{}, err
			} else if !found {
				return tandem.ProcessStatus{State: tandem.ProcessLost,
					Message: fmt.Sprintf("the Ray cluster at %s has no job %s", e.address, handle)}, nil
			}
			if obs, err = observe(j, now); err != nil {
				return tandem.ProcessStatus{}, err
			}
		}
	}
	return obs.Status, nil
}

// job fetches GET /api/jobs/{id}; found is false on 404.
func (e *Executor) job(ctx context.Context, handle string) (jobInfo, bool, error) {
	var j jobInfo
	path := "/api/jobs/" + url.PathEscape(handle)
	status, msg, err := e.call(ctx, http.MethodGet, path, nil, 0, &j)
	if err != nil {
		return jobInfo{}, false, err
	}
	switch status {
	case http.StatusOK:
		if j.SubmissionID == "" {
			j.SubmissionID = handle
		}
		return j, true, nil
	case http.StatusNotFound:
		return jobInfo{}, false, nil
	}
	return jobInfo{}, false, e.refused(http.MethodGet, path, status, msg)
}

// Logs returns the job's log (the entrypoint's stdout and stderr, and Ray's
// lines on setting up its environment) from byte offset on. Ray serves the
// whole log on every call; the offset is applied here.
//
// The job API reads the log as UTF-8 text (with Python's newline
// translation: "\r\n" and "\r" become "\n") and fails on a log that is
// not UTF-8; for such a log, Logs reads the file's bytes through Ray's
// state API instead. A log changes source at most once, when its first
// invalid byte is written; offsets from before that count the text, so a
// log with carriage returns may repeat or skip a few bytes at that point.
func (e *Executor) Logs(ctx context.Context, handle string, offset int64) ([]byte, int64, error) {
	if offset < 0 {
		return nil, 0, tandem.Errorf(tandem.EINVALID, "ray: negative log offset %d", offset)
	}
	var resp struct {
		Logs string `json:"logs"`
	}
	path := "/api/jobs/" + url.PathEscape(handle) + "/logs"
	status, msg, err := e.call(ctx, http.MethodGet, path, nil, 0, &resp)
	if err != nil {
		return nil, offset, err
	}
	var data []byte
	switch {
	case status == http.StatusOK:
		data = []byte(resp.Logs)
	case status == http.StatusNotFound:
		return nil, offset, tandem.Errorf(tandem.ENOTFOUND, "ray: the cluster at %s has no job %s", e.address, handle)
	case strings.Contains(msg, "UnicodeDecodeError"):
		if data, err = e.rawLogs(ctx, handle); err != nil {
			return nil, offset, err
		}
	default:
		return nil, offset, e.refused(http.MethodGet, path, status, msg)
	}
	if offset >= int64(len(data)) {
		return nil, offset, nil
	}
	return data[offset:], int64(len(data)), nil
}

// rawLogs reads the bytes of the job's log file through Ray's state API
// (GET /api/v0/logs/file), which serves a file of a node: the node that
// runs the job's driver.
func (e *Executor) rawLogs(ctx context.Context, handle string) ([]byte, error) {
	j, found, err := e.job(ctx, handle)
	if err != nil {
		return nil, err
	} else if !found {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "ray: the cluster at %s has no job %s", e.address, handle)
	} else if j.DriverNodeID == "" {
		return nil, nil
	}
	path := "/api/v0/logs/file?" + url.Values{"node_id": {j.DriverNodeID}, "submission_id": {handle}, "lines": {"-1"}}.Encode()
	var data []byte
	status, msg, err := e.call(ctx, http.MethodGet, path, nil, 0, &data)
	if err != nil {
		return nil, err
	} else if status != http.StatusOK {
		return nil, e.refused(http.MethodGet, path, status, msg)
	}
	return data, nil
}

// Stop asks the cluster to stop the job (Ray sends SIGTERM to the
// entrypoint's processes, then SIGKILL). Stopping a finished or unknown job
// is not an error.
func (e *Executor) Stop(ctx context.Context, handle string) error {
	_, err := e.stop(ctx, handle)
	return err
}

// stop is Stop, and says whether the job was still running.
func (e *Executor) stop(ctx context.Context, handle string) (bool, error) {
	var resp struct {
		Stopped bool `json:"stopped"`
	}
	path := "/api/jobs/" + url.PathEscape(handle) + "/stop"
	status, msg, err := e.call(ctx, http.MethodPost, path, nil, 0, &resp)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusOK:
		e.log.Info("ray job stop", "submission_id", handle, "was_running", resp.Stopped)
		return resp.Stopped, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, e.refused(http.MethodPost, path, status, msg)
}

// call sends one request. It returns the HTTP status with, for anything
// but 200, Ray's message from the body; out is decoded from a 200's body
// as JSON, or, when it is a *[]byte, set to the body itself; an out that
// is dated also gets the answer's Date.
// err is set only when there is no usable answer: the cluster unreachable
// (EUNAVAILABLE), the context done, a 200 that does not decode.
func (e *Executor) call(ctx context.Context, method, path string, body io.Reader, size int64, out any) (int, string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, e.address+path, body)
	if err != nil {
		return 0, "", tandem.Errorf(tandem.EINVALID, "ray: bad cluster address %q: %v", e.address, err)
	}
	if body != nil {
		req.ContentLength = size
		if method == http.MethodPut {
			req.Header.Set("Content-Type", "application/zip")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	req.Header.Set("User-Agent", "tandem-rayexec")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			if errors.Is(ctxErr, context.DeadlineExceeded) {
				return 0, "", tandem.Errorf(tandem.EUNAVAILABLE, "ray: the cluster at %s did not answer %s %s in time", e.address, method, path)
			}
			return 0, "", ctxErr
		}
		return 0, "", &tandem.Error{Code: tandem.EUNAVAILABLE,
			Message: fmt.Sprintf("ray: the cluster at %s is unreachable: %v", e.address, unwrapURLError(err)),
			Detail:  map[string]string{"address": e.address}}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		status, msg := rayError(resp.StatusCode, string(b))
		return status, msg, nil
	}
	if raw, ok := out.(*[]byte); ok {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, "", tandem.Errorf(tandem.EUNAVAILABLE, "ray: reading the answer of the cluster at %s to %s %s: %v", e.address, method, path, err)
		}
		*raw = b
	} else if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0, "", tandem.Errorf(tandem.EUNAVAILABLE, "ray: the cluster at %s answered %s %s with a body tandem cannot read: %v", e.address, method, path, err)
		}
	}
	if d, ok := out.(dated); ok {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			d.setDate(t)
		}
	}
	return resp.StatusCode, "", nil
}

// dated is an answer that wants the cluster's clock: the Date of the
// response (aiohttp, which serves Ray's dashboard, always sends one).
type dated interface{ setDate(time.Time) }

// refused is the error for an answer other than the expected ones: Ray's
// own message, as EINVALID when Ray found the request bad (4xx), and
// EUNAVAILABLE when the cluster failed (5xx) or refused the region's
// credentials (401, 403).
func (e *Executor) refused(method, path string, status int, msg string) error {
	code := tandem.EUNAVAILABLE
	if msg == "" {
		msg = http.StatusText(status)
	}
	msg = redact(msg, map[string]string{"token": e.token})
	what := "refused"
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Not the caller's credentials: the region's, for this compute
		// target. The target cannot serve until they are fixed.
		what = "refused tandem's credentials for"
		if e.token == "" {
			msg += " (the cluster has token authentication on; the compute target needs its token)"
		}
	case status/100 == 4:
		code = tandem.EINVALID
	}
	return &tandem.Error{Code: code,
		Message: fmt.Sprintf("ray: the cluster at %s %s %s %s (%d): %s", e.address, what, method, path, status, msg),
		Detail:  map[string]string{"address": e.address}}
}

// unwrapURLError drops net/http's "Get \"URL\":" prefix, which repeats the
// address the message names already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactError removes env's values from a tandem error's message.
func redactError(err error, env map[string]string) error {
	var te *tandem.Error
	if errors.As(err, &te) {
		c := *te
		c.Message = redact(te.Message, env)
		return &c
	}
	return err
}
