package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Follower is the secondary side: it bootstraps a new region from the
// primary's snapshot, then applies the primary's journal in order. Its
// "what comes next" rule is simple and lives in follow: the next entry is
// always head+1, applied only after its blobs are stored and checked, and
// sqlstore.Apply rejects anything else.
type Follower struct {
	s *Service

	mu           sync.Mutex
	primaryHead  tandem.Position
	oldestBehind time.Time // commit time of the oldest entry known but not applied
	lastApply    time.Time
	lastErr      string
	lastErrAt    time.Time
	applyBlocked *tandem.Position // see FollowerStatus.ApplyBlocked
	progress     *Progress
	snapUpTo     map[string]int64
	lastProgress time.Time
}

func newFollower(s *Service) *Follower { return &Follower{s: s, snapUpTo: map[string]int64{}} }

// Run follows the primary whenever this region is a secondary, and idles
// while it is primary, until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	for {
		changed := f.s.cfg.Roles.Changed()
		st := f.s.cfg.Roles.Current()
		if st.Role == tandem.RoleSecondary {
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-changed:
				case <-rctx.Done():
				}
				cancel()
			}()
			err := f.runSecondary(rctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil && rctx.Err() == nil {
				f.s.log.Error("follower stopped", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (f *Follower) runSecondary(ctx context.Context) error {
	store := f.s.cfg.Store
	b := backoff{}
	started := false
	for {
		phase, err := store.State(ctx, "bootstrap")
		if err == nil {
			var head tandem.Position
			head, err = store.Head(ctx)
			switch {
			case err != nil:
			case phase == "" && head.Seq == 0:
				err = f.bootstrapMetadata(ctx)
			case phase == "artifacts":
				err = f.bootstrapArtifacts(ctx)
			default:
				if phase != "done" {
					// A journal without a bootstrap mark (this region
					// was primary from the start): mark it, unless a
					// rewind emptied the journal since it was read.
					var marked bool
					if marked, err = store.MarkBootstrapped(ctx); err != nil || !marked {
						break
					}
				}
				if !started {
					started = true
					go f.snapshotKinds(ctx)
				}
				err = f.follow(ctx)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			f.recordErr(err)
			if !b.wait(ctx) {
				return nil
			}
			continue
		}
		f.clearErr()
		b.reset()
	}
}

func (f *Follower) recordErr(err error) {
	f.mu.Lock()
	f.lastErr, f.lastErrAt = err.Error(), time.Now()
	f.mu.Unlock()
	f.s.met.errors.Inc()
	f.s.log.Warn("replication", "err", err)
}

// backoff waits 100ms, 200ms, ... up to 5s between failed attempts.
type backoff struct{ d time.Duration }

func (b *backoff) reset() { b.d = 0 }
func (b *backoff) wait(ctx context.Context) bool {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else {
		b.d = min(2*b.d, 5*time.Second)
	}
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// get sends an authenticated GET to the primary.
func (f *Follower) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	base := f.s.primaryURL()
	if base == "" {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "no primary URL known")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+Prefix+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.s.token)
	resp, err := f.s.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != 200 {
		defer resp.Body.Close()
		var body struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		json.Unmarshal(b, &body)
		code := tandem.EUNAVAILABLE
		if resp.StatusCode == http.StatusConflict {
			code = tandem.EINVALIDSTATE
		} else if resp.StatusCode == http.StatusNotFound {
			code = tandem.ENOTFOUND
		}
		return nil, tandem.Errorf(code, "primary answered %s to %s: %s %s", resp.Status, path, body.Code, body.Message)
	}
	return resp, nil
}

func (f *Follower) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	resp, err := f.get(ctx, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: decode: %w", path, err)
	}
	return nil
}

// bootstrapMetadata loads the primary's snapshot in one transaction.
func (f *Follower) bootstrapMetadata(ctx context.Context) error {
	f.setProgress(&Progress{Phase: "metadata"})
	f.say("bootstrap: loading the primary's metadata snapshot")
	resp, err := f.get(ctx, "snapshot", url.Values{})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer resp.Body.Close()
	pos, rows, err := loadSnapshot(ctx, f.s.cfg.Store, resp.Body, func(rows int64) {
		f.mu.Lock()
		f.progress.Rows = rows
		f.mu.Unlock()
		f.sayEvery("bootstrap: metadata %d rows", rows)
	})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	f.s.lastCommit.Store(pos.Seq)
	f.say("bootstrap: metadata at %s (%d rows)", pos, rows)
	return nil
}

// bootstrapArtifacts fetches the artifacts the snapshot listed; each one
// fetched is removed from the list, so a restart resumes with the rest.
func (f *Follower) bootstrapArtifacts(ctx context.Context) error {
	store := f.s.cfg.Store
	posStr, _ := store.State(ctx, "bootstrap_position")
	rowsStr, _ := store.State(ctx, "bootstrap_rows")
	totalStr, _ := store.State(ctx, "bootstrap_blobs_total")
	p := &Progress{Phase: "artifacts", Position: parsePos(posStr)}
	p.Rows, _ = strconv.ParseInt(rowsStr, 10, 64)
	remain, err := store.PendingBlobs(ctx)
	if err != nil {
		return err
	}
	for _, b := range remain {
		p.BytesTotal += b.Size
	}
	// Totals survive restarts so progress reads "done of total" across them.
	if totalStr == "" {
		err := store.SetState(ctx, map[string]string{"bootstrap_blobs_total": fmt.Sprintf("%d %d", len(remain), p.BytesTotal)})
		if err != nil {
			return err
		}
		p.BlobsTotal = int64(len(remain))
	} else {
		fmt.Sscanf(totalStr, "%d %d", &p.BlobsTotal, &p.BytesTotal)
		var left int64
		for _, b := range remain {
			left += b.Size
		}
		p.BlobsDone = p.BlobsTotal - int64(len(remain))
		p.BytesDone = p.BytesTotal - left
	}
	f.setProgress(p)
	for _, b := range remain {
		if err := f.fetchBlob(ctx, p.Position.Seq, b, func(n int64) {
			f.mu.Lock()
			f.progress.BytesDone += n
			bd, bt := f.progress.BytesDone, f.progress.BytesTotal
			f.mu.Unlock()
			f.sayEvery("bootstrap: artifacts %s of %s", human(bd), human(bt))
		}); err != nil {
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				f.s.log.Warn("bootstrap: artifact deleted on the primary since the snapshot; skipped", "path", b.Path)
			} else {
				return fmt.Errorf("bootstrap: %w", err)
			}
		}
		if err := store.BlobFetched(ctx, b.Path); err != nil {
			return err
		}
		f.mu.Lock()
		f.progress.BlobsDone++
		f.mu.Unlock()
	}
	if err := store.SetState(ctx, map[string]string{"bootstrap": "done"}); err != nil {
		return err
	}
	f.mu.Lock()
	f.progress.Phase = "done"
	f.mu.Unlock()
	f.say("bootstrap: done at %s (%d artifacts, %s); following the primary", p.Position, p.BlobsTotal, human(p.BytesTotal))
	return nil
}

// fetchBlob stores the primary's bytes for b unless this region already
// holds them with the right digest. Bytes whose SHA-256 differs from the
// recorded one are never published (blobstore.Put aborts).
//
// When the primary's bytes differ because a later entry (after seq)
// overwrote the path, the fetch is skipped: the later entry brings the
// current bytes. Bytes deleted on the primary are skipped with a warning.
// Any other mismatch (corruption in transit) is an error and is retried.
func (f *Follower) fetchBlob(ctx context.Context, seq int64, b tandem.BlobRef, progress func(int64)) error {
	err := f.fetchBlobOnce(ctx, b, progress)
	if code := tandem.ErrorCode(err); code == tandem.EINVALID || code == tandem.ENOTFOUND {
		var sup struct {
			By int64 `json:"superseded_by"`
		}
		if serr := f.getJSON(ctx, "superseded", url.Values{"path": {b.Path}, "after": {strconv.FormatInt(seq, 10)}}, &sup); serr == nil && sup.By > 0 {
			f.s.log.Info("artifact overwritten by a later entry; fetched with it", "path", b.Path, "entry", seq, "by", sup.By)
			return nil
		}
		if code == tandem.ENOTFOUND {
			// Deleted on the primary since: it can never be fetched, and
			// this region will not serve bytes it does not have.
			f.s.log.Warn("artifact no longer exists on the primary; not replicated", "path", b.Path, "entry", seq)
			f.s.met.blobErrors.Inc()
			return nil
		}
	}
	return err
}

func (f *Follower) fetchBlobOnce(ctx context.Context, b tandem.BlobRef, progress func(int64)) error {
	blobs := f.s.cfg.Blobs
	if ok, err := blobs.Exists(ctx, b.Path); err == nil && ok {
		if d, err := blobs.Digest(ctx, b.Path); err == nil && strings.EqualFold(d.SHA256, b.SHA256) {
			if progress != nil {
				progress(b.Size)
			}
			return nil
		}
	}
	resp, err := f.get(ctx, "blob", url.Values{"path": {b.Path}, "sha256": {b.SHA256}})
	if err != nil {
		return fmt.Errorf("fetch %s: %w", b.Path, err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if progress != nil {
		r = &countReader{r: r, fn: progress}
	}
	got, err := blobs.Put(ctx, b.Path, r, b.SHA256)
	if err != nil {
		f.s.met.blobErrors.Inc()
		return fmt.Errorf("fetch %s: %w", b.Path, err)
	}
	f.s.met.blobBytes.Add(float64(got.Size))
	return nil
}

type countReader struct {
	r  io.Reader
	fn func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.fn(int64(n))
	}
	return n, err
}

// follow long-polls the primary's journal and applies entries in order.
func (f *Follower) follow(ctx context.Context) error {
	store := f.s.cfg.Store
	b := backoff{}
	// The first poll after a start or an error does not wait: its answer
	// clears the error at once, not after a long-poll.
	wait := "0"
	for {
		head, err := store.Head(ctx)
		if err != nil {
			return err
		}
		epoch := max(head.Epoch, f.s.cfg.Roles.Current().Epoch)
		var jr JournalResponse
		// The long-poll waits 20s on the primary; a primary that stops
		// answering (frozen, partitioned) is given up on after 35s.
		pctx, cancel := context.WithTimeout(ctx, 35*time.Second)
		err = f.getJSON(pctx, "journal", url.Values{
			"after": {strconv.FormatInt(head.Seq, 10)}, "after_epoch": {strconv.FormatInt(head.Epoch, 10)},
			"epoch": {strconv.FormatInt(epoch, 10)}, "region": {f.s.cfg.Region},
			"wait": {wait}, "limit": {"500"},
		}, &jr)
		cancel()
		if err == nil {
			f.mu.Lock()
			f.primaryHead = jr.Head
			if len(jr.Entries) > 0 {
				f.oldestBehind = jr.Entries[0].Time
			} else if jr.Head.Seq <= head.Seq {
				f.oldestBehind = time.Time{}
			}
			f.mu.Unlock()
			err = f.applyBatch(ctx, jr.Entries)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			f.recordErr(err)
			wait = "0"
			if !b.wait(ctx) {
				return nil
			}
			continue
		}
		f.clearErr()
		wait = "20000"
		b.reset()
	}
}

// clearErr forgets the last error once replication works again: a
// caught-up secondary shows no stale error.
func (f *Follower) clearErr() {
	f.mu.Lock()
	f.lastErr, f.lastErrAt = "", time.Time{}
	f.mu.Unlock()
}

// applyBatch stores the blobs of a batch of entries, then applies the
// entries in one transaction. Artifacts first, metadata after: a crash in
// between leaves blobs nobody references yet, never metadata without bytes.
func (f *Follower) applyBatch(ctx context.Context, es []tandem.Entry) error {
	for _, e := range es {
		for _, b := range e.Blobs {
			if err := f.fetchBlob(ctx, e.Seq, b, nil); err != nil {
				return fmt.Errorf("entry %s: %w", e.Position, err)
			}
		}
	}
	if len(es) == 0 {
		return nil
	}
	// Traced writes: the apply joins each one's trace (ended below, with
	// the transaction's outcome).
	var spans []trace.Span
	for _, e := range es {
		if e.TraceParent == "" {
			continue
		}
		_, sp := f.s.cfg.Tracing.StartFromParent(ctx, e.TraceParent, "replication.apply "+e.Op,
			attribute.String("tandem.region", f.s.cfg.Region), attribute.Int64("tandem.seq", e.Seq),
			attribute.Int64("tandem.epoch", e.Epoch), attribute.String("tandem.kind", string(e.Kind)))
		spans = append(spans, sp)
	}
	_, err := f.s.cfg.Store.ApplyBatch(ctx, es)
	for _, sp := range spans {
		if err != nil {
			sp.SetStatus(codes.Error, err.Error())
		}
		sp.End()
	}
	if err != nil {
		if ctx.Err() == nil {
			// Loud, never skipped: the follow loop retries this batch.
			p := es[0].Position
			f.mu.Lock()
			f.applyBlocked = &p
			f.mu.Unlock()
			f.s.met.applyErrors.Inc()
			f.s.log.Error("replication: cannot apply the next journal entry; retrying, never skipping", "from", p, "err", err)
		}
		return err
	}
	now := time.Now()
	for _, e := range es {
		f.s.met.applyDelay.Observe(max(0, now.Sub(e.Time).Seconds()))
	}
	f.s.met.applied.Add(float64(len(es)))
	f.mu.Lock()
	f.lastApply = now
	f.applyBlocked = nil
	if f.primaryHead.Seq <= es[len(es)-1].Seq {
		f.oldestBehind = time.Time{}
	} else {
		f.oldestBehind = now // more exist; their times are not known yet
	}
	f.mu.Unlock()
	return nil
}

// snapshotKinds applies, every interval, the entries of snapshot-policy
// kinds that the journal stream carried as skip placeholders: all of a
// kind's pending entries commit in one transaction, so the kind moves from
// one consistent state to the next.
func (f *Follower) snapshotKinds(ctx context.Context) {
	ws := f.s.cfg.Workspace
	if ws == nil {
		return
	}
	for _, k := range tandem.Kinds {
		if p := ws.Policy(k); p.Policy == workspace.Snapshot {
			go func(k tandem.Kind, every time.Duration) {
				t := time.NewTicker(every)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if err := f.SnapshotKind(ctx, k); err != nil && ctx.Err() == nil {
							f.recordErr(fmt.Errorf("snapshot of %s: %w", k, err))
						}
					}
				}
			}(k, p.Interval)
		}
	}
}

// SnapshotKind brings kind k up to this region's head now.
func (f *Follower) SnapshotKind(ctx context.Context, k tandem.Kind) error {
	store := f.s.cfg.Store
	pending, err := store.SkippedSeqs(ctx, k)
	if err != nil || len(pending) == 0 {
		return err
	}
	after, upto := pending[0]-1, pending[len(pending)-1]
	var all []tandem.Entry
	for after < upto {
		var resp struct {
			Entries   []tandem.Entry `json:"entries"`
			ScannedTo int64          `json:"scanned_to"`
		}
		if err := f.getJSON(ctx, "deferred", url.Values{"kind": {string(k)},
			"after": {strconv.FormatInt(after, 10)}, "upto": {strconv.FormatInt(upto, 10)}}, &resp); err != nil {
			return err
		}
		all = append(all, resp.Entries...)
		if resp.ScannedTo <= after {
			break
		}
		after = resp.ScannedTo
	}
	want := map[int64]bool{}
	for _, s := range pending {
		want[s] = true
	}
	var apply []tandem.Entry
	for _, e := range all {
		if want[e.Seq] {
			for _, b := range e.Blobs {
				if err := f.fetchBlob(ctx, e.Seq, b, nil); err != nil {
					return err
				}
			}
			apply = append(apply, e)
		}
	}
	if _, err := store.ApplyDeferred(ctx, apply); err != nil {
		return err
	}
	f.mu.Lock()
	f.snapUpTo[string(k)] = upto
	f.mu.Unlock()
	return nil
}

func (f *Follower) status(head tandem.Position) FollowerStatus {
	lacking, deferred := f.skippedCounts(context.Background())
	f.mu.Lock()
	defer f.mu.Unlock()
	fs := FollowerStatus{Region: f.s.cfg.Region, Applied: head, PrimaryHead: f.primaryHead, LastError: f.lastErr,
		Lacking: lacking, Deferred: deferred, ApplyBlocked: f.applyBlocked}
	if f.primaryHead.Seq > head.Seq {
		fs.LagEntries = f.primaryHead.Seq - head.Seq
	}
	if !f.oldestBehind.IsZero() && fs.LagEntries > 0 {
		fs.LagSeconds = max(0, time.Since(f.oldestBehind).Seconds())
	}
	if !f.lastApply.IsZero() {
		t := f.lastApply
		fs.LastApply = &t
	}
	if !f.lastErrAt.IsZero() {
		t := f.lastErrAt
		fs.LastErrorAt = &t
	}
	if f.progress != nil {
		p := *f.progress
		fs.Bootstrap = &p
	}
	if len(f.snapUpTo) > 0 {
		fs.SnapshotUpTo = map[string]int64{}
		for k, v := range f.snapUpTo {
			fs.SnapshotUpTo[k] = v
		}
	}
	return fs
}

// skippedCounts counts skip placeholders per kind: policy none kinds are
// what this region lacks; snapshot kinds are waiting for the next catch-up.
func (f *Follower) skippedCounts(ctx context.Context) (lacking, deferred map[string]int) {
	counts, err := f.s.cfg.Store.SkippedCounts(ctx)
	if err != nil {
		return nil, nil
	}
	for k, n := range counts {
		if f.s.policy(k).Policy == workspace.Snapshot {
			if deferred == nil {
				deferred = map[string]int{}
			}
			deferred[string(k)] += n
		} else {
			if lacking == nil {
				lacking = map[string]int{}
			}
			lacking[string(k)] += n
		}
	}
	return lacking, deferred
}

func (f *Follower) setProgress(p *Progress) {
	f.mu.Lock()
	f.progress = p
	f.mu.Unlock()
}

// say logs a bootstrap milestone. It is not printed to Progress as well:
// the log goes to the same terminal, and every line would show twice.
func (f *Follower) say(format string, args ...any) {
	f.s.log.Info(fmt.Sprintf(format, args...))
}

// sayEvery prints progress at most once a second.
func (f *Follower) sayEvery(format string, args ...any) {
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.lastProgress) < time.Second {
		f.mu.Unlock()
		return
	}
	f.lastProgress = now
	f.mu.Unlock()
	if w := f.s.cfg.Progress; w != nil {
		fmt.Fprintf(w, "[%s] %s\n", f.s.cfg.Region, fmt.Sprintf(format, args...))
	}
}

func parsePos(s string) tandem.Position {
	var p tandem.Position
	fmt.Sscanf(s, "%d/%d", &p.Epoch, &p.Seq)
	return p
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

var _ = errors.New
