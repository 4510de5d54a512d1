package sqlstore

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemml/tandem"
)

// Group commit.
//
// The journal order must be the order in which changes were decided, so
// the writes of a primary are serial: each runs its prepare and applier
// after the previous one's changes. Done one transaction per write, every
// write held the journal lock for its own BEGIN, several round trips and
// COMMIT, and on PostgreSQL concurrent writers queued behind that lock.
//
// Mutate therefore queues the write, and one caller at a time (the leader)
// takes up to maxGroup queued writes and runs them in one transaction, in
// queue order, so that one that fails leaves no trace (see tryGroup: a
// savepoint each on SQLite, a rerun without it on PostgreSQL); then it
// appends their journal rows with consecutive sequence numbers, commits
// once and hands every caller its own result. The order of the journal
// is the order in which the group ran, which is a serial order, so a
// secondary applying the journal replays exactly what the primary decided. When the leader's own write is committed it passes the lead to
// the oldest waiting caller and returns.

// maxGroup bounds the writes committed by one transaction, so that the
// first of them does not wait for an unbounded number behind it, and so
// that a rerun after a failed write (PostgreSQL) repeats little.
const maxGroup = 32

// groupTimeout bounds one group's transaction: the callers' own contexts
// cannot cancel it (one caller giving up must not abort the others), so
// this keeps a hung database from holding the writers forever.
const groupTimeout = 2 * time.Minute

// mutation is one queued Mutate call.
type mutation struct {
	ctx     context.Context
	prepare PrepareFunc
	entry   tandem.Entry
	err     error
	lead    bool          // set instead of a result: this caller leads next
	done    chan struct{} // closed when entry/err, or lead, are set
}

// groupQueue holds the writes waiting for a group.
type groupQueue struct {
	mu      sync.Mutex
	queue   []*mutation
	running bool // a leader is committing groups

	groups, writes atomic.Int64 // groups committed and the writes they held (tests)
}

// Mutate is the one write path of a primary region: it checks the write
// gate and the epoch fence, runs prepare, applies the change with the op's
// registered applier, and appends the journal entry, all in one
// transaction that concurrent writes may share (see group commit above).
// prepare sees the changes of every write committed or grouped before it.
// It returns the committed entry; prepare's error is returned unchanged and
// nothing of that write is kept. A caller whose ctx ends while its write
// waits for a group gets ctx's error and nothing is written; once its write
// runs, it runs to the end.
func (s *Store) Mutate(ctx context.Context, prepare PrepareFunc) (tandem.Entry, error) {
	if _, err := s.currentGate().WriteEpoch(ctx); err != nil {
		return tandem.Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return tandem.Entry{}, err
	}
	m := &mutation{ctx: ctx, prepare: prepare, done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, m)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		<-m.done
		if !m.lead {
			return m.entry, m.err
		}
	}
	s.leadGroups(m)
	return m.entry, m.err
}

func (s *Store) currentGate() tandem.Gate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate
}

// leadGroups commits groups from the head of the queue until own's group
// is committed, then passes the lead to the oldest waiting write.
func (s *Store) leadGroups(own *mutation) {
	g := &s.group
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		batch := append([]*mutation(nil), g.queue[:n]...)
		g.queue = append(g.queue[:0:0], g.queue[n:]...)
		g.mu.Unlock()
		s.commitGroup(batch)
		mine := false
		for _, m := range batch {
			if m == own {
				mine = true
			} else {
				close(m.done)
			}
		}
		if mine {
			break
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		close(next.done)
	} else {
		g.running = false
	}
	g.mu.Unlock()
}

// memberCtx carries a caller's values (request ids, loggers) with the
// group's deadline and cancellation.
type memberCtx struct {
	context.Context
	values context.Context
}

func (c memberCtx) Value(key any) any { return c.values.Value(key) }

// commitGroup runs the writes of batch, in order, in one transaction, and
// sets each one's entry or error.
func (s *Store) commitGroup(batch []*mutation) {
	var live []*mutation
	for _, m := range batch {
		if err := m.ctx.Err(); err != nil {
			m.err = err
			continue
		}
		live = append(live, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	for len(live) > 0 {
		if !s.tryGroup(ctx, live) {
			return
		}
		// A write failed in a way that spoiled the transaction: run the
		// others again, from the start, without it.
		var again []*mutation
		for _, m := range live {
			if m.err == nil {
				again = append(again, m)
			}
		}
		live = again
	}
}

// tryGroup runs live in one transaction and commits the ones that succeed.
// It reports whether the transaction was abandoned because of a failed
// write (which then has its error, the others none): the caller runs the
// rest again.
//
// A write whose prepare fails has written nothing (prepare must not write),
// so the group goes on. One that fails later (in its applier, or a
// statement error that aborts a PostgreSQL transaction) may leave partial
// changes. On SQLite each write of a group runs under a savepoint, rolled
// back on failure; savepoints cost nothing there. On PostgreSQL a savepoint
// is a round trip per write, which grouped writes pay while the others
// wait, so there the group is optimistic: no savepoints, and such a failure
// abandons the transaction and the group runs again without that write.
func (s *Store) tryGroup(ctx context.Context, live []*mutation) (restart bool) {
	for _, m := range live {
		m.entry = tandem.Entry{}
	}
	// fail sets err on every live write that has none (nothing commits).
	fail := func(err error) {
		for _, m := range live {
			if m.err == nil {
				m.err = err
				m.entry = tandem.Entry{}
			}
		}
	}
	gate := s.currentGate()
	epoch, err := gate.WriteEpoch(ctx)
	if err != nil {
		fail(err)
		return false
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return false
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	last, err := lockJournalState(ctx, tx)
	if err != nil {
		fail(err)
		return false
	}
	if epoch < last.Epoch {
		fail(&tandem.Error{Code: tandem.EUNAVAILABLE,
			Message: fmt.Sprintf("this region's epoch %d is older than the journal's epoch %d: it is not the primary", epoch, last.Epoch)})
		return false
	}
	// A lone write needs no savepoint: if it fails the transaction is
	// rolled back whole.
	savepoints := s.dialect == SQLite && len(live) > 1
	var done []*mutation
	seq := last.Seq
	// sp: no savepoint yet (spNone), one that holds nothing of a kept write
	// (spClean: just made, or rolled back to), or one under a kept write.
	const (
		spNone = iota
		spClean
		spUsed
	)
	sp := spNone
	for _, m := range live {
		if savepoints && sp != spClean {
			if err := s.savepoint(ctx, tx, sp == spUsed); err != nil {
				fail(err)
				return false
			}
			sp = spClean
		}
		e, inPrepare, err := s.runMutation(memberCtx{Context: ctx, values: m.ctx}, tx, m.prepare, epoch, seq+1)
		if err != nil {
			m.err = err
			switch {
			case len(live) == 1:
				return false
			case savepoints:
				if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT tandem_w`); rerr != nil {
					fail(fmt.Errorf("mutate: roll back a failed write: %w (after: %v)", rerr, err))
					return false
				}
				continue
			case inPrepare && tandem.ErrorCode(err) != tandem.EINTERNAL:
				// Refused by prepare's checks: nothing written. Make sure
				// no failed statement aborted the transaction.
				var one int
				if tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one) == nil {
					continue
				}
			}
			return true
		}
		sp = spUsed
		seq++
		m.entry = e
		done = append(done, m)
	}
	if len(done) == 0 {
		return false
	}
	if err := appendJournalRows(ctx, tx, done); err != nil {
		fail(err)
		return false
	}
	if err := recordKeys(ctx, tx, entriesOf(done)); err != nil {
		fail(err)
		return false
	}
	// The lease may have been lost while we worked: confirm before commit.
	if again, err := gate.WriteEpoch(ctx); err != nil {
		fail(err)
		return false
	} else if again != epoch {
		fail(tandem.Errorf(tandem.EUNAVAILABLE, "epoch changed during the write"))
		return false
	}
	if err := sqlTx.Commit(); err != nil {
		fail(fmt.Errorf("commit: %w", err))
		return false
	}
	s.group.groups.Add(1)
	s.group.writes.Add(int64(len(done)))
	entries := make([]tandem.Entry, len(done))
	for i, m := range done {
		entries[i] = m.entry
	}
	s.committed(entries...)
	return false
}

// savepoint starts the savepoint of the next write of a group (SQLite);
// with release it first releases the one under the previous (kept) write.
// A savepoint rolled back to stays in place and is reused as is.
func (s *Store) savepoint(ctx context.Context, tx *Tx, release bool) error {
	if release {
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT tandem_w`); err != nil {
			return wrap("mutate: savepoint", err)
		}
	}
	_, err := tx.ExecContext(ctx, `SAVEPOINT tandem_w`)
	return wrap("mutate: savepoint", err)
}

// runMutation runs one write's prepare and applier inside tx and returns
// its entry at position (epoch, seq), or its error and whether prepare
// returned it. A panic in either becomes an error of this write alone.
func (s *Store) runMutation(ctx context.Context, tx *Tx, prepare PrepareFunc, epoch, seq int64) (e tandem.Entry, inPrepare bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("mutate: panic", "panic", r, "stack", string(debug.Stack()))
			e, inPrepare, err = tandem.Entry{}, false, tandem.Errorf(tandem.EINTERNAL, "internal error")
		}
	}()
	c, err := prepare(ctx, tx)
	if err != nil {
		return tandem.Entry{}, true, err
	}
	a, ok := s.appliers[c.Op]
	if !ok {
		return tandem.Entry{}, false, fmt.Errorf("mutate: no applier for op %q", c.Op)
	}
	payload, err := marshalPayload(c.Payload)
	if err != nil {
		return tandem.Entry{}, false, err
	}
	// The same storable-text rule on every backend, before the entry
	// exists: nothing has been written yet, so this is prepare's refusal.
	if err := tandem.CheckPayload(payload); err != nil {
		return tandem.Entry{}, true, err
	}
	if err := tandem.CheckText("key", c.Key); err != nil {
		return tandem.Entry{}, true, err
	}
	e = tandem.Entry{
		Position: tandem.Position{Epoch: epoch, Seq: seq},
		Kind:     a.kind, Op: c.Op, Key: c.Key, Payload: payload, Blobs: c.Blobs,
		Time: time.Now().UTC().Truncate(time.Millisecond), IdempotencyKey: idempotencyKeyOf(ctx),
		TraceParent: tandem.TraceParentOf(ctx),
	}
	if err := a.fn(ctx, tx, &e); err != nil {
		return tandem.Entry{}, false, err
	}
	return e, false, nil
}

// journalRowsPerInsert bounds one multi-row journal INSERT (9 arguments a
// row); a group is smaller than this.
const journalRowsPerInsert = 64

// appendJournalRows appends the entries of a group's committed writes, in
// order, and moves journal_state to the last one.
func appendJournalRows(ctx context.Context, tx *Tx, ms []*mutation) error {
	for start := 0; start < len(ms); start += journalRowsPerInsert {
		chunk := ms[start:min(start+journalRowsPerInsert, len(ms))]
		var q strings.Builder
		q.WriteString(`INSERT INTO journal (seq, epoch, kind, op, key, payload, blobs, created_ms, trace_parent) VALUES `)
		args := make([]any, 0, 9*len(chunk))
		for i, m := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, journalArgs(&m.entry)...)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("journal append: %w", err)
		}
	}
	e := ms[len(ms)-1].entry
	if _, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = ?, last_seq = ? WHERE id = 1`, e.Epoch, e.Seq); err != nil {
		return fmt.Errorf("journal state: %w", err)
	}
	return nil
}
