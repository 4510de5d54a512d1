package converge

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// compute is the provider of compute targets, a regional kind: each
// region lists its own (the implicit "local" included) and each action
// goes to its region.
type compute struct{}

func (compute) Kind() desired.Kind { return desired.KindCompute }

func (compute) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	cs, err := r.Computes(ctx)
	if err != nil {
		return nil, err
	}
	out := []plan.Object{}
	for _, c := range cs {
		out = append(out, plan.Object{Kind: desired.KindCompute, Name: c.Name, Spec: desired.ComputeSpecOf(c)})
	}
	return out, nil
}

func (compute) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	if a.Op == plan.Delete {
		err := w.DeleteCompute(ctx, a.Name)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	t, err := desired.ComputeTargetOf(a.Name, o.SpecIn(a.Region))
	if err != nil {
		return err
	}
	_, err = w.PutCompute(ctx, t)
	return err
}
