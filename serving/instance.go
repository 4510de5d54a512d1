package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/freeport"
)

// deployment is one deployment as this region runs it: its scoring
// processes, possibly of two generations while a change rolls out.
type deployment struct {
	s        *Service
	key      string
	endpoint string
	name     string

	mu      sync.Mutex
	spec    *tandem.OnlineDeployment
	insts   []*instance
	nextID  int
	lastErr string
}

func newDeployment(s *Service, spec *tandem.OnlineDeployment) *deployment {
	return &deployment{s: s, key: spec.Endpoint + "/" + spec.Name, endpoint: spec.Endpoint, name: spec.Name, spec: spec}
}

func (d *deployment) setSpec(spec *tandem.OnlineDeployment) {
	d.mu.Lock()
	d.spec = spec
	d.mu.Unlock()
}

func (d *deployment) currentSpec() *tandem.OnlineDeployment {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spec
}

// generation identifies what a scoring process runs: a change of any of
// these needs new processes (instance_count and request settings do not).
func generation(spec *tandem.OnlineDeployment) string {
	b, _ := json.Marshal([]any{spec.ModelName, spec.ModelVersion, spec.EnvironmentVariables, spec.LivenessProbe, spec.ReadinessProbe})
	return string(b)
}

// reconcile starts and stops processes so that instance_count of the
// current generation run; processes of an older generation keep serving
// until as many of the new one are ready (a rollout fails no request).
func (d *deployment) reconcile(ctx context.Context) error {
	spec := d.currentSpec()
	if d.s.cfg.Python == "" {
		d.setErr("no python interpreter is configured for scoring processes in this region")
		return nil
	}
	dir, err := d.s.modelDir(ctx, spec.ModelName, spec.ModelVersion)
	if err != nil {
		d.setErr(tandem.ErrorMessage(err))
		return err
	}
	gen := generation(spec)
	d.mu.Lock()
	d.lastErr = ""
	var cur, old []*instance
	for _, in := range d.insts {
		if in.gen == gen {
			cur = append(cur, in)
		} else {
			old = append(old, in)
		}
	}
	var stop []*instance
	for len(cur) < spec.InstancesIn(d.s.cfg.Region) {
		d.nextID++
		in := newInstance(d, d.nextID, gen, dir, spec)
		cur = append(cur, in)
		go in.run()
	}
	if extra := len(cur) - spec.InstancesIn(d.s.cfg.Region); extra > 0 {
		// Stop the ones not ready first.
		keep := cur[:0:0]
		for i := len(cur) - 1; i >= 0; i-- {
			if extra > 0 && !cur[i].ready.Load() {
				stop = append(stop, cur[i])
				extra--
				continue
			}
			keep = append([]*instance{cur[i]}, keep...)
		}
		for extra > 0 {
			stop = append(stop, keep[len(keep)-1])
			keep = keep[:len(keep)-1]
			extra--
		}
		cur = keep
	}
	ready := 0
	for _, in := range cur {
		if in.ready.Load() {
			ready++
		}
	}
	if len(old) > 0 && ready >= spec.InstancesIn(d.s.cfg.Region) {
		stop = append(stop, old...)
		old = nil
	}
	d.insts = append(cur, old...)
	d.mu.Unlock()
	for _, in := range stop {
		go in.stop()
	}
	return nil
}

func (d *deployment) setErr(msg string) {
	d.mu.Lock()
	d.lastErr = msg
	d.mu.Unlock()
}

// stop stops every process and waits for them.
func (d *deployment) stop() {
	d.mu.Lock()
	insts := d.insts
	d.insts = nil
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range insts {
		wg.Add(1)
		go func() { defer wg.Done(); in.stop() }()
	}
	wg.Wait()
}

// healthy reports whether some process is ready.
func (d *deployment) healthy() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range d.insts {
		if in.ready.Load() {
			return true
		}
	}
	return false
}

// acquire reserves a slot on the ready process with the fewest requests in
// flight (skipping those in tried). full reports that ready processes
// exist but every one is at max_concurrent_requests_per_instance.
func (d *deployment) acquire(tried map[*instance]bool) (in *instance, full bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := int64(d.spec.RequestSettings.MaxConcurrentRequestsPerInstance)
	var best *instance
	anyReady := false
	for _, c := range d.insts {
		if !c.ready.Load() || tried[c] {
			continue
		}
		anyReady = true
		if c.inflight.Load() >= limit {
			continue
		}
		if best == nil || c.inflight.Load() < best.inflight.Load() {
			best = c
		}
	}
	if best == nil {
		return nil, anyReady
	}
	best.inflight.Add(1)
	return best, false
}

func (d *deployment) status() *DeploymentStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := &DeploymentStatus{Endpoint: d.endpoint, Name: d.name, Wanted: d.spec.InstancesIn(d.s.cfg.Region), Error: d.lastErr, Instances: []InstanceStatus{}}
	for _, in := range d.insts {
		is := in.status()
		if is.Ready {
			st.Ready++
		}
		st.Instances = append(st.Instances, is)
	}
	return st
}

func (d *deployment) logs(lines int) string {
	d.mu.Lock()
	insts := append([]*instance(nil), d.insts...)
	d.mu.Unlock()
	var b strings.Builder
	for _, in := range insts {
		for _, l := range in.out.lines(lines) {
			fmt.Fprintf(&b, "[instance %d] %s\n", in.id, l)
		}
	}
	return b.String()
}

// ownerVar marks every scoring process with its region's cache folder, so
// a restarted region finds the ones a killed predecessor left (reapOrphans).
const ownerVar = "TANDEM_SERVING_OWNER"

// instance is one scoring process, restarted when it dies.
type instance struct {
	d          *deployment
	id         int
	gen        string
	model      string
	dir        string
	env        []string
	liveProbe  tandem.Probe
	readyProbe tandem.Probe
	tout       int // the scoring server's own request timeout, seconds

	ready    atomic.Bool
	inflight atomic.Int64
	served   atomic.Int64 // requests answered, mirrored ones included
	out      *ring

	mu       sync.Mutex
	port     int
	pid      int
	restarts int
	err      string

	stopOnce sync.Once
	stopc    chan struct{}
	done     chan struct{}
}

func newInstance(d *deployment, id int, gen, dir string, spec *tandem.OnlineDeployment) *instance {
	// The interpreter's folder comes first on PATH, as activating its
	// environment does: mlflow runs the scoring server as "uvicorn".
	bin := filepath.Dir(d.s.cfg.Python)
	env := []string{"PYTHONUNBUFFERED=1"}
	path := bin
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "PATH="):
			path = bin + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		case strings.HasPrefix(kv, "TANDEM_"), strings.HasPrefix(kv, "MLFLOW_TRACKING_"):
			// tandem's own settings (keys, tokens) never reach model code.
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+path, ownerVar+"="+d.s.cfg.CacheDir)
	for _, k := range tandem.SortedKeys(spec.EnvironmentVariables) {
		env = append(env, k+"="+spec.EnvironmentVariables[k])
	}
	return &instance{d: d, id: id, gen: gen, model: fmt.Sprintf("%s:%d", spec.ModelName, spec.ModelVersion), dir: dir, env: env,
		liveProbe: spec.LivenessProbe, readyProbe: spec.ReadinessProbe, tout: max(1, (spec.RequestSettings.RequestTimeoutMS+999)/1000),
		out: newRing(256), stopc: make(chan struct{}), done: make(chan struct{})}
}

func (in *instance) status() InstanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	return InstanceStatus{ID: in.id, PID: in.pid, Port: in.port, Model: in.model, Ready: in.ready.Load(),
		Restarts: in.restarts, InFlight: int(in.inflight.Load()), Served: in.served.Load(), Error: in.err}
}

func (in *instance) url(p string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return "http://127.0.0.1:" + strconv.Itoa(in.port) + p
}

func (in *instance) stopping() bool {
	select {
	case <-in.stopc:
		return true
	default:
		return false
	}
}

// stop ends the process and its restarts, and waits.
func (in *instance) stop() {
	in.stopOnce.Do(func() { close(in.stopc) })
	<-in.done
}

// run starts the process and starts it again whenever it exits, with a
// backoff that doubles from 1 s to 30 s (reset after a minute of running).
func (in *instance) run() {
	defer close(in.done)
	backoff := time.Second
	for {
		started := time.Now()
		err := in.once()
		in.ready.Store(false)
		if in.stopping() {
			return
		}
		in.mu.Lock()
		in.restarts++
		in.err = err.Error()
		in.mu.Unlock()
		in.d.s.metrics.restarts.WithLabelValues(in.d.endpoint, in.d.name).Inc()
		in.d.s.log.Warn("scoring process ended; restarting", "endpoint", in.d.endpoint, "deployment", in.d.name, "instance", in.id, "err", err, "backoff", backoff)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-in.stopc:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// once runs the process until it exits, fails its liveness probe, or is
// stopped. It is ready from its first successful /ping until a readiness
// probe fails.
func (in *instance) once() error {
	port, err := freeport.One()
	if err != nil {
		return fmt.Errorf("no free port: %w", err)
	}
	cmd := exec.Command(in.d.s.cfg.Python, "-m", "mlflow", "models", "serve", "-m", in.dir, "--env-manager", "local",
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", strconv.Itoa(in.tout))
	cmd.Env = in.env
	cmd.Dir = in.dir
	cmd.Stdout, cmd.Stderr = in.out, in.out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start scoring server: %w", err)
	}
	in.mu.Lock()
	in.port, in.pid = port, cmd.Process.Pid
	in.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer killGroup(cmd) // the server's own children (uvicorn) go with it

	started := time.Now()
	everReady := false
	liveFails, readyFails, readyOK := 0, 0, 0
	next := 250 * time.Millisecond
	timer := time.NewTimer(next)
	defer timer.Stop()
	for {
		select {
		case err := <-exited:
			if err == nil {
				err = fmt.Errorf("exited")
			}
			return fmt.Errorf("scoring server exited: %v", err)
		case <-in.stopc:
			terminate(cmd, exited)
			return nil
		case <-timer.C:
		}
		ok := in.ping(time.Duration(max(1, in.liveProbe.Timeout)) * time.Second)
		switch {
		case ok:
			liveFails, readyFails = 0, 0
			readyOK++
			if readyOK >= max(1, in.readyProbe.SuccessThreshold) && !in.ready.Load() {
				in.ready.Store(true)
				everReady = true
				in.d.s.Poke() // a rollout may now retire the old processes
			}
		case !everReady:
			readyOK = 0
			// Starting: Azure's budget is the initial delay plus the
			// probe's failures over its period.
			budget := time.Duration(in.readyProbe.InitialDelay+in.readyProbe.Period*in.readyProbe.FailureThreshold) * time.Second
			if time.Since(started) > max(budget, 30*time.Second) {
				return fmt.Errorf("not ready %s after start", time.Since(started).Round(time.Second))
			}
		default:
			readyOK = 0
			readyFails++
			liveFails++
			if readyFails >= max(1, in.readyProbe.FailureThreshold) {
				in.ready.Store(false)
			}
			if liveFails >= max(1, in.liveProbe.FailureThreshold) {
				return fmt.Errorf("liveness probe failed %d times", liveFails)
			}
		}
		if everReady {
			next = time.Duration(max(1, min(in.readyProbe.Period, in.liveProbe.Period))) * time.Second
		}
		timer.Reset(next)
	}
}

func (in *instance) ping(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", in.url("/ping"), nil)
	resp, err := in.d.s.client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// terminate asks the process group to stop, then kills it after 5 s.
func terminate(cmd *exec.Cmd, exited <-chan error) {
	signalGroup(cmd, false)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		signalGroup(cmd, true)
		<-exited
	}
}

func killGroup(cmd *exec.Cmd) { signalGroup(cmd, true) }

// ring keeps the last lines a process wrote.
type ring struct {
	mu      sync.Mutex
	max     int
	buf     []string
	partial []byte
}

func newRing(n int) *ring { return &ring{max: n} }

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		r.buf = append(r.buf, string(r.partial[:i]))
		r.partial = r.partial[i+1:]
		if len(r.buf) > r.max {
			r.buf = r.buf[len(r.buf)-r.max:]
		}
	}
	if len(r.partial) > 8192 {
		r.buf = append(r.buf, string(r.partial))
		r.partial = nil
	}
	return len(p), nil
}

func (r *ring) lines(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= 0 || n > len(r.buf) {
		n = len(r.buf)
	}
	return append([]string(nil), r.buf[len(r.buf)-n:]...)
}
