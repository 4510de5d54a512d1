package replication

import (
	"context"
	"io"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// LoadSnapshotForTest exposes loadSnapshot to the fuzz test.
func LoadSnapshotForTest(ctx context.Context, st *sqlstore.Store, r io.Reader) (tandem.Position, error) {
	pos, _, err := loadSnapshot(ctx, st.Replica(), r, nil)
	return pos, err
}
