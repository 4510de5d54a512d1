package tandem_test

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestValidateAlias(t *testing.T) {
	for _, ok := range []string{"champion", "a-b_c", "v1x", "V", "x" + strings.Repeat("y", 254)} {
		if err := tandem.ValidateAlias(ok); err != nil {
			t.Errorf("ValidateAlias(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "latest", "LATEST", "v1", "V22", "a b", "a/b", strings.Repeat("y", 256)} {
		if err := tandem.ValidateAlias(bad); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("ValidateAlias(%q) = %v; want EINVALID", bad, err)
		}
	}
}

func TestValidateModelNameAndVersion(t *testing.T) {
	for _, bad := range []string{"", "a/b", "a:b", "a\x00b"} {
		if err := tandem.ValidateModelName(bad); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("ValidateModelName(%q) = %v; want EINVALID", bad, err)
		}
	}
	if err := tandem.ValidateModelName("my model-1.0"); err != nil {
		t.Error(err)
	}
	if v, err := tandem.ParseVersion("12"); err != nil || v != 12 {
		t.Errorf("ParseVersion(12) = %d, %v", v, err)
	}
	for _, bad := range []string{"", "abc", "1.5"} {
		if _, err := tandem.ParseVersion(bad); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("ParseVersion(%q) = %v; want EINVALID", bad, err)
		}
	}
}

func TestStagesAndStatuses(t *testing.T) {
	if st, err := tandem.CanonicalStage("production"); err != nil || st != "Production" {
		t.Errorf("CanonicalStage(production) = %q, %v", st, err)
	}
	if _, err := tandem.CanonicalStage("Deleted_Internal"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("the internal deleted stage is not a client stage: %v", err)
	}
	if st, err := tandem.ParseLoggedModelStatus("2"); err != nil || st != tandem.LoggedModelReady {
		t.Errorf("ParseLoggedModelStatus(2) = %q, %v", st, err)
	}
	if _, err := tandem.ParseLoggedModelStatus("DONE"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("bad status: %v", err)
	}
	if !tandem.ValidModelID("m-0123456789abcdef0123456789abcdef") || tandem.ValidModelID("m-0123") {
		t.Error("ValidModelID")
	}
	if got := tandem.LoggedModelArtifactLocation("3", "m-x"); got != "mlflow-artifacts:/3/models/m-x/artifacts" {
		t.Errorf("LoggedModelArtifactLocation = %q", got)
	}
}
