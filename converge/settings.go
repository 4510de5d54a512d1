package converge

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// settings is the provider of the workspace-wide settings (the jobs:
// section), a replicated kind applied through the primary: the region
// reads the settings apply last wrote; none is no object.
type settings struct{}

func (settings) Kind() desired.Kind { return desired.KindSettings }

func (settings) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	js, err := r.JobSettings(ctx)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return []plan.Object{}, nil
	}
	if err != nil {
		return nil, err
	}
	return []plan.Object{{Kind: desired.KindSettings, Name: desired.JobSettingsName, Spec: desired.JobSettingsSpec(*js)}}, nil
}

func (settings) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	if a.Op == plan.Delete {
		err := w.DeleteJobSettings(ctx)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	js, err := desired.JobSettingsOf(o.Spec)
	if err != nil {
		return err
	}
	return w.PutJobSettings(ctx, js)
}
