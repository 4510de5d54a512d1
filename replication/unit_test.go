//go:build tandemtest

package replication

import (
	"math"
	"testing"

	"github.com/tandemml/tandem"
)

func TestIsWrite(t *testing.T) {
	cases := []struct {
		method, path string
		write        bool
	}{
		{"GET", "/api/2.0/mlflow/runs/get", false},
		{"POST", "/api/2.0/mlflow/runs/create", true},
		{"POST", "/ajax-api/2.0/mlflow/runs/search", false},
		{"POST", "/api/2.0/mlflow/experiments/search", false},
		{"POST", "/api/2.0/mlflow/registered-models/get-latest-versions", false},
		{"POST", "/api/2.0/mlflow/runs/log-batch", true},
		{"PATCH", "/api/2.0/mlflow/registered-models/update", true},
		{"DELETE", "/api/2.0/mlflow/registered-models/delete", true},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/a.txt", true},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/a.txt", false},
		{"POST", "/api/3.0/mlflow/traces/search", false},
		{"POST", Prefix + "journal", false},
		{"PUT", "/api/tandem/v1/test/note", true},
		{"POST", "/somewhere/else", false},
	}
	for _, c := range cases {
		if got := IsWrite(c.method, c.path); got != c.write {
			t.Errorf("IsWrite(%s %s) = %v", c.method, c.path, got)
		}
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, v := range []any{nil, int64(-5), 1.5, math.NaN(), math.Inf(-1), "x'\"", []byte{0, 1}} {
		got := toValue(v).sql()
		switch want := v.(type) {
		case float64:
			g := got.(float64)
			if !(g == want || math.IsNaN(g) && math.IsNaN(want)) {
				t.Errorf("%v -> %v", v, got)
			}
		case []byte:
			if string(got.([]byte)) != string(want) {
				t.Errorf("%v -> %v", v, got)
			}
		default:
			if got != v {
				t.Errorf("%v -> %v", v, got)
			}
		}
	}
	// SQLite and PostgreSQL integers of different widths digest the same.
	if toValue(int32(7)).canonical() != toValue(int64(7)).canonical() {
		t.Fatal("int widths digest differently")
	}
}

func TestCompareReportsFirstDifference(t *testing.T) {
	a := Checksums{Region: "a", UpTo: 3, Head: tandem.Position{Epoch: 1, Seq: 3}, Kinds: map[string]Digest{"runs": {3, "x"}, "models": {1, "m"}},
		Tables: map[string]Digest{"t": {1, "1"}}, Artifacts: map[string]string{"p": "s"}}
	b := a
	b.Region = "b"
	if d := Compare(a, b, nil); len(d) != 0 {
		t.Fatalf("equal: %v", d)
	}
	b.Kinds = map[string]Digest{"runs": {3, "y"}}
	b.Skipped = map[string]int64{"models": 1}
	d := Compare(a, b, map[string]string{"runs": "continuous", "models": "none"})
	if len(d) != 1 || d[0].Name != "runs" {
		t.Fatalf("want only runs to differ (models has policy none): %v", d)
	}
	b = a
	b.Artifacts = map[string]string{"p": "other"}
	if d := Compare(a, b, nil); len(d) != 1 || d[0].What != "artifact" {
		t.Fatalf("artifact: %v", d)
	}
	b = a
	b.Tables = map[string]Digest{"t": {1, "2"}}
	if d := Compare(a, b, nil); len(d) != 1 || d[0].What != "table" {
		t.Fatalf("table: %v", d)
	}
}
