package transfer

import (
	"context"
	"fmt"

	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// exportTraces writes every trace of an experiment, with its spans and
// assessments.
func (ex *Exporter) exportTraces(ctx context.Context, x *exportState, expID string) error {
	ids, err := sqlstore.TransferTraceIDs(ctx, x.q, expID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, ok, err := sqlstore.TransferTrace(ctx, x.q, id)
		if err != nil {
			return fmt.Errorf("export trace %s: %w", id, err)
		}
		if !ok {
			continue
		}
		if _, err := x.w.AddObject(bundle.KindTrace, id, rec); err != nil {
			return err
		}
		x.st.Traces++
	}
	return nil
}
