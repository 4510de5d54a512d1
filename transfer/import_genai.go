package transfer

import (
	"context"
	"fmt"
	"io"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Evaluation datasets are workspace objects: planned by id, their links
// following the experiments' ids here (links to experiments neither in the
// bundle nor here, or in conflict, are dropped). Scorers belong to an
// experiment and follow it like runs.

func decodeGenAI(it bundle.Item, body io.Reader) (ds bundle.EvaluationDataset, sc bundle.Scorer, err error) {
	if it.Kind == bundle.KindEvaluationDataset {
		if err = bundle.Decode(body, &ds); err != nil {
			return ds, sc, fmt.Errorf("%s: %w", it.Path, err)
		}
		return ds, sc, sameID(it, ds.ID)
	}
	if err = bundle.Decode(body, &sc); err != nil {
		return ds, sc, fmt.Errorf("%s: %w", it.Path, err)
	}
	return ds, sc, sameID(it, sc.ScorerID)
}

// datasetTarget rewrites a dataset's experiment links for this workspace.
func (p *plan) datasetTarget(rec bundle.EvaluationDataset) bundle.EvaluationDataset {
	var ids []string
	for _, x := range rec.ExperimentIDs {
		t, ok := p.expTarget[x]
		if !ok {
			t = x // not in the bundle: kept if it exists here
		}
		if t != "" {
			ids = append(ids, t)
		}
	}
	rec.ExperimentIDs = ids
	return rec
}

func (p *plan) planGenAI(ctx context.Context, q sqlstore.Querier, it bundle.Item, body io.Reader) (Outcome, error) {
	ds, sc, err := decodeGenAI(it, body)
	if err != nil {
		return Outcome{}, err
	}
	if it.Kind == bundle.KindEvaluationDataset {
		res, err := sqlstore.PlanDataset(ctx, q, ds)
		p.status["evaluation_dataset/"+ds.ID] = res
		return outcome(it, res), err
	}
	res, err := p.planOwned(ctx, q, "scorer/"+sc.ScorerID, sc.ExperimentID, func(target string) (sqlstore.ImportResult, error) {
		return sqlstore.PlanScorer(ctx, q, sqlstore.TargetScorer(sc, target))
	})
	return outcome(it, res), err
}

func (im *Importer) importGenAI(ctx context.Context, p *plan, it bundle.Item, body io.Reader) (Outcome, error) {
	ds, sc, err := decodeGenAI(it, body)
	if err != nil {
		return Outcome{}, err
	}
	if it.Kind == bundle.KindEvaluationDataset {
		res := p.status["evaluation_dataset/"+ds.ID]
		if res.Status == sqlstore.ImportNew {
			if res, err = im.Store.ImportDataset(ctx, p.datasetTarget(ds)); err != nil {
				return Outcome{}, fmt.Errorf("import evaluation dataset %s: %w", ds.ID, err)
			}
		}
		return outcome(it, res), nil
	}
	owner := "scorer/" + sc.ScorerID
	res := p.status[owner]
	if res.Status == sqlstore.ImportNew {
		if res, err = im.Store.ImportScorer(ctx, sqlstore.TargetScorer(sc, p.target(owner))); err != nil {
			return Outcome{}, fmt.Errorf("import scorer %s: %w", sc.ScorerID, err)
		}
	}
	return outcome(it, res), nil
}

// Issues belong to an experiment and follow it like scorers.

func decodeIssue(it bundle.Item, body io.Reader) (tandem.Issue, error) {
	var is tandem.Issue
	if err := bundle.Decode(body, &is); err != nil {
		return is, fmt.Errorf("%s: %w", it.Path, err)
	}
	return is, sameID(it, is.IssueID)
}

func (p *plan) planIssue(ctx context.Context, q sqlstore.Querier, it bundle.Item, body io.Reader) (Outcome, error) {
	is, err := decodeIssue(it, body)
	if err != nil {
		return Outcome{}, err
	}
	res, err := p.planOwned(ctx, q, "issue/"+is.IssueID, is.ExperimentID, func(target string) (sqlstore.ImportResult, error) {
		is.ExperimentID = target
		return sqlstore.PlanIssue(ctx, q, is)
	})
	return outcome(it, res), err
}

func (im *Importer) importIssue(ctx context.Context, p *plan, it bundle.Item, body io.Reader) (Outcome, error) {
	is, err := decodeIssue(it, body)
	if err != nil {
		return Outcome{}, err
	}
	owner := "issue/" + is.IssueID
	res := p.status[owner]
	if res.Status == sqlstore.ImportNew {
		is.ExperimentID = p.target(owner)
		if res, err = im.Store.ImportIssue(ctx, is); err != nil {
			return Outcome{}, fmt.Errorf("import issue %s: %w", is.IssueID, err)
		}
	}
	return outcome(it, res), nil
}

// Webhooks are workspace objects, planned by id.

func decodeWebhook(it bundle.Item, body io.Reader) (bundle.Webhook, error) {
	var h bundle.Webhook
	if err := bundle.Decode(body, &h); err != nil {
		return h, fmt.Errorf("%s: %w", it.Path, err)
	}
	return h, sameID(it, h.ID)
}

func (p *plan) planWebhook(ctx context.Context, q sqlstore.Querier, it bundle.Item, body io.Reader) (Outcome, error) {
	h, err := decodeWebhook(it, body)
	if err != nil {
		return Outcome{}, err
	}
	res, err := sqlstore.PlanWebhook(ctx, q, h)
	p.status["webhook/"+h.ID] = res
	return outcome(it, res), err
}

func (im *Importer) importWebhook(ctx context.Context, p *plan, it bundle.Item, body io.Reader) (Outcome, error) {
	h, err := decodeWebhook(it, body)
	if err != nil {
		return Outcome{}, err
	}
	res := p.status["webhook/"+h.ID]
	if res.Status == sqlstore.ImportNew {
		if res, err = im.Store.ImportWebhook(ctx, h); err != nil {
			return Outcome{}, fmt.Errorf("import webhook %s: %w", h.ID, err)
		}
	}
	return outcome(it, res), nil
}
