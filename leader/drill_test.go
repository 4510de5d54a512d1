package leader_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// TestDrillLocal runs `tandem drill --local --json` (its own witness and
// three regions, a short lease to keep it quick) with each fault and checks
// its report: a new primary in a newer epoch, nothing lost (every missing
// write in a divergence report; none missing in sync mode), failed back,
// verify passed. kill is a signal; pause holds the primary stopped past the
// lease and partition cuts it off through the in-process proxies, so for
// those the old primary must have been held longer than the lease and
// another region must have taken over.
func TestDrillLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, c := range []struct{ fault, durability string }{{"kill", "sync"}, {"pause", "sync"}, {"partition", "async"}} {
		t.Run(c.fault, func(t *testing.T) {
			cmd := exec.Command(tandemBin, "drill", "--local", "--json", "--load", "1s", "--lease-ttl", "2s",
				"--fault", c.fault, "--durability", c.durability)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tandem drill: %v\n%s\n%s", err, out, stderr.String())
			}
			var rep struct {
				Fault      string  `json:"fault"`
				OldEpoch   int64   `json:"old_epoch"`
				NewEpoch   int64   `json:"new_epoch"`
				OldPrimary string  `json:"old_primary"`
				NewPrimary string  `json:"new_primary"`
				RTO        float64 `json:"rto_seconds"`
				Held       float64 `json:"fault_seconds"`
				Acked      int     `json:"acknowledged_writes"`
				Missing    int     `json:"rpo_missing_writes"`
				InReport   int     `json:"rpo_missing_in_divergence"`
				Lost       int     `json:"rpo_lost_writes"`
				FailedBack bool    `json:"failed_back"`
				VerifyOK   bool    `json:"verify_ok"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("drill report: %v\n%s", err, out)
			}
			t.Logf("drill: %s", out)
			if rep.Fault != c.fault || rep.NewEpoch <= rep.OldEpoch || rep.Acked == 0 || rep.RTO <= 0 ||
				rep.Lost != 0 || rep.Missing != rep.InReport || !rep.FailedBack || !rep.VerifyOK {
				t.Errorf("drill report not as expected: %+v\n%s", rep, stderr.String())
			}
			if c.fault != "kill" && (rep.Held <= 2 || rep.NewPrimary == rep.OldPrimary) {
				t.Errorf("the %s did not hold the primary past the lease or nobody took over: %+v", c.fault, rep)
			}
			if c.durability == "sync" && rep.Missing != 0 {
				t.Errorf("sync mode lost %d acknowledged writes", rep.Missing)
			}
		})
	}
}
