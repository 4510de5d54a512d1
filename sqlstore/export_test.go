package sqlstore

import (
	"context"
	"time"

	"github.com/tandemml/tandem"
)

// GroupStats reports the group commits of s so far: groups committed and
// the writes they held.
func GroupStats(s *Store) (groups, writes int64) {
	return s.group.groups.Load(), s.group.writes.Load()
}

// GroupQueued reports how many writes wait for a group.
func GroupQueued(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}

// PlannerStatsFresh reports, without the cache, whether s trusts
// PostgreSQL's statistics for run searches.
func PlannerStatsFresh(s *Store) bool {
	s.planStats.mu.Lock()
	s.planStats.at = time.Time{}
	s.planStats.mu.Unlock()
	return s.plannerStatsFresh(context.Background())
}

// RecordKeys records (and sweeps) idempotency keys as if es had just been
// committed, in a transaction of its own.
func RecordKeys(s *Store, es []*tandem.Entry) error {
	ctx := context.Background()
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	if err := recordKeys(ctx, &Tx{tx: sqlTx, dialect: s.dialect}, es); err != nil {
		return err
	}
	return sqlTx.Commit()
}
