package tandem_test

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestEntityNames(t *testing.T) {
	ok := []string{"acc", "a b", "a/b", "a.b", "a-b_c", "ns:key", "ünïcode", "x1"}
	bad := []string{"", ".", "..", "../x", "/abs", "a/", "a//b", "a/./b", "a*b", "a\nb", "a\\b", strings.Repeat("k", 251)}
	for _, k := range ok {
		if err := tandem.ValidateMetric(tandem.Metric{Key: k}); err != nil {
			t.Errorf("metric %q: %v", k, err)
		}
		if _, err := tandem.NormalizeParam(tandem.Param{Key: k}); err != nil {
			t.Errorf("param %q: %v", k, err)
		}
		if _, err := tandem.NormalizeRunTag(tandem.Tag{Key: k}); err != nil {
			t.Errorf("tag %q: %v", k, err)
		}
	}
	for _, k := range bad {
		if err := tandem.ValidateMetric(tandem.Metric{Key: k}); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("metric %q accepted", k)
		}
		if _, err := tandem.NormalizeParam(tandem.Param{Key: k}); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("param %q accepted", k)
		}
	}
	if err := tandem.ValidateMetric(tandem.Metric{Key: "m", Timestamp: -1}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Error("negative timestamp accepted")
	}
}

func TestTruncationAndLimits(t *testing.T) {
	p, err := tandem.NormalizeParam(tandem.Param{Key: "p", Value: strings.Repeat("é", 7000)})
	if err != nil || len([]rune(p.Value)) != tandem.MaxParamValueLength {
		t.Fatalf("param value: %d runes, %v", len([]rune(p.Value)), err)
	}
	tg, err := tandem.NormalizeRunTag(tandem.Tag{Key: "t", Value: strings.Repeat("x", 9000)})
	if err != nil || len(tg.Value) != tandem.MaxTagValueLength {
		t.Fatalf("tag value: %d, %v", len(tg.Value), err)
	}
	for _, c := range [][3]int{{1001, 0, 0}, {0, 101, 0}, {0, 0, 101}, {900, 100, 1}} {
		if err := tandem.ValidateBatchLimits(c[0], c[1], c[2]); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("batch %v accepted", c)
		}
	}
	if err := tandem.ValidateBatchLimits(1000, 0, 0); err != nil {
		t.Error(err)
	}
	if err := tandem.ValidateExperimentName(strings.Repeat("n", 501)); err == nil {
		t.Error("long experiment name accepted")
	}
	if err := tandem.ValidateExperimentTag("k", strings.Repeat("v", 20001)); err == nil {
		t.Error("long experiment tag accepted")
	}
	for _, loc := range []string{"runs:/abc/x", "s3://b/x#frag", "file:///" + strings.Repeat("a", 2048)} {
		if err := tandem.ValidateArtifactLocation(loc); err == nil {
			t.Errorf("artifact location %q accepted", loc[:min(len(loc), 30)])
		}
	}
	if tandem.ExperimentArtifactLocation("7") != "mlflow-artifacts:/7" {
		t.Error("default artifact location")
	}
}
