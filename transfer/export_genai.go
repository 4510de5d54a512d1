package transfer

import (
	"context"
	"fmt"

	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// exportScorers writes the registered scorers of an experiment.
func (ex *Exporter) exportScorers(ctx context.Context, x *exportState, expID string) error {
	scs, err := sqlstore.TransferScorers(ctx, x.q, expID)
	if err != nil {
		return err
	}
	for _, sc := range scs {
		if _, err := x.w.AddObject(bundle.KindScorer, sc.ScorerID, sc); err != nil {
			return err
		}
		x.st.Scorers++
	}
	return nil
}

// exportIssues writes the issues of an experiment.
func (ex *Exporter) exportIssues(ctx context.Context, x *exportState, expID string) error {
	is, err := sqlstore.TransferIssues(ctx, x.q, expID)
	if err != nil {
		return err
	}
	for _, i := range is {
		if _, err := x.w.AddObject(bundle.KindIssue, i.IssueID, i); err != nil {
			return err
		}
		x.st.Issues++
	}
	return nil
}

// exportWebhooks writes every webhook, without its secret.
func (ex *Exporter) exportWebhooks(ctx context.Context, x *exportState) error {
	hooks, err := sqlstore.TransferWebhooks(ctx, x.q)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		if _, err := x.w.AddObject(bundle.KindWebhook, h.ID, h); err != nil {
			return err
		}
		x.st.Webhooks++
	}
	return nil
}

// exportDatasets writes the evaluation datasets linked to the exported
// experiments, or every dataset when all, after the experiments they
// refer to.
func (ex *Exporter) exportDatasets(ctx context.Context, x *exportState, all bool) error {
	var exps []string
	for id := range x.exps {
		exps = append(exps, id)
	}
	ids, err := sqlstore.TransferDatasetIDs(ctx, x.q, exps, all)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, ok, err := sqlstore.TransferDataset(ctx, x.q, id)
		if err != nil {
			return fmt.Errorf("export evaluation dataset %s: %w", id, err)
		}
		if !ok {
			continue
		}
		if _, err := x.w.AddObject(bundle.KindEvaluationDataset, id, rec); err != nil {
			return err
		}
		x.st.EvaluationDatasets++
	}
	return nil
}
