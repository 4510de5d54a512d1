package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tandemml/tandem"
)

// Idempotency keys.
//
// A write may carry a key (the HTTP frontend takes it from the
// Idempotency-Key header and puts it in the write's context with
// WithIdempotencyKey). Mutate records the key with the write's journal
// sequence number in the same transaction as the write, and the entry
// carries it to the secondaries (tandem.Entry.IdempotencyKey), which record
// it in the same transaction as they apply the entry. So every region that
// holds a write knows its key, and the new primary after a failover knows
// the keys the old one applied. Retention is bounded by time and count:
// at every KeySweepEvery-th sequence number, in that entry's transaction,
// keys older than KeyRetention (by the entry's time) or more than KeyWindow
// sequence numbers behind it are deleted; every region sweeps at the same
// entries with the same bounds, so the table stays the same everywhere.
const (
	KeyRetention  = time.Hour
	KeyWindow     = 200000
	KeySweepEvery = 256
	// MaxKeyLength bounds a key (printable ASCII).
	MaxKeyLength = 128
)

type idempotencyKey struct{}

// WithIdempotencyKey returns ctx carrying key for the writes made with it.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

func idempotencyKeyOf(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKey{}).(string)
	return k
}

// CheckIdempotencyKey returns EINVALID for a key that is empty, too long
// or not printable ASCII.
func CheckIdempotencyKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return tandem.Errorf(tandem.EINVALID, "Idempotency-Key must be 1 to %d characters", MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return tandem.Errorf(tandem.EINVALID, "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return nil
}

// IdempotentWrite returns the first journal entry written with key, and
// whether there is one (still retained).
func (s *Store) IdempotentWrite(ctx context.Context, key string) (tandem.Entry, bool, error) {
	var seq int64
	err := s.Reader().QueryRowContext(ctx, `SELECT seq FROM idempotency_keys WHERE key = ?`, key).Scan(&seq)
	if IsNoRows(err) {
		return tandem.Entry{}, false, nil
	}
	if err != nil {
		return tandem.Entry{}, false, fmt.Errorf("idempotency key: %w", err)
	}
	es, err := s.ReadJournal(ctx, seq-1, 1)
	if err != nil {
		return tandem.Entry{}, false, err
	}
	if len(es) != 1 || es[0].Seq != seq {
		return tandem.Entry{}, false, tandem.Errorf(tandem.EINTERNAL, "idempotency key %q names journal entry %d, which is missing", key, seq)
	}
	return es[0], true, nil
}

// recordKeys records the keys of entries committed in tx (the first entry
// of a key wins) and sweeps at the sweep positions among them.
func recordKeys(ctx context.Context, tx *Tx, es []*tandem.Entry) error {
	for _, e := range es {
		if e.IdempotencyKey != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key, seq, created_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
				e.IdempotencyKey, e.Seq, e.Time.UnixMilli()); err != nil {
				return fmt.Errorf("record idempotency key: %w", err)
			}
		}
		if e.Seq%KeySweepEvery == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE seq <= ? OR created_ms < ?`,
				e.Seq-KeyWindow, e.Time.Add(-KeyRetention).UnixMilli()); err != nil {
				return fmt.Errorf("sweep idempotency keys: %w", err)
			}
		}
	}
	return nil
}

func entriesOf(ms []*mutation) []*tandem.Entry {
	es := make([]*tandem.Entry, len(ms))
	for i, m := range ms {
		es[i] = &m.entry
	}
	return es
}
