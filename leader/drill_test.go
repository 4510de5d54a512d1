package leader_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// `tandem drill --local` with the faults that need more than a signal: a
// pause longer than the lease and a partition through the in-process
// proxies. A short lease keeps it quick; the report must show a new
// primary in a newer epoch, the old primary back as a secondary (failed
// back), nothing lost, and verify passing.
func TestDrillPauseAndPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, c := range []struct{ fault, durability string }{{"pause", "sync"}, {"partition", "async"}} {
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
			if rep.Fault != c.fault || rep.NewEpoch <= rep.OldEpoch || rep.NewPrimary == rep.OldPrimary || rep.Acked == 0 ||
				rep.Held <= 2 || rep.Lost != 0 || rep.Missing != rep.InReport || !rep.FailedBack || !rep.VerifyOK {
				t.Errorf("drill report not as expected: %+v\n%s", rep, stderr.String())
			}
			if c.durability == "sync" && rep.Missing != 0 {
				t.Errorf("sync mode lost %d acknowledged writes", rep.Missing)
			}
		})
	}
}
