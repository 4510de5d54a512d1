package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/gateway"
	"github.com/tandemml/tandem/replication"
)

// Where a write went: to the primary the client found itself, or through
// the gateway.
const (
	viaDirect  = "direct"
	viaGateway = "gateway"
)

// writers are the drill's clients: each creates experiments with unique
// names, one after the other, and records every acknowledgement.
type writers struct {
	mu    sync.Mutex
	acks  []ack
	dups  int // writes a gateway client was told already existed: applied, answered as failed, sent again
	stop  context.CancelFunc
	ctx   context.Context
	wg    sync.WaitGroup
	hc    *http.Client // direct clients
	gwhc  *http.Client // gateway clients: the gateway may hold a request through a failover
	names func() string
	token string // bearer token of every write ("" : none)
	// regionAt names the region at a forwarded write's X-Tandem-Primary
	// (host:port; nil: the header is kept as it is).
	regionAt func(host string) string
	failed   string // the last refused or failed write's answer (under mu)
}

func newWriters(ctx context.Context, gatewayWait time.Duration) *writers {
	w := &writers{hc: &http.Client{Timeout: 5 * time.Second}, gwhc: &http.Client{Timeout: gatewayWait + 10*time.Second}}
	w.ctx, w.stop = context.WithCancel(ctx)
	return w
}

// direct starts a client that writes to whichever region says it is
// primary, finding it again after any failed write (with a new name: it
// never retries a write).
func (w *writers) direct(i int, rs *regions) {
	w.wg.Go(func() {
		target := ""
		for j := 0; w.ctx.Err() == nil; j++ {
			if target == "" {
				if target, _ = rs.primary(w.ctx); target == "" {
					sleep(w.ctx, 50*time.Millisecond)
					continue
				}
			}
			name := fmt.Sprintf("drill-%d-%d-%d", i, j, time.Now().UnixNano())
			code, errCode, h, err := w.create(w.hc, rs.urls[target], name)
			if err != nil || code != http.StatusOK {
				w.mu.Lock()
				w.failed = fmt.Sprintf("%d %s", code, errCode)
				if err != nil {
					w.failed = err.Error()
				}
				w.mu.Unlock()
				if err == nil {
					sleep(w.ctx, 20*time.Millisecond)
				}
				target = ""
				continue
			}
			w.record(viaDirect, target, name, h)
			sleep(w.ctx, 10*time.Millisecond)
		}
	})
}

// throughGateway starts a client that writes through the gateway at url
// and, like a stock client, sends a failed write again (the same name)
// until it is answered. An answer that the experiment already exists
// means an earlier attempt was applied although the client saw it fail:
// a duplicate.
func (w *writers) throughGateway(i int, url string) {
	w.wg.Go(func() {
		for j := 0; w.ctx.Err() == nil; j++ {
			name := fmt.Sprintf("drill-gw-%d-%d-%d", i, j, time.Now().UnixNano())
			for w.ctx.Err() == nil {
				code, errCode, h, err := w.create(w.gwhc, url, name)
				if err != nil || code >= 500 {
					sleep(w.ctx, 100*time.Millisecond)
					continue
				}
				if code == http.StatusOK {
					w.record(viaGateway, h.Get(gateway.HeaderRegion), name, h)
				} else if errCode == "RESOURCE_ALREADY_EXISTS" {
					w.mu.Lock()
					w.dups++
					w.mu.Unlock()
				}
				break
			}
			sleep(w.ctx, 10*time.Millisecond)
		}
	})
}

// create sends one create-experiment request to base and returns the
// status, the MLflow error code (on an error) and the headers.
func (w *writers) create(hc *http.Client, base, name string) (int, string, http.Header, error) {
	req, err := http.NewRequestWithContext(w.ctx, "POST", base+"/api/2.0/mlflow/experiments/create", strings.NewReader(fmt.Sprintf(`{"name": %q}`, name)))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	var e struct {
		Code string `json:"error_code"`
	}
	if resp.StatusCode != http.StatusOK {
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, e.Code, resp.Header, nil
}

// record keeps one acknowledgement. region is the region the write was
// sent to; a secondary that forwarded it to the primary names the primary
// that committed it (X-Tandem-Primary, its host:port), and that region is
// the one recorded:
// after a switchover a client still writing to the old primary is served
// by the new one, whose first write in the new epoch is what the RTO is
// measured to.
func (w *writers) record(via, region, name string, h http.Header) {
	if p := h.Get(replication.HeaderPrimary); p != "" {
		region = p
		if w.regionAt != nil {
			region = w.regionAt(p)
		}
	}
	var pos tandem.Position
	fmt.Sscanf(h.Get("X-Tandem-Position"), "%d/%d", &pos.Epoch, &pos.Seq)
	w.mu.Lock()
	w.acks = append(w.acks, ack{via: via, region: region, name: name, pos: pos, at: time.Now()})
	w.mu.Unlock()
}

// snapshot returns the acknowledgements so far (those that went via, or
// all for "") and the duplicates.
func (w *writers) snapshot(via string) ([]ack, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ack
	for _, a := range w.acks {
		if via == "" || a.via == via {
			out = append(out, a)
		}
	}
	return out, w.dups
}

// halt stops every client and waits for them (a request in flight is
// cancelled). Safe to call more than once.
func (w *writers) halt() {
	w.stop()
	w.wg.Wait()
}

// lastFailure is the answer to the last write a direct client saw fail
// ("none" when none did).
func (w *writers) lastFailure() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == "" {
		return "none"
	}
	return w.failed
}
