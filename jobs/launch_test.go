package jobs_test

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
)

func TestDataOutputPath(t *testing.T) {
	cases := []struct {
		typ   string
		files []string
		want  string // a path, or "!" + part of the error
	}{
		{"uri_folder", []string{"a.csv", "sub/b.csv"}, "runs:/r1/outputs/clean"},
		{"uri_file", []string{"report.json"}, "runs:/r1/outputs/clean/report.json"},
		{"uri_file", []string{"sub/only.txt"}, "runs:/r1/outputs/clean/sub/only.txt"},
		{"mltable", []string{"MLTable", "part-0.parquet"}, "runs:/r1/outputs/clean"},
		{"uri_folder", nil, "!wrote no file"},
		{"uri_file", []string{"a", "b"}, "!wrote 2 files"},
		{"mltable", []string{"part-0.parquet"}, "!no MLTable file"},
	}
	for _, c := range cases {
		got, err := jobs.DataOutputPath("r1", "clean", c.typ, c.files)
		if bad, isErr := strings.CutPrefix(c.want, "!"); isErr {
			if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), bad) {
				t.Errorf("%s %v: got %q, %v; want an error with %q", c.typ, c.files, got, err, bad)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %v: got %q, %v; want %q", c.typ, c.files, got, err, c.want)
		}
	}
}
