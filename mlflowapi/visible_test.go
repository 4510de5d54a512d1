package mlflowapi

import (
	"context"
	"reflect"
	"strconv"
	"testing"

	"github.com/tandemml/tandem"
)

// TestVisiblePages: a restricted caller gets max visible items gathered
// over as many pages as needed, each asking for what is still missing,
// and a token that continues after the last page read.
func TestVisiblePages(t *testing.T) {
	all := make([]string, 20) // experiment ids 0..19; 3, 7, 8, 15 visible
	for i := range all {
		all[i] = strconv.Itoa(i)
	}
	var asked []int
	fetch := func(max int, token string) ([]string, string, error) {
		asked = append(asked, max)
		start, _ := strconv.Atoi(token)
		end := min(start+max, len(all))
		next := ""
		if end < len(all) {
			next = strconv.Itoa(end)
		}
		return all[start:end], next, nil
	}
	scope := func(id string) tandem.Scope { return tandem.ExperimentScope(id) }
	ctx := tandem.WithVisibleScopes(context.Background(), []tandem.Scope{
		tandem.ExperimentScope("3"), tandem.ExperimentScope("7"), tandem.ExperimentScope("8"), tandem.ExperimentScope("15")})
	got, next, err := visiblePages(ctx, 2, "", fetch, scope)
	if err != nil || !reflect.DeepEqual(got, []string{"3", "7"}) || next != "8" {
		t.Fatalf("first page: %v %q %v (asked %v)", got, next, err, asked)
	}
	if !reflect.DeepEqual(asked, []int{2, 2, 1, 1, 1, 1}) {
		t.Fatalf("page sizes asked: %v", asked)
	}
	got, next, _ = visiblePages(ctx, 2, next, fetch, scope)
	if !reflect.DeepEqual(got, []string{"8", "15"}) || next != "16" {
		t.Fatalf("second page: %v %q", got, next)
	}
	got, next, _ = visiblePages(ctx, 2, next, fetch, scope)
	if len(got) != 0 || next != "" {
		t.Fatalf("after the last: %v %q", got, next)
	}
	// Unrestricted: the store's page as it is.
	asked = nil
	got, _, _ = visiblePages(context.Background(), 3, "", fetch, scope)
	if !reflect.DeepEqual(got, []string{"0", "1", "2"}) || len(asked) != 1 {
		t.Fatalf("unrestricted: %v (asked %v)", got, asked)
	}
}
