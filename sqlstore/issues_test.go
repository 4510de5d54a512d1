package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestIssues: on every backend, bad input is refused and writes nothing;
// an issue is created pending, read, updated and found by experiment and
// filter in MLflow's order.
func TestIssues(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			exp, err := s.CreateExperiment(ctx, "issues-"+name, "", nil)
			must(t, err)
			head := func() tandem.Position { p, _ := s.Head(ctx); return p }
			before := head()
			for _, bad := range []tandem.Issue{
				{ExperimentID: exp, Description: "d"},
				{ExperimentID: exp, Name: "n"},
				{Name: "n", Description: "d"},
				{ExperimentID: exp, Name: "n", Description: "d", Status: "open"},
				{ExperimentID: exp, Name: "n", Description: "d", Severity: "critical"},
				{ExperimentID: exp, Name: "n\x00", Description: "d"},
				{ExperimentID: exp, Name: "n", Description: "d", SourceRunID: "no-such-run"},
			} {
				_, err := s.CreateIssue(ctx, bad)
				wantCode(t, err, tandem.EINVALID)
			}
			_, err = s.CreateIssue(ctx, tandem.Issue{ExperimentID: "424242", Name: "n", Description: "d"})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = s.UpdateIssue(ctx, "iss-nope", tandem.IssueUpdate{Status: "resolved"})
			wantCode(t, err, tandem.ENOTFOUND)
			for _, f := range []string{"name = 'x'", "status > 'a'", "status = 'a' OR status = 'b'", "status = 'a", "status"} {
				_, _, err := s.SearchIssues(ctx, tandem.IssueSearch{Filter: f})
				wantCode(t, err, tandem.EINVALID)
			}
			if head() != before {
				t.Fatalf("bad input wrote: %v -> %v", before, head())
			}

			a, err := s.CreateIssue(ctx, tandem.Issue{ExperimentID: exp, Name: "slow", Description: "p99", Severity: "low",
				RootCauses: []string{"cache"}, Categories: []string{"latency"}})
			must(t, err)
			b, err := s.CreateIssue(ctx, tandem.Issue{ExperimentID: exp, Name: "wrong", Description: "bad", Severity: "high"})
			must(t, err)
			c, err := s.CreateIssue(ctx, tandem.Issue{ExperimentID: exp, Name: "odd", Description: "?"})
			must(t, err)
			if a.Status != "pending" || !strings.HasPrefix(a.IssueID, "iss-") || len(a.IssueID) != 36 {
				t.Fatalf("created: %+v", a)
			}
			got, err := s.GetIssue(ctx, a.IssueID)
			must(t, err)
			if got.Name != "slow" || got.RootCauses[0] != "cache" || got.Categories[0] != "latency" || got.Created != a.Created {
				t.Fatalf("read back: %+v", got)
			}
			up, err := s.UpdateIssue(ctx, c.IssueID, tandem.IssueUpdate{Status: "resolved", Severity: "medium"})
			must(t, err)
			if up.Status != "resolved" || up.Severity != "medium" || up.Name != "odd" {
				t.Fatalf("updated: %+v", up)
			}
			_, err = s.UpdateIssue(ctx, c.IssueID, tandem.IssueUpdate{Status: "closed"})
			wantCode(t, err, tandem.EINVALID)
			ids := func(in tandem.IssueSearch) []string {
				t.Helper()
				in.ExperimentID = exp
				is, _, err := s.SearchIssues(ctx, in)
				must(t, err)
				var out []string
				for _, i := range is {
					out = append(out, i.Name)
				}
				return out
			}
			if got := strings.Join(ids(tandem.IssueSearch{}), ","); got != "wrong,odd,slow" {
				t.Fatalf("order: %s", got)
			}
			if got := strings.Join(ids(tandem.IssueSearch{Filter: `status = "resolved"`}), ","); got != "odd" {
				t.Fatalf("filter: %s", got)
			}
			if got := strings.Join(ids(tandem.IssueSearch{Filter: "status != resolved and status = pending"}), ","); got != "wrong,slow" {
				t.Fatalf("filter: %s", got)
			}
			page, next, err := s.SearchIssues(ctx, tandem.IssueSearch{ExperimentID: exp, MaxResults: 2})
			must(t, err)
			rest, last, err := s.SearchIssues(ctx, tandem.IssueSearch{ExperimentID: exp, MaxResults: 2, PageToken: next})
			must(t, err)
			if len(page) != 2 || next == "" || len(rest) != 1 || last != "" || rest[0].IssueID != a.IssueID {
				t.Fatalf("pages: %v %q %v %q", page, next, rest, last)
			}
			counted, _, err := s.SearchIssues(ctx, tandem.IssueSearch{ExperimentID: exp, IncludeTraceCount: true})
			must(t, err)
			for _, i := range counted {
				if i.TraceCount == nil || *i.TraceCount != 0 {
					t.Fatalf("trace count of %s: %v", i.Name, i.TraceCount)
				}
			}
			_ = b
		})
	}
}
