package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/assetyaml"
)

// SubmitJob submits a job read from a YAML file in dir: its code folder
// and local inputs are read from dir and sent with it.
func (c *Client) SubmitJob(ctx context.Context, spec *tandem.JobSpec, dir string) (*tandem.Job, error) {
	files, err := assetyaml.CollectFiles(dir, spec)
	if err != nil {
		return nil, err
	}
	req := api.CreateJobRequest{Job: spec}
	for _, f := range files {
		b, err := os.ReadFile(f.Abs)
		if err != nil {
			return nil, err
		}
		req.Files = append(req.Files, api.UploadFile{Path: f.Path, Content: base64.StdEncoding.EncodeToString(b)})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out tandem.Job
	if err := c.do(ctx, "POST", "/jobs", body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Job returns a job with its attempts.
func (c *Client) Job(ctx context.Context, name string) (*tandem.Job, error) {
	var out tandem.Job
	if err := c.do(ctx, "GET", "/jobs/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListJobs lists jobs, newest first.
func (c *Client) ListJobs(ctx context.Context, includeArchived bool) ([]*tandem.Job, error) {
	p := "/jobs"
	if includeArchived {
		p += "?include_archived=true"
	}
	var out api.JobList
	if err := c.do(ctx, "GET", p, nil, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// CancelJob cancels a job (a finished job is left as it is).
func (c *Client) CancelJob(ctx context.Context, name string) (*tandem.Job, error) {
	var out tandem.Job
	if err := c.do(ctx, "POST", "/jobs/"+url.PathEscape(name)+"/cancel", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ArchiveJob hides a finished job from lists.
func (c *Client) ArchiveJob(ctx context.Context, name string) (*tandem.Job, error) {
	var out tandem.Job
	if err := c.do(ctx, "POST", "/jobs/"+url.PathEscape(name)+"/archive", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JobLogs returns the newest attempt's output from offset.
func (c *Client) JobLogs(ctx context.Context, name string, offset int64) (*api.JobLogs, error) {
	var out api.JobLogs
	if err := c.do(ctx, "GET", "/jobs/"+url.PathEscape(name)+"/logs?offset="+strconv.FormatInt(offset, 10), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListCompute lists the compute targets of the region the client talks to.
func (c *Client) ListCompute(ctx context.Context) ([]*api.ComputeInfo, error) {
	var out api.ComputeList
	if err := c.do(ctx, "GET", "/compute", nil, &out); err != nil {
		return nil, err
	}
	return out.Compute, nil
}

// GetCompute shows one compute target with what runs and waits on it.
func (c *Client) GetCompute(ctx context.Context, name string) (*api.ComputeInfo, error) {
	var out api.ComputeInfo
	if err := c.do(ctx, "GET", "/compute/"+url.PathEscape(name), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutCompute creates or replaces a compute target of the region.
func (c *Client) PutCompute(ctx context.Context, t *tandem.ComputeTarget) (*tandem.ComputeTarget, error) {
	body, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var out tandem.ComputeTarget
	if err := c.do(ctx, "PUT", "/compute/"+url.PathEscape(t.Name), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCompute deletes a compute target of the region.
func (c *Client) DeleteCompute(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/compute/"+url.PathEscape(name), nil, nil)
}

// DownloadJobOutputs writes every file of the job's run (outputs, logs,
// what the job logged) under dir and returns how many.
func (c *Client) DownloadJobOutputs(ctx context.Context, name, dir string) (int, error) {
	var list api.JobFiles
	if err := c.do(ctx, "GET", "/jobs/"+url.PathEscape(name)+"/outputs", nil, &list); err != nil {
		return 0, err
	}
	for _, f := range list.Files {
		if err := tandem.ValidateRelPath(f.Path); err != nil {
			return 0, err
		}
		resp, err := c.send(ctx, "GET", "/jobs/"+url.PathEscape(name)+"/outputs/"+f.Path, nil)
		if err != nil {
			return 0, err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			resp.Body.Close()
			return 0, err
		}
		fd, err := os.Create(dst)
		if err == nil {
			_, err = io.Copy(fd, resp.Body)
			if cerr := fd.Close(); err == nil {
				err = cerr
			}
		}
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
	}
	return len(list.Files), nil
}

// Computes lists the region's compute targets without their use (the
// desired-state reader's view).
func (c *Client) Computes(ctx context.Context) ([]*tandem.ComputeTarget, error) {
	list, err := c.ListCompute(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*tandem.ComputeTarget, len(list))
	for i, ci := range list {
		out[i] = ci.ComputeTarget
	}
	return out, nil
}

// JobSettings returns the workspace-wide job settings apply wrote
// (ENOTFOUND when none were).
func (c *Client) JobSettings(ctx context.Context) (*tandem.JobSettings, error) {
	var out tandem.JobSettings
	if err := c.do(ctx, "GET", "/settings/jobs", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutJobSettings writes the workspace-wide job settings (through the
// primary).
func (c *Client) PutJobSettings(ctx context.Context, js tandem.JobSettings) error {
	body, err := json.Marshal(js)
	if err != nil {
		return err
	}
	return c.do(ctx, "PUT", "/settings/jobs", body, nil)
}

// DeleteJobSettings removes the applied job settings.
func (c *Client) DeleteJobSettings(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/settings/jobs", nil, nil)
}

// QuotaSettings returns the workspace's quotas apply wrote (ENOTFOUND
// when none were).
func (c *Client) QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error) {
	var out tandem.QuotaSettings
	if err := c.do(ctx, "GET", "/settings/quotas", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PutQuotaSettings writes the workspace's quotas (through the primary).
func (c *Client) PutQuotaSettings(ctx context.Context, q tandem.QuotaSettings) error {
	body, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return c.do(ctx, "PUT", "/settings/quotas", body, nil)
}

// DeleteQuotaSettings removes the applied quotas.
func (c *Client) DeleteQuotaSettings(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/settings/quotas", nil, nil)
}
