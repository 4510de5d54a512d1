package mlflowsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Reading metric histories is where a migration from MLflow spends its
// time: the stock server builds one ORM object per point. metrics/get-history
// costs one request per run and key; the UI's metrics/get-history-bulk
// answers one key for up to 100 runs in one request, with a plain JSON
// encoder that is cheaper per point. It leaves out the dataset and model a
// point was logged against, so it is only used for runs that have neither
// dataset inputs nor logged models and whose latest metrics carry no such
// link; the others are read point by point with get-history.

const (
	bulkMaxRuns   = 100   // the server's limit of run ids per bulk request
	bulkMaxPoints = 25000 // the server's limit of points per bulk answer
	// heldPoints bounds the points one worker holds before it hands its
	// runs on: a group of runs being read is halved when it would hold more.
	heldPoints = 250000
)

// bulkable says whether a run's histories can be read in bulk without
// losing anything the API exposes.
func bulkable(r *mlRun) bool {
	if len(r.Inputs.DatasetInputs) > 0 || len(r.Inputs.ModelInputs) > 0 || len(r.Outputs.ModelOutputs) > 0 {
		return false
	}
	for _, m := range r.Data.Metrics {
		if m.DatasetName != "" || m.DatasetDigest != "" || m.ModelID != "" {
			return false
		}
	}
	return true
}

func metricKeys(r *mlRun) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range r.Data.Metrics {
		if !seen[m.Key] {
			seen[m.Key] = true
			out = append(out, m.Key)
		}
	}
	return out
}

// errNoBulk means the server has no bulk history endpoint (an old or
// non-stock server): read point by point.
var errNoBulk = fmt.Errorf("no bulk metric history endpoint")

// bulkHistories reads the full metric histories of runs (all bulkable) and
// calls emit for each run with its points, in groups of at most 100 runs
// holding at most about heldPoints points.
func (c *Client) bulkHistories(ctx context.Context, runs []mlRun, emit func(r *mlRun, points []bundle.Metric) error) error {
	pending := append([]mlRun(nil), runs...)
	emitted := false
	for len(pending) > 0 {
		n := min(len(pending), bulkMaxRuns)
		group := map[string]*mlRun{}
		for i := range pending[:n] {
			group[runID(&pending[i])] = &pending[i]
		}
		got := map[string][]bundle.Metric{}
		held := 0
		keys := map[string]bool{}
		var keyOrder []string
		for i := range pending[:n] {
			for _, k := range metricKeys(&pending[i]) {
				if !keys[k] {
					keys[k] = true
					keyOrder = append(keyOrder, k)
				}
			}
		}
		drop := func(keep map[string]bool) {
			for id := range group {
				if !keep[id] {
					delete(group, id)
					held -= len(got[id])
					delete(got, id)
				}
			}
		}
		for _, key := range keyOrder {
			// The runs of the group with this key, and a guess of their
			// point counts (the latest step + 1) to fill each request
			// without going past what one answer holds. A wrong guess
			// costs a request, never a point.
			type want struct {
				id   string
				size int
			}
			var wants []want
			for id, r := range group {
				for _, m := range r.Data.Metrics {
					if m.Key == key {
						wants = append(wants, want{id, min(bulkMaxPoints, max(1, int(m.Step)+1))})
						break
					}
				}
			}
			sort.Slice(wants, func(i, j int) bool { return wants[i].id < wants[j].id })
			for len(wants) > 0 {
				var ids []string
				sum := 0
				for _, w := range wants {
					if len(ids) > 0 && sum+w.size > bulkMaxPoints {
						break
					}
					ids = append(ids, w.id)
					sum += w.size
				}
				pts, order, total, err := c.historyBulk(ctx, ids, key)
				if err == errNoBulk && emitted {
					return fmt.Errorf("metric %q history: the bulk endpoint went away during the migration", key)
				}
				if err != nil {
					return err
				}
				done := map[string]bool{}
				if total >= bulkMaxPoints {
					// Truncated: the runs answered before the last one are
					// complete; the last may be cut short, later ones missing.
					last := order[len(order)-1]
					if len(order) == 1 {
						// One run has more points for this key than an
						// answer holds: read it alone, page by page.
						hist, err := c.metricHistory(ctx, last, key)
						if err != nil {
							return fmt.Errorf("run %s: %w", last, err)
						}
						pts[last] = hist
					} else {
						delete(pts, last)
					}
					for id := range pts {
						done[id] = true
					}
				} else {
					for _, id := range ids {
						done[id] = true
					}
				}
				for id := range done {
					ps := pts[id]
					if len(ps) == 0 {
						// The run has this key but got no point (a server
						// that filters some runs out of bulk answers).
						if ps, err = c.metricHistory(ctx, id, key); err != nil {
							return fmt.Errorf("run %s: %w", id, err)
						}
					}
					got[id] = append(got[id], ps...)
					held += len(ps)
				}
				rest := wants[:0]
				for _, w := range wants {
					if !done[w.id] {
						rest = append(rest, w)
					}
				}
				wants = rest
			}
			if held > heldPoints && len(group) > 1 {
				ids := make([]string, 0, len(group))
				for id := range group {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				keep := map[string]bool{}
				for _, id := range ids[:len(ids)/2] {
					keep[id] = true
				}
				drop(keep)
			}
		}
		rest := pending[:0:0]
		for i := range pending {
			r := &pending[i]
			if group[runID(r)] == nil {
				rest = append(rest, *r)
				continue
			}
			emitted = true
			if err := emit(r, got[runID(r)]); err != nil {
				return err
			}
			delete(got, runID(r))
		}
		pending = rest
	}
	return nil
}

func runID(r *mlRun) string {
	if r.Info.RunID != "" {
		return r.Info.RunID
	}
	return r.Info.RunUUID
}

// historyBulk sends one get-history-bulk request and returns the points by
// run, the runs in the order the answer lists them, and the number of points.
func (c *Client) historyBulk(ctx context.Context, ids []string, key string) (map[string][]bundle.Metric, []string, int, error) {
	q := url.Values{"run_id": ids, "metric_key": {key}, "max_results": {fmt.Sprint(bulkMaxPoints)}}
	raw, err := c.getRaw(ctx, "/ajax-api/2.0/mlflow/metrics/get-history-bulk", q)
	if err != nil {
		if code := tandem.ErrorCode(err); code == tandem.ENOTFOUND {
			return nil, nil, 0, errNoBulk
		}
		return nil, nil, 0, fmt.Errorf("metric %q history of %d runs: %w", key, len(ids), err)
	}
	var resp struct {
		Metrics []struct {
			mlMetric
			RunID string `json:"run_id"`
		} `json:"metrics"`
	}
	// The bulk endpoint writes NaN and infinities as bare words, which are
	// not JSON; quote them so bundle.Float reads them.
	if err := json.Unmarshal(quoteNonFinite(raw), &resp); err != nil {
		return nil, nil, 0, fmt.Errorf("metric %q history of %d runs: decode answer: %w", key, len(ids), err)
	}
	out := map[string][]bundle.Metric{}
	var order []string
	for _, m := range resp.Metrics {
		if _, ok := out[m.RunID]; !ok {
			order = append(order, m.RunID)
		}
		out[m.RunID] = append(out[m.RunID], m.record())
	}
	return out, order, len(resp.Metrics), nil
}

// getRaw sends one GET and returns the whole answer.
func (c *Client) getRaw(ctx context.Context, path string, q url.Values) ([]byte, error) {
	start := time.Now()
	defer func() { c.record(path, time.Since(start)) }()
	resp, err := c.send(ctx, "GET", path, q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return b, nil
}

// quoteNonFinite turns the bare words NaN, Infinity and -Infinity outside
// strings into JSON strings.
func quoteNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+64)
	inStr := false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if inStr {
			out = append(out, ch)
			if ch == '\\' && i+1 < len(b) {
				i++
				out = append(out, b[i])
			} else if ch == '"' {
				inStr = false
			}
			continue
		}
		if ch == '"' {
			inStr = true
			out = append(out, ch)
			continue
		}
		matched := false
		for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(w)) {
				out = append(out, '"')
				out = append(out, w...)
				out = append(out, '"')
				i += len(w) - 1
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, ch)
		}
	}
	return out
}

// artifactDirs lists, in one request, which runs of a search page have an
// artifact folder, when the server proxies artifacts (--serve-artifacts)
// and every run of the page keeps its artifacts under the same folder
// (mlflow-artifacts:/EXPERIMENT/RUN_ID/artifacts). A run without a folder
// has no artifact, so listing it can be skipped. ok is false when that
// cannot be told: every run is then listed.
func (c *Client) artifactDirs(ctx context.Context, runs []mlRun) (dirs map[string]bool, ok bool) {
	prefix := ""
	for i := range runs {
		u, err := url.Parse(runs[i].Info.ArtifactURI)
		if err != nil || u.Scheme != "mlflow-artifacts" || u.Host != "" {
			return nil, false
		}
		p := strings.TrimPrefix(u.Path, "/")
		want := "/" + runID(&runs[i]) + "/artifacts"
		if !strings.HasSuffix(p, want) {
			return nil, false
		}
		p = strings.TrimSuffix(p, want)
		if i == 0 {
			prefix = p
		} else if p != prefix {
			return nil, false
		}
	}
	if prefix == "" || len(runs) < 2 {
		return nil, false
	}
	var resp struct {
		Files []mlFile `json:"files"`
	}
	if err := c.do(ctx, "GET", "/api/2.0/mlflow-artifacts/artifacts", url.Values{"path": {prefix}}, nil, &resp); err != nil {
		return nil, false
	}
	dirs = map[string]bool{}
	for _, f := range resp.Files {
		dirs[path.Base(f.Path)] = true
	}
	return dirs, true
}
