package jobs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// work is one unit resolved for launching: the command, its code, its
// environment, its ports.
type work struct {
	command     string
	code        string // folder of the code inside the files, "" for none
	files       []tandem.AssetFile
	filesPrefix string
	environment string
	inputs      map[string]*tandem.JobInput
	outputs     map[string]*tandem.JobOutput
	env         map[string]string
}

// resolve finds what a unit runs: the command job itself, or the pipeline
// step's component with its bindings.
func (r *Runner) resolve(ctx context.Context, j *tandem.Job, step string) (*work, error) {
	s := &j.Spec
	if step == "" {
		return &work{command: s.Command, code: codeDir(s.Code), files: j.Files, filesPrefix: tandem.JobFilesPrefix(j.Name),
			environment: s.Environment, inputs: s.Inputs, outputs: s.Outputs, env: s.EnvironmentVariables}, nil
	}
	p := s.Pipeline
	st := p.Jobs[step]
	if st == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "pipeline %s has no step %q", j.Name, step)
	}
	var c *tandem.Component
	var files []tandem.AssetFile
	var prefix string
	if st.Inline != nil {
		c, files, prefix = st.Inline, j.Files, tandem.JobFilesPrefix(j.Name)
	} else {
		ref, err := tandem.ParseAssetRef(st.Component)
		if err != nil {
			return nil, err
		}
		a, err := r.cfg.Store.GetAsset(ctx, tandem.AssetComponent, ref.Name, ref.Version)
		if err != nil {
			return nil, err
		}
		var ok bool
		if c, ok = a.Spec.(*tandem.Component); !ok {
			return nil, tandem.Errorf(tandem.EINVALID, "%s is not a command component", st.Component)
		}
		files, prefix = a.Files, a.StoragePrefix()
	}
	w := &work{command: c.Command, code: codeDir(c.Code), files: files, filesPrefix: prefix,
		environment: c.Environment, inputs: map[string]*tandem.JobInput{}, outputs: map[string]*tandem.JobOutput{}, env: s.EnvironmentVariables}
	for name, port := range c.Inputs {
		in := &tandem.JobInput{Type: port.Type, Mode: port.Mode}
		v, bound := st.Inputs[name]
		switch {
		case bound:
			b, isBinding, err := tandem.ParseBinding(v)
			if err != nil {
				return nil, err
			}
			switch {
			case !isBinding:
				in.Value = &v
			case b.Scope == "inputs":
				pin := p.Inputs[b.Name]
				if pin.Path != "" {
					in.Path = pin.Path
				} else if pin.Default != nil {
					in.Value = pin.Default
				}
				if ji := s.Inputs[b.Name]; ji != nil { // the job's own value wins
					*in = *ji
				}
			case b.Scope == "jobs":
				in.Path = "tandem-step:" + b.Name + "/" + b.Port
			}
		case st.InputPorts[name] != nil:
			in.Path = st.InputPorts[name].Path
		case port.Default != nil:
			in.Value = port.Default
		case port.Optional:
			continue
		default:
			return nil, tandem.Errorf(tandem.EINVALID, "step %s: input %q of component %s is not bound", step, name, st.Component)
		}
		if in.Value != nil && !tandem.IsScalarType(port.Type) {
			in.Path, in.Value = *in.Value, nil
		}
		w.inputs[name] = in
	}
	for name, port := range c.Outputs {
		w.outputs[name] = stepOutput(p, st, name, port)
	}
	return w, nil
}

// stepOutput is what a step's output is: its component's port, registered
// under the name and version the step's own mapping for it gives, else
// those of the pipeline output it binds (${{parent.outputs.NAME}}).
func stepOutput(p *tandem.Pipeline, st *tandem.PipelineStep, name string, port *tandem.Port) *tandem.JobOutput {
	o := &tandem.JobOutput{Type: port.Type, Mode: port.Mode, Checkpoint: port.Checkpoint}
	if op := st.OutputPorts[name]; op != nil && op.Checkpoint {
		o.Checkpoint = true
	}
	if op := st.OutputPorts[name]; op != nil && op.Name != "" {
		o.Name, o.Version = op.Name, op.Version
	} else if b, ok, err := tandem.ParseBinding(st.Outputs[name]); err == nil && ok && b.Scope == "outputs" {
		if po := p.Outputs[b.Name]; po != nil && po.Name != "" {
			o.Name, o.Version = po.Name, po.Version
		}
	}
	return o
}

func codeDir(code string) string {
	if code == "" {
		return ""
	}
	c, err := tandem.CleanLocalPath(code)
	if err != nil || c == "." {
		return ""
	}
	return c
}

// launch prepares the attempt's folder (code, inputs, outputs, the last
// checkpoint), its environment and token, and starts it.
func (r *Runner) launch(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, target *tandem.ComputeTarget) (string, tandem.Executor, error) {
	w, err := r.resolve(ctx, j, a.Step)
	if err != nil {
		return "", nil, err
	}
	ex, err := r.cfg.Executor(target)
	if err != nil {
		return "", nil, err
	}
	runID, err := r.attemptRun(ctx, j, a)
	if err != nil {
		return "", nil, err
	}
	a.RunID = runID
	dir := r.attemptDir(j, a)
	if err := os.RemoveAll(dir); err != nil {
		return "", nil, err
	}
	codeRoot := filepath.Join(dir, "code")
	if err := os.MkdirAll(codeRoot, 0o755); err != nil {
		return "", nil, err
	}
	for _, f := range w.files {
		if err := r.download(ctx, w.filesPrefix+f.Path, filepath.Join(codeRoot, filepath.FromSlash(f.Path))); err != nil {
			return "", nil, fmt.Errorf("code file %s: %w", f.Path, err)
		}
	}
	workDir := filepath.Join(codeRoot, filepath.FromSlash(w.code))
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return "", nil, err
	}
	// On compute whose processes do not see this host's filesystem, the
	// attempt makes its output folders and uploads them itself, and
	// downloads its data inputs itself.
	remote := offHost(target)
	values := map[string]string{} // local paths and literals
	refs := map[string]string{}   // shell text
	var selfOutputs []tandem.LaunchOutput
	var selfInputs []tandem.LaunchInput
	if remote {
		selfOutputs, refs = launchOutputs(w.outputs, a.N)
	}
	ins := map[string]dataInput{}
	for name, in := range w.inputs {
		if ins[name], err = r.resolveInput(ctx, j, name, in); err != nil {
			return "", nil, err
		}
	}
	if remote {
		if selfInputs, err = launchInputs(ins, w.code, values, refs); err != nil {
			return "", nil, err
		}
	} else {
		for name, d := range ins {
			v, err := r.stageInput(ctx, codeRoot, filepath.Join(dir, "inputs", name), name, d)
			if err != nil {
				return "", nil, err
			}
			values["inputs."+name] = v
		}
	}
	for name, out := range w.outputs {
		if remote {
			break // the attempt makes its own folders
		}
		p := filepath.Join(dir, "outputs", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", nil, err
		}
		if out.Checkpoint && a.N > 1 {
			if err := r.restoreCheckpoint(ctx, runID, name, p); err != nil {
				return "", nil, fmt.Errorf("checkpoint %s: %w", name, err)
			}
		}
		values["outputs."+name] = p
	}
	command := bindCommand(w.command, values, refs)
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	env["MLFLOW_TRACKING_URI"] = r.cfg.TrackingURI()
	env["MLFLOW_RUN_ID"] = runID
	env["MLFLOW_EXPERIMENT_ID"] = j.ExperimentID
	env["TANDEM_JOB_NAME"] = j.Name
	env["TANDEM_JOB_ATTEMPT"] = fmt.Sprint(a.N)
	for name, out := range w.outputs {
		if remote {
			break // the attempt sets these, to its own folders
		}
		env["AZUREML_OUTPUT_"+name] = values["outputs."+name]
		if out.Checkpoint {
			env["TANDEM_CHECKPOINT_DIR"] = values["outputs."+name]
		}
	}
	spec := tandem.LaunchSpec{ID: launchID(j, a), Command: command, WorkDir: workDir, Env: env,
		Timeout: time.Duration(j.Spec.TimeoutSeconds) * time.Second, InstanceCount: max(1, j.Spec.InstanceCount), Inputs: selfInputs}
	if len(selfOutputs) > 0 {
		root, err := r.runArtifactRoot(ctx, runID)
		if err != nil {
			return "", nil, err
		}
		spec.Outputs, spec.OutputsArtifactPath, spec.CheckpointInterval = selfOutputs, root+"/outputs", r.cfg.CheckpointInterval
	}
	if a.Step == "" {
		if spec.Processes, err = rankProcesses(&j.Spec, target); err != nil {
			return "", nil, err
		}
	}
	if w.environment != "" {
		python, pip, err := r.environment(ctx, w.environment, target, io.Discard)
		if err != nil {
			return "", nil, err
		}
		spec.Python, spec.Pip = python, pip
	}
	if r.cfg.Tokens != nil && j.Principal != "" {
		ttl := 7 * 24 * time.Hour
		if j.Spec.TimeoutSeconds > 0 {
			ttl = time.Duration(j.Spec.TimeoutSeconds)*time.Second + time.Hour
		}
		tok, id, err := r.cfg.Tokens.Issue(ctx, j.Principal, fmt.Sprintf("job %s attempt %d", j.Name, a.N), ttl, AttemptGrants(j.ExperimentID))
		if err != nil {
			return "", nil, fmt.Errorf("attempt token: %w", err)
		}
		a.TokenID = id
		env["MLFLOW_TRACKING_TOKEN"] = tok
	}
	h, err := ex.Start(ctx, spec)
	if err != nil {
		return "", nil, err
	}
	return h, ex, nil
}

// AttemptGrants restrict an attempt's token to what a training script
// needs: reading the workspace (data, models, other runs), writing runs,
// artifacts and tags in the job's own experiment, and registering models.
// It cannot delete experiments or models, submit jobs, touch compute,
// identity or secrets, or write into another experiment, whatever its
// submitter may do (the submitter's roles still bound it).
func AttemptGrants(experimentID string) []tandem.TokenGrant {
	const ws = "Microsoft.MachineLearningServices/workspaces/"
	return []tandem.TokenGrant{
		{Actions: []string{ws + "*/read"}, Scope: tandem.ScopeWorkspace},
		{Actions: []string{ws + "experiments/write", ws + "experiments/runs/*"}, Scope: tandem.ExperimentScope(experimentID)},
		{Actions: []string{tandem.ActionModelsWrite}, Scope: tandem.ScopeWorkspace},
	}
}

func launchID(j *tandem.Job, a *tandem.JobAttempt) string {
	if a.Step == "" {
		return fmt.Sprintf("%s-%d", j.Name, a.N)
	}
	return fmt.Sprintf("%s-%s-%d", j.Name, a.Step, a.N)
}

// attemptRun is the MLflow run an attempt logs into: the job's run, or the
// step's child run (created by the step's first attempt).
func (r *Runner) attemptRun(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt) (string, error) {
	if a.Step == "" {
		return j.RunID, nil
	}
	for _, b := range j.Attempts {
		if b.Step == a.Step && b.RunID != "" {
			return b.RunID, nil
		}
	}
	return r.cfg.Store.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: j.ExperimentID, UserID: j.Principal,
		StartTime: time.Now().UnixMilli(), RunName: a.Step, Tags: []tandem.Tag{
			{Key: "mlflow.parentRunId", Value: j.RunID}, {Key: "tandem.job", Value: j.Name}, {Key: "tandem.step", Value: a.Step}}})
}

// launchOutputs is what an attempt that uploads its outputs itself is told
// of them (by name), and the shell text of each ${{outputs.NAME}}: the
// folder the attempt makes. A checkpoint is restored from the second
// attempt on.
func launchOutputs(outputs map[string]*tandem.JobOutput, attempt int) ([]tandem.LaunchOutput, map[string]string) {
	var los []tandem.LaunchOutput
	refs := map[string]string{}
	for _, name := range tandem.SortedKeys(outputs) {
		ckpt := outputs[name].Checkpoint
		los = append(los, tandem.LaunchOutput{Name: name, Checkpoint: ckpt, Restore: ckpt && attempt > 1})
		refs["outputs."+name] = tandem.OutputRef(name)
	}
	return los, refs
}

// bindCommand replaces a command's ${{inputs.x}} and ${{outputs.x}}: by
// refs["inputs.x"] as it is (shell text), else by values["inputs.x"] as
// one shell word, else by nothing.
func bindCommand(command string, values, refs map[string]string) string {
	return tandem.ExpandCommand(command, func(scope, name string) string {
		if v, ok := refs[scope+"."+name]; ok {
			return v
		}
		if v, ok := values[scope+"."+name]; ok {
			return tandem.ShellQuote(v)
		}
		return ""
	})
}

// offHost says whether attempts on target run where this host's
// filesystem is not (a Ray worker): they make and upload their output
// folders (LaunchSpec.Outputs) and download their data inputs
// (LaunchSpec.Inputs) themselves. Local processes read and write the
// attempt's folder here, and the region copies inputs in and outputs out.
func offHost(target *tandem.ComputeTarget) bool {
	return target.Type == tandem.ComputeRay
}

// dataInput is one input as the region resolved it, before anything is
// copied: what it is and where its data lives.
type dataInput struct {
	kind inputKind
	// value is a literal's text or a URL (inputValue), or a slash path in
	// the job's code snapshot (inputCode).
	value string
	// artifacts is a folder of a run's artifacts, or with file one file,
	// as the artifact proxy names it (inputArtifacts).
	artifacts string
	file      bool
	// asset is a data asset version uploaded from a local path, and sub
	// the slash path in its files that the input names (inputAssetFiles).
	asset *tandem.Asset
	sub   string
}

type inputKind int

const (
	inputValue      inputKind = iota // passed as it is
	inputCode                        // uploaded with the job
	inputArtifacts                   // an earlier step's output, a registered job output
	inputAssetFiles                  // a data asset's own files
)

// resolveInput finds what an input is: a literal, a URL, a file or folder
// uploaded with the job, an earlier step's output or a job output
// registered as a data asset (in a run's artifacts), or a data asset's
// files.
func (r *Runner) resolveInput(ctx context.Context, j *tandem.Job, name string, in *tandem.JobInput) (dataInput, error) {
	if in.Value != nil {
		return dataInput{kind: inputValue, value: *in.Value}, nil
	}
	p := in.Path
	switch {
	case strings.HasPrefix(p, "tandem-step:"):
		step, port, _ := strings.Cut(strings.TrimPrefix(p, "tandem-step:"), "/")
		var runID string
		if a := j.LastAttempt(step); a != nil {
			runID = a.RunID
		}
		if runID == "" {
			return dataInput{}, tandem.Errorf(tandem.EINVALIDSTATE, "input %s: step %s has no run", name, step)
		}
		root, err := r.runArtifactRoot(ctx, runID)
		if err != nil {
			return dataInput{}, fmt.Errorf("input %s from step %s: %w", name, step, err)
		}
		return dataInput{kind: inputArtifacts, artifacts: root + "/outputs/" + port}, nil
	case strings.HasPrefix(p, "azureml:"):
		ref, err := tandem.ParseAssetRef(p)
		if err != nil {
			return dataInput{}, err
		}
		a, err := r.cfg.Store.GetAsset(ctx, tandem.AssetData, ref.Name, ref.Version)
		if err != nil {
			return dataInput{}, err
		}
		d := a.Spec.(*tandem.Data)
		if rest, ok := strings.CutPrefix(d.Path, "runs:/"); ok { // a job's registered output
			key, file, err := r.runArtifacts(ctx, rest)
			if err != nil {
				return dataInput{}, fmt.Errorf("input %s (%s): %w", name, p, err)
			}
			return dataInput{kind: inputArtifacts, artifacts: key, file: file}, nil
		}
		if !tandem.IsLocalPath(d.Path) {
			return dataInput{kind: inputValue, value: d.Path}, nil
		}
		c, _ := tandem.CleanLocalPath(d.Path)
		return dataInput{kind: inputAssetFiles, asset: a, sub: c}, nil
	case tandem.IsLocalPath(p):
		c, err := tandem.CleanLocalPath(p)
		if err != nil {
			return dataInput{}, err
		}
		return dataInput{kind: inputCode, value: c}, nil
	}
	return dataInput{kind: inputValue, value: p}, nil
}

// stageInput copies an input onto this host, for a local process: into
// dst (the attempt's inputs/NAME), or, for a file or folder uploaded with
// the job, nowhere (it is in the code snapshot at codeRoot). It returns the
// local path the command sees, or a value's text.
func (r *Runner) stageInput(ctx context.Context, codeRoot, dst, name string, d dataInput) (string, error) {
	local := dst
	var err error
	switch d.kind {
	case inputCode:
		return filepath.Join(codeRoot, filepath.FromSlash(d.value)), nil
	case inputArtifacts:
		if d.file {
			local = filepath.Join(dst, path.Base(d.artifacts))
			err = r.download(ctx, d.artifacts, local)
		} else {
			err = r.downloadDir(ctx, d.artifacts, dst)
		}
	case inputAssetFiles:
		for _, f := range d.asset.Files {
			if err = r.download(ctx, d.asset.StoragePrefix()+f.Path, filepath.Join(dst, filepath.FromSlash(f.Path))); err != nil {
				break
			}
		}
		local = filepath.Join(dst, filepath.FromSlash(d.sub))
	default:
		return d.value, nil
	}
	if err != nil {
		return "", fmt.Errorf("input %s: %w", name, err)
	}
	return local, nil
}

// apiPrefix is where the region serves tandem's API (api.Prefix; api
// imports this package).
const apiPrefix = "/api/tandem/v1"

// launchInputs decides, for an attempt that downloads its data inputs
// itself, what it downloads (the returned entries, by name) and what each
// ${{inputs.NAME}} becomes: refs["inputs.NAME"] (shell text) names a
// downloaded input's path in the attempt's own folder; values["inputs.NAME"]
// (one shell word) is a literal or a URL as it is, or a file or folder
// uploaded with the job as a path relative to the working folder, where it
// travels with the code. Such a path outside the code folder (code, a
// slash path in the snapshot; "" for all of it) does not travel: EINVALID.
func launchInputs(ins map[string]dataInput, code string, values, refs map[string]string) ([]tandem.LaunchInput, error) {
	var out []tandem.LaunchInput
	for _, name := range tandem.SortedKeys(ins) {
		d, key := ins[name], "inputs."+name
		switch d.kind {
		case inputValue:
			values[key] = d.value
		case inputCode:
			rel, ok := codeRelative(d.value, code)
			if !ok {
				return nil, tandem.Errorf(tandem.EINVALID, "input %s: ./%s is outside the code folder ./%s, and on Ray compute only the code folder travels with the job: move it into ./%s or register it as a data asset", name, d.value, code, code)
			}
			values[key] = rel
		case inputArtifacts:
			out = append(out, tandem.LaunchInput{Name: name, ArtifactPath: d.artifacts, File: d.file})
			rel := ""
			if d.file {
				rel = path.Base(d.artifacts)
			}
			refs[key] = tandem.InputRef(name, rel)
		case inputAssetFiles:
			a := d.asset
			out = append(out, tandem.LaunchInput{Name: name, Files: slices.Clone(a.Files),
				FilesPath: apiPrefix + "/" + a.Kind.Plural() + "/" + a.Name + "/versions/" + a.Version + "/files/"})
			refs[key] = tandem.InputRef(name, d.sub)
		}
	}
	return out, nil
}

// codeRelative is p (a slash path in the code snapshot) relative to the
// code folder code ("" is the whole snapshot), and whether p lies in it.
func codeRelative(p, code string) (string, bool) {
	switch {
	case code == "":
		return p, true
	case p == code:
		return ".", true
	}
	rel, ok := strings.CutPrefix(p, code+"/")
	return rel, ok
}

// environment materialises an environment reference for the target.
func (r *Runner) environment(ctx context.Context, ref string, target *tandem.ComputeTarget, progress io.Writer) (python string, pip []string, err error) {
	ar, err := tandem.ParseAssetRef(ref)
	if err != nil {
		return "", nil, err
	}
	a, err := r.cfg.Store.GetAsset(ctx, tandem.AssetEnvironment, ar.Name, ar.Version)
	if err != nil {
		return "", nil, err
	}
	env := a.Spec.(*tandem.Environment)
	files := map[string][]byte{}
	for _, f := range a.Files {
		b, err := r.readBlob(ctx, a.StoragePrefix()+f.Path)
		if err != nil {
			return "", nil, err
		}
		files[f.Path] = b
	}
	if target.Type == tandem.ComputeRay {
		return "", PipOf(env, files), nil
	}
	if r.cfg.Envs == nil {
		return "", nil, tandem.Errorf(tandem.EINVALID, "environment %s: %v", ref, errNoEnvBuilder)
	}
	python, err = r.cfg.Envs.Ensure(ctx, a.Name+":"+a.Version, env, files, progress)
	return python, nil, err
}

// PipOf lists the pip requirements of an environment's pip_requirements
// file (Ray builds its runtime environment from them).
func PipOf(env *tandem.Environment, files map[string][]byte) []string {
	var out []string
	if env.PipRequirements != "" {
		c, _ := tandem.CleanLocalPath(env.PipRequirements)
		for _, l := range strings.Split(string(files[c]), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

func (r *Runner) readBlob(ctx context.Context, key string) ([]byte, error) {
	rd, err := r.cfg.Blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func (r *Runner) download(ctx context.Context, key, dst string) error {
	rd, err := r.cfg.Blobs.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rd.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rd); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// downloadRunDir copies the run's artifacts under rel into dst.
func (r *Runner) downloadRunDir(ctx context.Context, runID, rel, dst string) error {
	root, err := r.runArtifactRoot(ctx, runID)
	if err != nil {
		return err
	}
	return r.downloadDir(ctx, root+"/"+rel, dst)
}

// downloadDir copies the artifacts under the folder key into dst.
func (r *Runner) downloadDir(ctx context.Context, key, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := r.cfg.Store.ListArtifactDir(ctx, dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name)
			if e.IsDir {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			relp := strings.TrimPrefix(p, key+"/")
			if err := r.download(ctx, p, filepath.Join(dst, filepath.FromSlash(relp))); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(key)
}

// runArtifacts finds what runs:/RUN_ID/PATH names (rest is RUN_ID/PATH):
// the artifacts' key of one file (file), or of a folder holding some.
func (r *Runner) runArtifacts(ctx context.Context, rest string) (key string, file bool, err error) {
	runID, rel, _ := strings.Cut(rest, "/")
	rel = strings.Trim(rel, "/")
	root, err := r.runArtifactRoot(ctx, runID)
	if err != nil {
		return "", false, err
	}
	key = root + "/" + rel
	if _, err := r.cfg.Store.GetArtifact(ctx, key); err == nil {
		return key, true, nil
	} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return "", false, err
	}
	files, err := r.cfg.Store.ArtifactsUnder(ctx, key)
	if err != nil {
		return "", false, err
	}
	if len(files) == 0 {
		return "", false, tandem.Errorf(tandem.ENOTFOUND, "run %s has no artifacts under %s in region %s", runID, rel, r.cfg.Region)
	}
	return key, false, nil
}

func (r *Runner) restoreCheckpoint(ctx context.Context, runID, name, dst string) error {
	return r.downloadRunDir(ctx, runID, "outputs/"+name, dst)
}

// uploadOutputs copies the attempt's output folders to its run's artifacts
// under outputs/NAME (only the checkpoint outputs when onlyCheckpoints).
// An attempt that uploads its outputs itself (l.selfUpload) has no folders
// here: nothing to do.
func (r *Runner) uploadOutputs(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, l *local, onlyCheckpoints bool) error {
	if l.selfUpload {
		return nil
	}
	w, err := r.resolve(ctx, j, a.Step)
	if err != nil {
		return err
	}
	root, err := r.runArtifactRoot(ctx, a.RunID)
	if err != nil {
		return err
	}
	for _, name := range tandem.SortedKeys(w.outputs) {
		if onlyCheckpoints && !w.outputs[name].Checkpoint {
			continue
		}
		base := filepath.Join(l.dir, "outputs", name)
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			return r.putArtifact(ctx, root+"/outputs/"+name+"/"+filepath.ToSlash(rel), f)
		})
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// finalize uploads the outputs and registers the named ones, from what
// reached the run's artifacts (uploaded here, or by the attempt): an
// mlflow_model output becomes a version of the registered model it names;
// a uri_folder, uri_file or mltable output a version of the data asset it
// names, whose path is the output in the run's artifacts (runs:/RUN_ID/
// outputs/NAME[/FILE]), so it replicates with the run and reads the same
// in every region.
func (r *Runner) finalize(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, l *local) error {
	if err := r.uploadOutputs(ctx, j, a, l, false); err != nil {
		return err
	}
	w, err := r.resolve(ctx, j, a.Step)
	if err != nil {
		return err
	}
	for _, name := range tandem.SortedKeys(w.outputs) {
		o := w.outputs[name]
		if o.Name == "" {
			continue
		}
		switch tandem.OutputAssetKind(o.Type) {
		case tandem.AssetModel:
			err = r.registerModel(ctx, j, a, name, o)
		case tandem.AssetData:
			err = r.registerData(ctx, j, a, name, o)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) registerModel(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, name string, o *tandem.JobOutput) error {
	files, err := r.outputFiles(ctx, a.RunID, name)
	if err != nil {
		return err
	}
	if !slices.Contains(files, "MLmodel") {
		return tandem.Errorf(tandem.EINVALID, "output %s is an mlflow_model but the job wrote no MLmodel file in it", name)
	}
	run, err := r.cfg.Store.GetRun(ctx, a.RunID)
	if err != nil {
		return err
	}
	if _, err := r.cfg.Store.GetRegisteredModel(ctx, o.Name); tandem.ErrorCode(err) == tandem.ENOTFOUND {
		if _, err := r.cfg.Store.CreateRegisteredModel(ctx, o.Name, "", nil); err != nil && tandem.ErrorCode(err) != tandem.EEXISTS {
			return err
		}
	} else if err != nil {
		return err
	}
	src := strings.TrimSuffix(run.Info.ArtifactURI, "/") + "/outputs/" + name
	if o.Version != "" {
		want, _ := strconv.ParseInt(o.Version, 10, 64)
		if mv, err := r.cfg.Store.GetModelVersion(ctx, o.Name, want); err == nil {
			if mv.RunID == a.RunID && mv.Source == src {
				return nil // registered by an earlier pass
			}
			return tandem.Errorf(tandem.EEXISTS, "output %s: model %s version %d already exists", name, o.Name, want)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
		next, err := r.cfg.Store.NextModelVersion(ctx, o.Name)
		if err != nil {
			return err
		}
		if next != want {
			return tandem.Errorf(tandem.ECONFLICT, "output %s: model %s's next version is %d, not %d (the registry numbers versions; give no version to take the next)", name, o.Name, next, want)
		}
	}
	mv, err := r.cfg.Store.CreateModelVersion(ctx, tandem.NewModelVersion{Name: o.Name, Source: src, RunID: a.RunID, UserID: j.Principal,
		Tags: []tandem.Tag{{Key: "tandem.job", Value: j.Name}}})
	if err != nil {
		return err
	}
	r.log.Info("registered model output", "job", j.Name, "model", o.Name, "version", mv.Version)
	if r.cfg.ModelVersionCreated != nil {
		r.cfg.ModelVersionCreated(ctx, mv)
	}
	return nil
}

// registerData registers a data output as a version of the data asset it
// names. Registering again what an earlier pass registered (tandem
// restarted while the attempt was finalizing) finds that version and
// changes nothing.
func (r *Runner) registerData(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, name string, o *tandem.JobOutput) error {
	files, err := r.outputFiles(ctx, a.RunID, name)
	if err != nil {
		return err
	}
	p, err := DataOutputPath(a.RunID, name, o.Type, files)
	if err != nil {
		return err
	}
	if o.Version != "" {
		old, err := r.cfg.Store.GetAsset(ctx, tandem.AssetData, o.Name, o.Version)
		switch {
		case err == nil && old.Spec.(*tandem.Data).Path == p:
			return nil
		case err == nil:
			return tandem.Errorf(tandem.EEXISTS, "output %s: data %s version %s already exists (versions cannot be changed)", name, o.Name, o.Version)
		case tandem.ErrorCode(err) != tandem.ENOTFOUND:
			return err
		}
	} else {
		olds, err := r.cfg.Store.ListAssets(ctx, tandem.AssetData, o.Name, true)
		if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
		for _, old := range olds {
			if d, ok := old.Spec.(*tandem.Data); ok && d.Path == p {
				return nil
			}
		}
	}
	what := "job " + j.Name
	if a.Step != "" {
		what += " step " + a.Step
	}
	as, err := r.cfg.Store.CreateAsset(ctx, &tandem.Asset{Kind: tandem.AssetData, Name: o.Name, Version: o.Version,
		Description: fmt.Sprintf("output %s of %s", name, what),
		Tags:        map[string]string{"tandem.job": j.Name, "tandem.output": name},
		Spec:        &tandem.Data{Type: o.Type, Path: p}}, "", nil)
	if err != nil {
		return fmt.Errorf("register output %s as data %s: %w", name, o.Name, err)
	}
	r.log.Info("registered data output", "job", j.Name, "step", a.Step, "data", as.Name, "version", as.Version, "path", p)
	return nil
}

// outputFiles lists the files of the run's output name in its artifacts,
// as slash paths relative to the output's folder, sorted.
func (r *Runner) outputFiles(ctx context.Context, runID, name string) ([]string, error) {
	root, err := r.runArtifactRoot(ctx, runID)
	if err != nil {
		return nil, err
	}
	base := root + "/outputs/" + name
	arts, err := r.cfg.Store.ArtifactsUnder(ctx, base)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range arts {
		if rel, ok := strings.CutPrefix(a.Path, base+"/"); ok {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out, nil
}

// DataOutputPath is the path of the data asset a data output registers:
// the output folder in the run's artifacts (uri_folder; mltable, whose
// folder must hold an MLTable file), or the one file the job wrote in it
// (uri_file). files are the output's files, relative to its folder.
func DataOutputPath(runID, output, typ string, files []string) (string, error) {
	base := "runs:/" + runID + "/outputs/" + output
	if len(files) == 0 {
		return "", tandem.Errorf(tandem.EINVALID, "output %s is registered as data but the job wrote no file in it", output)
	}
	switch typ {
	case tandem.DataURIFile:
		if len(files) != 1 {
			return "", tandem.Errorf(tandem.EINVALID, "output %s is a uri_file but the job wrote %d files in it (%s, ...): write exactly one, or make it a uri_folder", output, len(files), files[0])
		}
		return base + "/" + files[0], nil
	case tandem.DataMLTable:
		if !slices.Contains(files, "MLTable") {
			return "", tandem.Errorf(tandem.EINVALID, "output %s is an mltable but the job wrote no MLTable file in it", output)
		}
	}
	return base, nil
}
