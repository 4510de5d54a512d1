package mlflowapi

import (
	"context"

	"github.com/tandemml/tandem"
)

// visiblePages runs a paged search for a caller whose reads may be
// restricted to some experiments or models (tandem.VisibleScopes, set by
// the auth middleware for filtered routes): items keep rejects are left
// out and further pages are read, each asking for what is still missing,
// until max items or the end; the page token returned continues after
// the last page read. Unrestricted callers get the one page as it is.
func visiblePages[T any](ctx context.Context, max int, token string, fetch func(max int, token string) ([]T, string, error), scope func(T) tandem.Scope) ([]T, string, error) {
	items, next, err := fetch(max, token)
	if _, restricted := tandem.VisibleScopes(ctx); !restricted || err != nil {
		return items, next, err
	}
	if max <= 0 {
		max = len(items) // the store's default page size
	}
	var out []T
	for pages := 0; ; pages++ {
		for _, it := range items {
			if tandem.Visible(ctx, scope(it)) {
				out = append(out, it)
			}
		}
		if len(out) >= max || next == "" || pages >= 1000 {
			return out, next, nil
		}
		if items, next, err = fetch(max-len(out), next); err != nil {
			return nil, "", err
		}
	}
}
