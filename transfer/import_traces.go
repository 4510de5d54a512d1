package transfer

import (
	"context"
	"fmt"
	"io"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

func decodeTrace(it bundle.Item, body io.Reader) (bundle.Trace, []tandem.Span, error) {
	var rec bundle.Trace
	if err := bundle.Decode(body, &rec); err != nil {
		return rec, nil, fmt.Errorf("%s: %w", it.Path, err)
	}
	if err := sameID(it, rec.TraceID); err != nil {
		return rec, nil, err
	}
	spans := make([]tandem.Span, 0, len(rec.Spans))
	for _, raw := range rec.Spans {
		sp, err := otlpspan.FromJSON(raw)
		if err != nil {
			return rec, nil, fmt.Errorf("bundle: %s: %w", it.Path, err)
		}
		spans = append(spans, sp)
	}
	return rec, spans, nil
}

// planTrace plans a trace like a run: it follows its experiment.
func (p *plan) planTrace(ctx context.Context, q sqlstore.Querier, it bundle.Item, body io.Reader) (Outcome, error) {
	rec, _, err := decodeTrace(it, body)
	if err != nil {
		return Outcome{}, err
	}
	res, err := p.planOwned(ctx, q, "trace/"+rec.TraceID, rec.ExperimentID, func(target string) (sqlstore.ImportResult, error) {
		return sqlstore.PlanTrace(ctx, q, sqlstore.TargetTrace(rec, target))
	})
	return outcome(it, res), err
}

func (im *Importer) importTrace(ctx context.Context, p *plan, it bundle.Item, body io.Reader) (Outcome, error) {
	rec, spans, err := decodeTrace(it, body)
	if err != nil {
		return Outcome{}, err
	}
	owner := "trace/" + rec.TraceID
	res := p.status[owner]
	if res.Status == sqlstore.ImportNew {
		if res, err = im.Store.ImportTrace(ctx, sqlstore.TargetTrace(rec, p.target(owner)), spans); err != nil {
			return Outcome{}, fmt.Errorf("import trace %s: %w", rec.TraceID, err)
		}
	}
	return outcome(it, res), nil
}
