package serving

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/mlflowapi"
)

// Request logs (a deployment's data_collector): each region's router
// samples the requests it routes to a deployment and keeps one JSON line
// per sampled request in a bounded buffer; a flusher appends the buffered
// lines every FlushEvery (and when the Service stops) to hourly files in
// the deployment's MLflow run, request_logs/<region>/<yyyy-mm-dd>/<HH>.jsonl.
// Only the primary writes metadata, so only the primary writes them: the
// primary appends its own lines through its store, a secondary sends its
// lines to the primary (POST .../request-logs with the peer key) and keeps
// them buffered while the primary cannot be reached. A full buffer drops
// lines and counts them (tandem_endpoint_request_logs_dropped_total);
// a scoring request never waits for a log.

const (
	// MaxLoggedBody is how much of a request or response body a line
	// keeps; a longer body is cut there (at a UTF-8 boundary) and the line
	// says model_inputs_truncated / model_outputs_truncated.
	MaxLoggedBody = 16 << 10
	// MaxRequestLogFile bounds one request log file: an hour that grows
	// past it continues in <HH>.1.jsonl, <HH>.2.jsonl, ...
	MaxRequestLogFile = 8 << 20
	// maxLogBuffer bounds the lines a region holds before they are
	// written (or sent to the primary).
	maxLogBuffer = 16 << 20
	// RequestLogExperimentPrefix names the experiment of an endpoint's
	// request logs: online-endpoints/<endpoint>; each deployment has one
	// run in it (tags tandem.endpoint and tandem.deployment).
	RequestLogExperimentPrefix = "online-endpoints/"
	// RequestIDHeader carries a scoring request's id (the caller's, when
	// it sends a usable one); the response and the log line carry it too.
	RequestIDHeader = "x-request-id"
)

// RequestLogLine is one sampled scoring request as it is logged. Headers
// are never part of it: they carry the endpoint's keys and tokens.
type RequestLogLine struct {
	Time                  string  `json:"time"` // RFC 3339, UTC, when the request arrived
	Region                string  `json:"region"`
	Endpoint              string  `json:"endpoint"`
	Deployment            string  `json:"deployment"`
	RequestID             string  `json:"request_id"`
	Status                int     `json:"status"`
	LatencyMS             float64 `json:"latency_ms"`
	ModelInputs           *string `json:"model_inputs,omitempty"`
	ModelInputsTruncated  bool    `json:"model_inputs_truncated,omitempty"`
	ModelOutputs          *string `json:"model_outputs,omitempty"`
	ModelOutputsTruncated bool    `json:"model_outputs_truncated,omitempty"`
}

// NewRequestLogLine builds the line of one request. inputs and outputs are
// nil when their collection is not enabled; they are cut at MaxLoggedBody.
func NewRequestLogLine(at time.Time, region, endpoint, deployment, requestID string, status int, latency time.Duration, inputs, outputs []byte) RequestLogLine {
	l := RequestLogLine{Time: at.UTC().Format(time.RFC3339Nano), Region: region, Endpoint: endpoint, Deployment: deployment,
		RequestID: requestID, Status: status, LatencyMS: float64(latency.Microseconds()) / 1000}
	if inputs != nil {
		s, cut := truncateUTF8(inputs, MaxLoggedBody)
		l.ModelInputs, l.ModelInputsTruncated = &s, cut
	}
	if outputs != nil {
		s, cut := truncateUTF8(outputs, MaxLoggedBody)
		l.ModelOutputs, l.ModelOutputsTruncated = &s, cut
	}
	return l
}

// Marshal is the line as written: one JSON object and a newline.
func (l RequestLogLine) Marshal() []byte {
	b, _ := json.Marshal(l)
	return append(b, '\n')
}

// truncateUTF8 keeps at most n bytes of b, not splitting a character.
func truncateUTF8(b []byte, n int) (string, bool) {
	if len(b) <= n {
		return string(b), false
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]), true
}

// RequestLogPath is where, under a run's artifacts, a region's lines of
// the hour that holds t go: request_logs/<region>/<yyyy-mm-dd>/<HH>.jsonl
// (UTC), <HH>.<part>.jsonl for part > 0.
func RequestLogPath(region string, t time.Time, part int) string {
	t = t.UTC()
	name := fmt.Sprintf("%02d.jsonl", t.Hour())
	if part > 0 {
		name = fmt.Sprintf("%02d.%d.jsonl", t.Hour(), part)
	}
	return path.Join("request_logs", region, t.Format("2006-01-02"), name)
}

var (
	requestIDRE  = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	regionNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// requestID is the caller's x-request-id when it is a plain token, else a
// new random one.
func requestID(r *http.Request, draw func() uint64) string {
	if id := r.Header.Get(RequestIDHeader); requestIDRE.MatchString(id) {
		return id
	}
	return fmt.Sprintf("%016x", draw())
}

// capture keeps the first max bytes written to it (a response body on its
// way to the client) and never fails.
type capture struct {
	buf []byte
	max int
	n   int
}

func (c *capture) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	c.n += len(p)
	return len(p), nil
}

func newCapture() *capture { return &capture{max: MaxLoggedBody + 1} } // one byte more: a longer body shows as cut

// logLine is a buffered line with where it goes.
type logLine struct {
	endpoint, deployment string
	hour                 time.Time // the hour it belongs to (UTC, truncated)
	data                 []byte
}

// logBuffer holds lines until the flusher takes them, bounded in bytes.
type logBuffer struct {
	mu    sync.Mutex
	lines []logLine
	size  int
	max   int
}

func newLogBuffer(max int) *logBuffer { return &logBuffer{max: max} }

// add keeps l unless the buffer is full; false means dropped.
func (b *logBuffer) add(l logLine) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.size+len(l.data) > b.max {
		return false
	}
	b.lines = append(b.lines, l)
	b.size += len(l.data)
	return true
}

// take empties the buffer.
func (b *logBuffer) take() []logLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.lines
	b.lines, b.size = nil, 0
	return out
}

// putBack returns lines that could not be written to the front of the
// buffer, as many as fit; it returns how many did not.
func (b *logBuffer) putBack(ls []logLine) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keep []logLine
	size := b.size
	dropped := 0
	for _, l := range ls {
		if size+len(l.data) > b.max {
			dropped++
			continue
		}
		keep = append(keep, l)
		size += len(l.data)
	}
	b.lines = append(keep, b.lines...)
	b.size = size
	return dropped
}

// logRequest samples and buffers the line of one routed request.
func (s *Service) logRequest(l RequestLogLine, at time.Time) {
	ok := s.logs.add(logLine{endpoint: l.Endpoint, deployment: l.Deployment, hour: at.UTC().Truncate(time.Hour), data: l.Marshal()})
	if !ok {
		s.metrics.logsDropped.Inc()
	}
}

// flushLoop writes the buffered lines every FlushEvery until ctx ends; the
// Service's Run flushes once more after it.
func (s *Service) flushLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.flushLogs(ctx)
		}
	}
}

// flushLogs writes (primary) or sends (secondary) what is buffered, one
// batch per deployment and hour. Batches that fail for a reason that may
// pass (no primary, a lost role) go back into the buffer; those refused
// for good (the deployment is gone) are dropped and counted. One flush at
// a time: the flush loop, then Run's last flush after it.
func (s *Service) flushLogs(ctx context.Context) {
	lines := s.logs.take()
	if len(lines) == 0 {
		return
	}
	type key struct {
		endpoint, deployment string
		hour                 time.Time
	}
	var order []key
	batches := map[key][]logLine{}
	for _, l := range lines {
		k := key{l.endpoint, l.deployment, l.hour}
		if batches[k] == nil {
			order = append(order, k)
		}
		batches[k] = append(batches[k], l)
	}
	var retry []logLine
	for _, k := range order {
		b := batches[k]
		var data bytes.Buffer
		for _, l := range b {
			data.Write(l.data)
		}
		err := s.shipLogs(ctx, k.endpoint, k.deployment, k.hour, data.Bytes())
		switch code := tandem.ErrorCode(err); {
		case err == nil:
			s.metrics.logsWritten.Add(float64(len(b)))
		case code == tandem.ENOTFOUND || code == tandem.EINVALID:
			s.log.Warn("request logs refused; dropped", "endpoint", k.endpoint, "deployment", k.deployment, "lines", len(b), "err", err)
			s.metrics.logsDropped.Add(float64(len(b)))
		default:
			if time.Since(s.logWarned) > time.Minute { // once a minute while the primary is away
				s.logWarned = time.Now()
				s.log.Warn("request logs not written yet; kept to retry", "endpoint", k.endpoint, "deployment", k.deployment, "lines", len(b), "err", err)
			}
			retry = append(retry, b...)
		}
	}
	if n := s.logs.putBack(retry); n > 0 {
		s.metrics.logsDropped.Add(float64(n))
	}
}

// shipLogs writes one batch through this region's store when it is the
// primary, else sends it to the primary.
func (s *Service) shipLogs(ctx context.Context, endpoint, deployment string, hour time.Time, data []byte) error {
	st := tandem.RoleState{Role: tandem.RolePrimary}
	if s.cfg.Roles != nil {
		st = s.cfg.Roles.Current()
	}
	if st.Role == tandem.RolePrimary {
		return s.appendRequestLogs(ctx, endpoint, deployment, s.cfg.Region, hour, data)
	}
	if st.PrimaryURL == "" {
		return tandem.Errorf(tandem.EUNAVAILABLE, "no primary known to write request logs to")
	}
	u := strings.TrimSuffix(st.PrimaryURL, "/") + APIPrefix + "/" + url.PathEscape(endpoint) + "/deployments/" + url.PathEscape(deployment) +
		"/request-logs?" + url.Values{"region": {s.cfg.Region}, "hour": {hour.UTC().Format(hourFormat)}}.Encode()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+s.cfg.PeerToken)
	resp, err := s.peer.Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "send request logs to the primary %s: %v", st.Primary, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
	code := tandem.EUNAVAILABLE
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusBadRequest {
		code = tandem.ENOTFOUND
		if resp.StatusCode == http.StatusBadRequest {
			code = tandem.EINVALID
		}
	}
	return tandem.Errorf(code, "the primary %s refused request logs (%d): %s", st.Primary, resp.StatusCode, e.Message)
}

// hourFormat names the hour of a batch sent to the primary.
const hourFormat = "2006-01-02T15"

// receiveLogs serves POST .../request-logs?region=R&hour=H on the primary:
// a secondary's batch of lines (JSON objects, one a line) for a deployment
// and hour, authenticated with the workspace peer key.
func (s *Service) receiveLogs(r *http.Request) (any, error) {
	cr, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
	if s.cfg.PeerToken == "" || err != nil || cr.Scheme != "bearer" ||
		subtle.ConstantTimeCompare([]byte(cr.Token), []byte(s.cfg.PeerToken)) != 1 {
		return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "request logs are sent by the workspace's regions, with the peer key")
	}
	q := r.URL.Query()
	region := q.Get("region")
	if !regionNameRE.MatchString(region) {
		return nil, tandem.Errorf(tandem.EINVALID, "region %q is not a region name", region)
	}
	hour, err := time.Parse(hourFormat, q.Get("hour"))
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "hour %q: want %s", q.Get("hour"), hourFormat)
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxLogBuffer+1))
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "could not read the request logs")
	}
	if len(data) > maxLogBuffer {
		return nil, tandem.Errorf(tandem.ELIMIT, "request logs larger than %d bytes", maxLogBuffer)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, tandem.Errorf(tandem.EINVALID, "request logs are JSON lines, each ending with a newline")
	}
	for i, line := range bytes.Split(data[:len(data)-1], []byte("\n")) {
		if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
			return nil, tandem.Errorf(tandem.EINVALID, "request logs: line %d is not a JSON object", i+1)
		}
	}
	if err := s.appendRequestLogs(r.Context(), r.PathValue("name"), r.PathValue("deployment"), region, hour, data); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// appendRequestLogs appends lines of region for one hour to the request
// log file of the deployment's run (the primary only: it writes metadata).
// The file is read, extended and written again with its new record, so
// the bytes and the record stay one artifact as everywhere else; an hour
// past MaxRequestLogFile continues in its next part.
func (s *Service) appendRequestLogs(ctx context.Context, endpoint, deployment, region string, hour time.Time, data []byte) error {
	if _, err := s.cfg.Store.GetDeployment(ctx, endpoint, deployment); err != nil {
		return err
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	root, err := s.deploymentRunRoot(ctx, endpoint, deployment)
	if err != nil {
		return err
	}
	arts, err := s.cfg.Store.ArtifactsUnder(ctx, path.Dir(root+"/"+RequestLogPath(region, hour, 0)))
	if err != nil {
		return err
	}
	sizes := map[string]int64{}
	for _, a := range arts {
		sizes[a.Path] = a.Size
	}
	part := 0
	for sizes[root+"/"+RequestLogPath(region, hour, part+1)] > 0 {
		part++
	}
	key := root + "/" + RequestLogPath(region, hour, part)
	if n := sizes[key]; n > 0 && n+int64(len(data)) > MaxRequestLogFile {
		part++
		key = root + "/" + RequestLogPath(region, hour, part)
	}
	var body []byte
	if sizes[key] > 0 {
		rd, err := s.cfg.Blobs.Open(ctx, key)
		if err != nil {
			return err
		}
		// Only what the record covers: bytes of a write whose record
		// failed are not there for readers, and the retry brings them again.
		body, err = io.ReadAll(io.LimitReader(rd, sizes[key]))
		rd.Close()
		if err != nil {
			return err
		}
	}
	body = append(body, data...)
	ref, err := s.cfg.Blobs.Put(ctx, key, bytes.NewReader(body), "")
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.PutArtifact(ctx, tandem.Artifact{Path: key, Size: ref.Size, SHA256: ref.SHA256, CreatedMs: time.Now().UnixMilli()})
	return err
}

// deploymentRunRoot finds (or creates, on first use) the deployment's run
// in its endpoint's experiment and returns the run's artifact root in the
// artifact store. Called with logMu held.
func (s *Service) deploymentRunRoot(ctx context.Context, endpoint, deployment string) (string, error) {
	k := endpoint + "/" + deployment
	if root := s.logRuns[k]; root != "" {
		return root, nil
	}
	name := RequestLogExperimentPrefix + endpoint
	exp, err := s.cfg.Store.GetExperimentByName(ctx, name)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		_, err = s.cfg.Store.CreateExperiment(ctx, name, "", []tandem.Tag{{Key: "tandem.endpoint", Value: endpoint}})
		if err == nil || tandem.ErrorCode(err) == tandem.EEXISTS {
			exp, err = s.cfg.Store.GetExperimentByName(ctx, name)
		}
	}
	if err != nil {
		return "", err
	}
	if exp.LifecycleStage != tandem.LifecycleActive {
		return "", tandem.Errorf(tandem.EINVALID, "experiment %s, where online endpoint %s logs its requests, is deleted: restore it", name, endpoint)
	}
	runs, _, err := s.cfg.Store.SearchRuns(ctx, tandem.SearchRunsInput{ExperimentIDs: []string{exp.ExperimentID},
		Filter: `tags."tandem.deployment" = '` + deployment + `'`, OrderBy: []string{"attributes.start_time ASC"}, MaxResults: 1})
	if err != nil {
		return "", err
	}
	var uri string
	if len(runs) > 0 {
		uri = runs[0].Info.ArtifactURI
	} else {
		run, err := s.cfg.Store.CreateRunFull(ctx, tandem.CreateRunInput{ExperimentID: exp.ExperimentID, StartTime: time.Now().UnixMilli(),
			RunName: deployment, Tags: []tandem.Tag{{Key: "tandem.endpoint", Value: endpoint}, {Key: "tandem.deployment", Value: deployment}}})
		if err != nil {
			return "", err
		}
		uri = run.Info.ArtifactURI
	}
	root, err := mlflowapi.ParseArtifactURI(uri)
	if err != nil {
		return "", err
	}
	s.logRuns[k] = root
	return root, nil
}
