package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/schedule"
)

// JobRunner is what the jobs API asks of the region's job runner (package
// jobs): start looking now, logs, compute usage.
type JobRunner interface {
	Wake()
	Logs(ctx context.Context, j *tandem.Job, offset int64) ([]byte, int64, error)
	Computes(ctx context.Context) ([]*tandem.ComputeTarget, error)
	Usage(ctx context.Context) (used map[string]int, queued map[string]string, err error)
	WorkspaceQuota(ctx context.Context) (max, inUse int, err error)
	DefaultResubmit(ctx context.Context) *tandem.ResubmitPolicy
}

// SetJobRunner connects the jobs API to the region's runner (nil: jobs are
// stored but this region runs none, and logs come from artifacts only).
func (s *Server) SetJobRunner(r JobRunner) { s.runner = r }

// CreateJobRequest is the body of POST /jobs: the job as tandem job create
// read it, and the files of its code folder and local inputs.
type CreateJobRequest struct {
	Job   *tandem.JobSpec `json:"job"`
	Files []UploadFile    `json:"files,omitempty"`
}

// JobList is the body of GET /jobs.
type JobList struct {
	Jobs []*tandem.Job `json:"jobs"`
}

// JobLogs is the body of GET /jobs/{name}/logs.
type JobLogs struct {
	Data   string           `json:"data"`
	Offset int64            `json:"offset"` // ask from here next time
	Status tandem.JobStatus `json:"status"`
}

// ComputeInfo is a compute target with what runs and waits on it, and
// the workspace quota (jobs.max_instances) every compute shares.
type ComputeInfo struct {
	*tandem.ComputeTarget
	InUse  int               `json:"in_use"`
	Queued map[string]string `json:"queued,omitempty"` // job -> why it waits
	// WorkspaceMaxInstances is the workspace quota (0: none) and
	// WorkspaceInUse the instances all of the region's compute take from it.
	WorkspaceMaxInstances int `json:"workspace_max_instances,omitempty"`
	WorkspaceInUse        int `json:"workspace_in_use,omitempty"`
}

// ComputeList is the body of GET /compute.
type ComputeList struct {
	Compute []*ComputeInfo `json:"compute"`
}

// maxJobBytes bounds a job create request (code is sent inline).
const maxJobBytes = 64 << 20

func (s *Server) addJobRoutes() {
	s.route("POST", "/jobs", "Submit a job (command or pipeline; its code files inline)", "", handle(s, 201, s.createJob))
	s.route("GET", "/jobs", "List jobs, newest first (?include_archived=true)", "", handle(s, 200, s.listJobs))
	s.route("GET", "/jobs/{name}", "Show a job with its attempts", "", handle(s, 200, s.showJob))
	s.route("POST", "/jobs/{name}/cancel", "Cancel a job", "", handle(s, 200, s.cancelJob))
	s.route("POST", "/jobs/{name}/archive", "Archive a job (hidden from list)", "", handle(s, 200, s.archiveJob))
	s.route("GET", "/jobs/{name}/logs", "The newest attempt's output from ?offset=", "", handle(s, 200, s.jobLogs))
	s.route("GET", "/jobs/{name}/outputs", "List the files of a job's run (outputs, logs, what it logged)", "", handle(s, 200, s.jobOutputs))
	s.route("GET", "/jobs/{name}/outputs/{path...}", "Download one file of a job's run", "", s.jobOutputFile)
	s.route("GET", "/compute", "List this region's compute targets with their use", "", handle(s, 200, s.listCompute))
	s.route("GET", "/compute/{name}", "Show one compute target of this region, what runs and waits on it", "", handle(s, 200, s.showCompute))
	s.route("PUT", "/compute/{name}", "Create or change a compute target of this region", "", handleJSON(s, 200, s.putCompute))
	s.route("DELETE", "/compute/{name}", "Delete a compute target of this region", "", handle(s, 200, s.deleteCompute))
}

func (s *Server) jobStore() JobStore { return s.jobs }

func (s *Server) createJob(r *http.Request) (*tandem.Job, error) {
	ctx := r.Context()
	body, err := readBody(r, maxJobBytes)
	if err != nil {
		return nil, err
	}
	var req CreateJobRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return nil, err
	}
	spec := req.Job
	if spec == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "job is required")
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Name == "" {
		spec.Name = generatedJobName()
	}
	if spec.Resubmit == nil && s.runner != nil {
		// The workspace default, recorded with the job: every region
		// resubmits it by the same policy after a failover.
		spec.Resubmit = s.runner.DefaultResubmit(r.Context())
	}
	js := s.jobStore()
	if _, err := js.Job(ctx, spec.Name); err == nil {
		return nil, tandem.Errorf(tandem.EEXISTS, "job %q already exists", spec.Name)
	}
	if err := s.checkJobReferences(ctx, spec); err != nil {
		return nil, err
	}
	files, contents, err := jobFiles(spec, req.Files)
	if err != nil {
		return nil, err
	}
	if err := s.store.CheckWritable(ctx); err != nil {
		return nil, err
	}
	// Bytes first, under the job's own prefix: a job create that fails
	// after this leaves unreferenced bytes under a name no job has, which
	// the next create of that name overwrites.
	var refs []tandem.BlobRef
	for i, f := range files {
		ref, err := s.blobs.Put(ctx, tandem.JobFilesPrefix(spec.Name)+f.Path, bytes.NewReader(contents[i]), f.SHA256)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	principal := ""
	if c := auth.CallerFrom(ctx); c != nil && !c.Peer {
		principal = c.Name
	}
	expName := spec.ExperimentName
	if expName == "" {
		expName = "Default"
	}
	expID, err := s.experimentFor(ctx, expName)
	if err != nil {
		return nil, err
	}
	runName := spec.DisplayName
	if runName == "" {
		runName = spec.Name
	}
	tags := []tandem.Tag{{Key: "tandem.job", Value: spec.Name}, {Key: "mlflow.source.name", Value: "tandem job " + spec.Name},
		{Key: "mlflow.source.type", Value: "JOB"}}
	if principal != "" {
		tags = append(tags, tandem.Tag{Key: "mlflow.user", Value: principal})
	}
	for _, k := range tandem.SortedKeys(spec.Tags) {
		tags = append(tags, tandem.Tag{Key: k, Value: spec.Tags[k]})
	}
	runID, err := s.store.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: expID, UserID: principal, StartTime: time.Now().UnixMilli(), RunName: runName, Tags: tags})
	if err != nil {
		return nil, err
	}
	scheduled := "SCHEDULED"
	if err := s.store.UpdateRun(ctx, runID, &scheduled, nil, nil); err != nil {
		return nil, err
	}
	j := &tandem.Job{Name: spec.Name, Spec: *spec, Files: files, Status: tandem.JobQueued, ExperimentID: expID, RunID: runID,
		Principal: principal, CreatedMS: time.Now().UnixMilli()}
	if _, err := js.CreateJobWithFiles(ctx, j, refs); err != nil {
		return nil, err
	}
	if s.runner != nil {
		s.runner.Wake()
	}
	return j, nil
}

// experimentFor returns the id of the named experiment, creating it.
func (s *Server) experimentFor(ctx context.Context, name string) (string, error) {
	e, err := s.store.GetExperimentByName(ctx, name)
	if err == nil {
		return e.ExperimentID, nil
	}
	if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return "", err
	}
	id, err := s.store.CreateExperiment(ctx, name, "", nil)
	if tandem.ErrorCode(err) == tandem.EEXISTS {
		if e, err := s.store.GetExperimentByName(ctx, name); err == nil {
			return e.ExperimentID, nil
		}
	}
	return id, err
}

// checkJobReferences: the environment, components and data assets a job
// names exist (nothing is created when one does not).
func (s *Server) checkJobReferences(ctx context.Context, spec *tandem.JobSpec) error {
	check := func(where string, kind tandem.AssetKind, ref string) error {
		if ref == "" {
			return nil
		}
		ar, err := tandem.ParseAssetRef(ref)
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "%s: %s", where, tandem.ErrorMessage(err))
		}
		if _, err := s.store.GetAsset(ctx, kind, ar.Name, ar.Version); err != nil {
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return tandem.Errorf(tandem.ENOTFOUND, "%s: %s %s does not exist", where, kind, ref)
			}
			return err
		}
		return nil
	}
	if err := check("environment", tandem.AssetEnvironment, spec.Environment); err != nil {
		return err
	}
	for _, n := range tandem.SortedKeys(spec.Inputs) {
		if in := spec.Inputs[n]; in.Value == nil && strings.HasPrefix(in.Path, "azureml:") {
			if err := check("inputs."+n, tandem.AssetData, in.Path); err != nil {
				return err
			}
		}
	}
	if err := s.checkOutputAssets(ctx, spec); err != nil {
		return err
	}
	if p := spec.Pipeline; p != nil {
		for _, n := range tandem.SortedKeys(p.Jobs) {
			st := p.Jobs[n]
			if st.Inline != nil {
				if err := check("jobs."+n+".environment", tandem.AssetEnvironment, st.Inline.Environment); err != nil {
					return err
				}
				continue
			}
			if tandem.IsLocalPath(st.Component) {
				return tandem.Errorf(tandem.EINVALID, "jobs.%s.component: register the component first (tandem component create) and name it azureml:NAME:VERSION", n)
			}
			if err := check("jobs."+n+".component", tandem.AssetComponent, st.Component); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOutputAssets: no two outputs register the same data asset version,
// and none names a data asset version that exists already (versions
// cannot change: the job would fail only once it has run).
func (s *Server) checkOutputAssets(ctx context.Context, spec *tandem.JobSpec) error {
	seen := map[string]string{}
	for _, o := range spec.OutputAssets() {
		if tandem.OutputAssetKind(o.Type) != tandem.AssetData || o.Version == "" {
			continue
		}
		key := o.Name + ":" + o.Version
		if other, dup := seen[key]; dup {
			return tandem.Errorf(tandem.EINVALID, "%s and %s both register data %s version %s", other, o.Where, o.Name, o.Version)
		}
		seen[key] = o.Where
		if _, err := s.store.GetAsset(ctx, tandem.AssetData, o.Name, o.Version); err == nil {
			return tandem.Errorf(tandem.EEXISTS, "%s: data %s version %s already exists; versions cannot be changed (give another version, or none for the next)", o.Where, o.Name, o.Version)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
	}
	return nil
}

// jobFiles checks the uploaded files: every one under the code folder or a
// local input path, each sent once, content matching its sha256; and every
// local path has files.
func jobFiles(spec *tandem.JobSpec, in []UploadFile) ([]tandem.AssetFile, [][]byte, error) {
	var roots []string
	for _, p := range spec.LocalPaths() {
		c, err := tandem.CleanLocalPath(p)
		if err != nil {
			return nil, nil, err
		}
		roots = append(roots, c)
	}
	under := func(p string) bool {
		for _, r := range roots {
			if r == "." || p == r || strings.HasPrefix(p, r+"/") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	var files []tandem.AssetFile
	var contents [][]byte
	for _, f := range in {
		if err := tandem.ValidateRelPath(f.Path); err != nil {
			return nil, nil, err
		}
		if seen[f.Path] {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "file %q is sent twice", f.Path)
		}
		seen[f.Path] = true
		if !under(f.Path) {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "file %q is not under the job's code folder or a local input", f.Path)
		}
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "file %q: content is not base64", f.Path)
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		if f.SHA256 != "" && f.SHA256 != h {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "file %q: sha256 does not match its content", f.Path)
		}
		files = append(files, tandem.AssetFile{Path: f.Path, Size: int64(len(b)), SHA256: h})
		contents = append(contents, b)
	}
	for _, r := range roots {
		found := false
		for _, f := range files {
			found = found || r == "." || f.Path == r || strings.HasPrefix(f.Path, r+"/")
		}
		if !found {
			return nil, nil, tandem.Errorf(tandem.EINVALID, "local path %q has no uploaded files", r)
		}
	}
	idx := make([]int, len(files))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return files[idx[a]].Path < files[idx[b]].Path })
	sf, sc := make([]tandem.AssetFile, len(files)), make([][]byte, len(files))
	for i, k := range idx {
		sf[i], sc[i] = files[k], contents[k]
	}
	return sf, sc, nil
}

var jobAdjectives = []string{"amber", "brave", "calm", "eager", "frank", "gentle", "happy", "keen", "lively", "mellow", "nimble", "plucky", "quiet", "sharp", "tidy", "witty"}
var jobNouns = []string{"river", "lamp", "garden", "kettle", "lantern", "meadow", "orchard", "pepper", "quill", "saddle", "tulip", "violin", "walnut", "yarrow", "zephyr", "harbor"}

// generatedJobName is an Azure-ML-style name: adjective_noun_random.
func generatedJobName() string {
	pick := func(l []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(l))))
		return l[n.Int64()]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return pick(jobAdjectives) + "_" + pick(jobNouns) + "_" + hex.EncodeToString(b[:])
}

func (s *Server) listJobs(r *http.Request) (*JobList, error) {
	all := r.URL.Query().Get("include_archived") == "true"
	jobs, err := s.jobStore().ListJobs(r.Context(), all)
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []*tandem.Job{}
	}
	return &JobList{Jobs: jobs}, nil
}

func (s *Server) showJob(r *http.Request) (*tandem.Job, error) {
	return s.jobStore().Job(r.Context(), r.PathValue("name"))
}

func (s *Server) cancelJob(r *http.Request) (*tandem.Job, error) {
	ctx := r.Context()
	js := s.jobStore()
	j, err := js.Job(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if j.Status.Terminal() {
		return j, nil // canceling a finished job changes nothing, as in az ml
	}
	j.Status, j.Message = tandem.JobCancelRequested, "canceled by "+callerName(ctx)
	if !hasActiveAttempt(j) {
		j.Status = tandem.JobCanceled
		j.EndMS = time.Now().UnixMilli()
		killed := "KILLED"
		end := j.EndMS
		if err := s.store.UpdateRun(ctx, j.RunID, &killed, &end, nil); err != nil {
			return nil, err
		}
	}
	if err := js.UpdateJob(ctx, j); err != nil {
		return nil, err
	}
	if s.runner != nil {
		s.runner.Wake()
	}
	return j, nil
}

func hasActiveAttempt(j *tandem.Job) bool {
	for _, a := range j.Attempts {
		if !a.Status.Terminal() {
			return true
		}
	}
	return false
}

func callerName(ctx context.Context) string {
	if c := auth.CallerFrom(ctx); c != nil {
		return c.Name
	}
	return "the user"
}

func (s *Server) archiveJob(r *http.Request) (*tandem.Job, error) {
	ctx := r.Context()
	js := s.jobStore()
	j, err := js.Job(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if !j.Status.Terminal() {
		return nil, tandem.Errorf(tandem.EINVALIDSTATE, "job %s is %s; cancel it before archiving", j.Name, j.Status)
	}
	j.Archived = true
	return j, js.UpdateJob(ctx, j)
}

func (s *Server) jobLogs(r *http.Request) (*JobLogs, error) {
	ctx := r.Context()
	j, err := s.jobStore().Job(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	var offset int64
	if v := r.URL.Query().Get("offset"); v != "" {
		if offset, err = strconv.ParseInt(v, 10, 64); err != nil || offset < 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "offset must be a non-negative integer")
		}
	}
	if s.runner == nil {
		return &JobLogs{Offset: offset, Status: j.Status}, nil
	}
	data, next, err := s.runner.Logs(ctx, j, offset)
	if err != nil {
		return nil, err
	}
	return &JobLogs{Data: string(data), Offset: next, Status: j.Status}, nil
}

func (s *Server) computeInfos(ctx context.Context) ([]*ComputeInfo, error) {
	if s.runner == nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "this region runs no jobs")
	}
	cs, err := s.runner.Computes(ctx)
	if err != nil {
		return nil, err
	}
	used, queued, err := s.runner.Usage(ctx)
	if err != nil {
		return nil, err
	}
	wsMax, wsUsed, err := s.runner.WorkspaceQuota(ctx)
	if err != nil {
		return nil, err
	}
	active, err := s.jobStore().ActiveJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ComputeInfo, 0, len(cs))
	for _, c := range cs {
		info := &ComputeInfo{ComputeTarget: c, InUse: used[c.Name], WorkspaceMaxInstances: wsMax}
		if wsMax > 0 {
			info.WorkspaceInUse = wsUsed
		}
		for _, j := range active {
			if why, ok := queued[j.Name]; ok && schedule.ComputeOf(j, "") == c.Name {
				if info.Queued == nil {
					info.Queued = map[string]string{}
				}
				info.Queued[j.Name] = why
			}
		}
		out = append(out, info)
	}
	return out, nil
}

func (s *Server) listCompute(r *http.Request) (*ComputeList, error) {
	cs, err := s.computeInfos(r.Context())
	if err != nil {
		return nil, err
	}
	return &ComputeList{Compute: cs}, nil
}

func (s *Server) showCompute(r *http.Request) (*ComputeInfo, error) {
	cs, err := s.computeInfos(r.Context())
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Name == r.PathValue("name") {
			return c, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "compute %q not found in this region", r.PathValue("name"))
}

func (s *Server) putCompute(r *http.Request, c *tandem.ComputeTarget) (*tandem.ComputeTarget, error) {
	name := r.PathValue("name")
	if c.Name == "" {
		c.Name = name
	}
	if c.Name != name {
		return nil, tandem.Errorf(tandem.EINVALID, "compute name %q does not match the path's %q", c.Name, name)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := s.jobStore().PutCompute(r.Context(), c); err != nil {
		return nil, err
	}
	if s.runner != nil {
		s.runner.Wake()
	}
	return c, nil
}

func (s *Server) deleteCompute(r *http.Request) (map[string]string, error) {
	name := r.PathValue("name")
	ctx := r.Context()
	active, err := s.jobStore().ActiveJobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range active {
		for _, a := range j.Attempts {
			if a.Compute == name && !a.Status.Terminal() {
				return nil, tandem.Errorf(tandem.EINVALIDSTATE, "compute %s runs job %s; cancel it first", name, j.Name)
			}
		}
	}
	if err := s.jobStore().DeleteCompute(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": name}, nil
}

// JobFile is one file of a job's run.
type JobFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// JobFiles is the body of GET /jobs/{name}/outputs.
type JobFiles struct {
	RunID string    `json:"run_id"`
	Files []JobFile `json:"files"`
}

// jobRunRoot is the artifact-store prefix of the job's run.
func (s *Server) jobRunRoot(ctx context.Context, name string) (*tandem.Job, string, error) {
	j, err := s.jobStore().Job(ctx, name)
	if err != nil {
		return nil, "", err
	}
	run, err := s.store.GetRun(ctx, j.RunID)
	if err != nil {
		return nil, "", err
	}
	root, err := jobs.ArtifactKey(run.Info.ArtifactURI)
	if err != nil {
		return nil, "", err
	}
	return j, root, nil
}

func (s *Server) jobOutputs(r *http.Request) (*JobFiles, error) {
	ctx := r.Context()
	j, root, err := s.jobRunRoot(ctx, r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	out := &JobFiles{RunID: j.RunID, Files: []JobFile{}}
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := s.store.ListArtifactDir(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := dir + "/" + e.Name
			if e.IsDir {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			out.Files = append(out.Files, JobFile{Path: strings.TrimPrefix(p, root+"/"), Size: e.Size})
		}
		return nil
	}
	return out, walk(root)
}

func (s *Server) jobOutputFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, root, err := s.jobRunRoot(ctx, r.PathValue("name"))
	if err == nil {
		err = tandem.ValidateRelPath(r.PathValue("path"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rd, err := s.blobs.Open(ctx, root+"/"+r.PathValue("path"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer rd.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = io.Copy(w, rd)
}
