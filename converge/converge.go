// Package converge is the I/O edge of plan and apply: it lists what a
// region actually holds, one Provider per kind of desired object, and
// performs a plan's actions one at a time. The decisions are package
// plan's; this package only reads and writes.
//
// A Provider lists through a Reader (the CLI's package client against a
// running region, or a region's own stores for its drift check) and
// applies through a Writer (package client, through the primary for
// replicated kinds and through the region itself for regional ones).
// Wiring a new kind (compute targets, online endpoints) is one Provider in
// one file, plus the Reader/Writer methods it needs.
package converge

import (
	"context"
	"fmt"
	"io"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// Reader is where a region's actual state is read from. A method a region
// cannot serve answers ENOTIMPLEMENTED; its kinds are then unsupported.
type Reader interface {
	ListSecrets(ctx context.Context, deleted bool) ([]*tandem.Secret, error)
	ListAssets(ctx context.Context, k tandem.AssetKind, name string, includeArchived bool) ([]*tandem.Asset, error)
	Roles(ctx context.Context) ([]*tandem.RoleDefinition, error)
	Assignments(ctx context.Context) ([]*tandem.RoleAssignment, error)
	// Computes lists the region's compute targets (regional).
	Computes(ctx context.Context) ([]*tandem.ComputeTarget, error)
	// Endpoints and Deployments list the online endpoints and every
	// deployment of them.
	Endpoints(ctx context.Context) ([]*tandem.OnlineEndpoint, error)
	Deployments(ctx context.Context) ([]*tandem.OnlineDeployment, error)
	// JobSettings returns the workspace-wide job settings apply wrote
	// (ENOTFOUND: none).
	JobSettings(ctx context.Context) (*tandem.JobSettings, error)
	// QuotaSettings returns the quotas apply wrote (ENOTFOUND: none).
	QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error)
}

// Writer performs changes (package client's *Client).
type Writer interface {
	CreateAsset(ctx context.Context, a *tandem.Asset, dir string) (*tandem.Asset, error)
	ArchiveAsset(ctx context.Context, k tandem.AssetKind, name, version string, archived bool) error
	PutRole(ctx context.Context, r *tandem.RoleDefinition) error
	DeleteRole(ctx context.Context, name string) error
	CreateAssignment(ctx context.Context, a *tandem.RoleAssignment) (*tandem.RoleAssignment, error)
	DeleteAssignment(ctx context.Context, id string) error
	PutCompute(ctx context.Context, t *tandem.ComputeTarget) (*tandem.ComputeTarget, error)
	DeleteCompute(ctx context.Context, name string) error
	Endpoint(ctx context.Context, name string) (*tandem.OnlineEndpoint, error)
	SetEndpoint(ctx context.Context, ep tandem.OnlineEndpoint) error
	DeleteEndpoint(ctx context.Context, name string) error
	GetDeployment(ctx context.Context, endpoint, name string) (*tandem.OnlineDeployment, error)
	SetDeployment(ctx context.Context, d tandem.OnlineDeployment) error
	DeleteDeployment(ctx context.Context, endpoint, name string) error
	PutJobSettings(ctx context.Context, js tandem.JobSettings) error
	DeleteJobSettings(ctx context.Context) error
	PutQuotaSettings(ctx context.Context, q tandem.QuotaSettings) error
	DeleteQuotaSettings(ctx context.Context) error
}

// Provider lists and changes the objects of one kind.
type Provider interface {
	Kind() desired.Kind
	// List returns the region's objects of the kind; names are the
	// objects the desired and last applied states name (a provider that
	// cannot list everything cheaply looks those up).
	List(ctx context.Context, r Reader, names []string) ([]plan.Object, error)
	// Apply performs one action; o is the desired object (nil for a
	// delete). It is idempotent: an object already in the wanted state is
	// success, so an interrupted apply resumes by planning again.
	Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error
}

// Providers are the kinds this build can list and apply; regions are the
// workspace's, in file order (an endpoint placed "all" serves in each).
// Make them anew for each apply: the deployments provider keeps the
// endpoints' traffic as the apply's actions leave it.
func Providers(regions []string) []Provider {
	return []Provider{settings{}, secrets{}, roles{}, assignments{}, assets{tandem.AssetDatastore}, assets{tandem.AssetEnvironment},
		assets{tandem.AssetData}, assets{tandem.AssetComponent}, compute{}, endpoints{regions},
		&deployments{regions: regions, traffic: map[string]map[string]int{}}}
}

func providerOf(ps []Provider, k desired.Kind) Provider {
	for _, p := range ps {
		if p.Kind() == k {
			return p
		}
	}
	return nil
}

// List reads a region's actual state: every kind with a provider that the
// region serves; the others are Unsupported.
func List(ctx context.Context, region string, r Reader, ps []Provider, names map[desired.Kind][]string) (*plan.Actual, error) {
	a := &plan.Actual{Region: region, Objects: []plan.Object{}}
	for _, k := range desired.Kinds {
		p := providerOf(ps, k)
		if p == nil {
			a.Unsupported = append(a.Unsupported, k)
			continue
		}
		objs, err := p.List(ctx, r, names[k])
		if tandem.ErrorCode(err) == tandem.ENOTIMPLEMENTED {
			a.Unsupported = append(a.Unsupported, k)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: list %s: %w", region, k, err)
		}
		for i := range objs {
			if k.Regional() {
				objs[i].Region = region
			}
		}
		a.Objects = append(a.Objects, objs...)
	}
	return a, nil
}

// Names are the object names per kind a desired and an applied state name.
func Names(s *desired.State, applied *plan.Applied) map[desired.Kind][]string {
	out := map[desired.Kind][]string{}
	seen := map[string]bool{}
	add := func(k desired.Kind, n string) {
		if !seen[string(k)+"/"+n] {
			seen[string(k)+"/"+n] = true
			out[k] = append(out[k], n)
		}
	}
	if s != nil {
		for _, o := range s.Objects {
			add(o.Kind, o.Name)
		}
	}
	if applied != nil {
		for _, o := range applied.Objects {
			add(o.Kind, o.Name)
		}
	}
	return out
}

// Target is where one region's actions go.
type Target struct {
	Region string
	Writer Writer
}

// Apply performs the plan's actions in order: replicated kinds through
// primary, regional ones through their region. It stops at the first
// error and returns how many actions were done; progress lines go to out.
func Apply(ctx context.Context, p *plan.Plan, s *desired.State, ps []Provider, targets map[string]Writer, out io.Writer) (int, error) {
	acts := p.Actions()
	for i, a := range acts {
		prov := providerOf(ps, a.Kind)
		w := targets[a.Region]
		if prov == nil || w == nil {
			return i, tandem.Errorf(tandem.EINVALID, "%s %s %q in %s: no way to apply it from here", a.Op, a.Kind, a.Name, a.Region)
		}
		var o *desired.Object
		if a.Op != plan.Delete {
			if o = s.Find(desired.Ref{Kind: a.Kind, Name: a.Name}); o == nil {
				return i, tandem.Errorf(tandem.ECONFLICT, "%s %q is in the plan but no longer in the workspace file: plan again", a.Kind, a.Name)
			}
		}
		fmt.Fprintf(out, "[%d/%d] %s: %s %s %q ...", i+1, len(acts), a.Region, a.Op, a.Kind, a.Name)
		if err := prov.Apply(ctx, w, a, o); err != nil {
			fmt.Fprintln(out, " failed")
			return i, fmt.Errorf("%s %s %q in %s: %w", a.Op, a.Kind, a.Name, a.Region, err)
		}
		fmt.Fprintln(out, " done")
	}
	return len(acts), nil
}
