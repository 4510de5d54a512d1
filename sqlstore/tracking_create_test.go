package sqlstore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestCreateRunFullMatchesGetRun checks that the run CreateRunFull builds
// from its change is exactly what GetRun reads back, for the cases that
// shape it: generated and given names, the name tag, duplicate tags, tag
// keys whose byte order differs from their case-insensitive order, long
// values that are truncated, start time and user.
func TestCreateRunFullMatchesGetRun(t *testing.T) {
	long := strings.Repeat("v", 9000)
	cases := []tandem.CreateRunInput{
		{ExperimentID: "0"},
		{ExperimentID: "0", RunName: "given", UserID: "alice", StartTime: 1234},
		{ExperimentID: "0", Tags: []tandem.Tag{{Key: tandem.TagRunName, Value: "from-tag"}}},
		{ExperimentID: "0", RunName: "same", Tags: []tandem.Tag{{Key: tandem.TagRunName, Value: "same"}}},
		{ExperimentID: "0", Tags: []tandem.Tag{
			{Key: "zeta", Value: "1"}, {Key: "Alpha", Value: "2"}, {Key: "alpha", Value: "3"}, {Key: "_x", Value: "4"},
			{Key: "zeta", Value: "5"}, {Key: "ünï", Value: "6"}, {Key: "mlflow.user", Value: "bob"}, {Key: "big", Value: long},
			{Key: "empty", Value: ""},
		}},
	}
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for i, in := range cases {
				got, err := s.CreateRunFull(ctx, in)
				must(t, err)
				want, err := s.GetRun(ctx, got.Info.RunID)
				must(t, err)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("case %d: CreateRunFull\n%+v\nGetRun\n%+v", i, got, want)
				}
			}
			_, err := s.CreateRunFull(ctx, tandem.CreateRunInput{ExperimentID: "424242"})
			wantCode(t, err, tandem.ENOTFOUND)
		})
	}
}
