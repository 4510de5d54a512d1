package converge

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// settings is the provider of the workspace-wide settings (the jobs: and
// quotas: sections), a replicated kind applied through the primary: the
// region reads the settings apply last wrote; none is no object.
type settings struct{}

func (settings) Kind() desired.Kind { return desired.KindSettings }

func (settings) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	out := []plan.Object{}
	js, err := r.JobSettings(ctx)
	switch {
	case err == nil:
		out = append(out, plan.Object{Kind: desired.KindSettings, Name: desired.JobSettingsName, Spec: desired.JobSettingsSpec(*js)})
	case tandem.ErrorCode(err) != tandem.ENOTFOUND:
		return nil, err
	}
	q, err := r.QuotaSettings(ctx)
	switch {
	case err == nil:
		out = append(out, plan.Object{Kind: desired.KindSettings, Name: desired.QuotaSettingsName, Spec: desired.QuotaSettingsSpec(*q)})
	case tandem.ErrorCode(err) != tandem.ENOTFOUND:
		return nil, err
	}
	return out, nil
}

func (settings) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	quotas := a.Name == desired.QuotaSettingsName
	if a.Op == plan.Delete {
		del := w.DeleteJobSettings
		if quotas {
			del = w.DeleteQuotaSettings
		}
		if err := del(ctx); err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
		return nil
	}
	if quotas {
		q, err := desired.QuotaSettingsOf(o.Spec)
		if err != nil {
			return err
		}
		return w.PutQuotaSettings(ctx, q)
	}
	js, err := desired.JobSettingsOf(o.Spec)
	if err != nil {
		return err
	}
	return w.PutJobSettings(ctx, js)
}
