//go:build tandemtest

package leader_test

import (
	"bytes"
	"encoding/json"
	"fmt"
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
//
// The gateway rows put a gateway in front (--gateway) with more clients
// writing through it, and repeat the fault on each new primary (--rounds):
// the primary moves between the three regions. They check the same
// invariants, that every round moved the primary on from the one before
// and that the gateway's clients had writes acknowledged in every new
// epoch; the RTO through the gateway beside the direct one, and the
// duplicates its clients met, are reported in the log (targets, not
// asserted: issue 18 items 2 and 7).
// On a failure the drill prints the tails of its processes' logs, which
// are in the message.
func TestDrillLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, c := range []struct {
		fault, durability string
		gateway           bool
		rounds            int
	}{
		{"kill", "sync", false, 1}, {"pause", "sync", false, 1}, {"partition", "async", false, 1},
		{"kill", "sync", true, 3}, {"pause", "sync", true, 3}, {"kill", "async", true, 2}, {"pause", "async", true, 2},
	} {
		name := c.fault + "/" + c.durability
		if c.gateway {
			name += "/gateway"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"drill", "--local", "--json", "--load", "1s", "--lease-ttl", "2s",
				"--fault", c.fault, "--durability", c.durability, "--rounds", fmt.Sprint(c.rounds)}
			if c.gateway {
				args = append(args, "--gateway")
			}
			cmd := exec.Command(tandemBin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tandem drill: %v\n%s\n%s", err, out, stderr.String())
			}
			type round struct {
				OldPrimary string  `json:"old_primary"`
				NewPrimary string  `json:"new_primary"`
				OldEpoch   int64   `json:"old_epoch"`
				NewEpoch   int64   `json:"new_epoch"`
				RTO        float64 `json:"rto_seconds"`
				GatewayRTO float64 `json:"gateway_rto_seconds"`
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
				Divergent  int     `json:"rpo_divergent_writes"`
				GatewayAck int     `json:"gateway_acknowledged_writes"`
				Duplicates int     `json:"client_duplicates"`
				Rounds     []round `json:"rounds"`
				FailedBack bool    `json:"failed_back"`
				VerifyOK   bool    `json:"verify_ok"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("drill report: %v\n%s", err, out)
			}
			t.Logf("drill: %s", out)
			if rep.Fault != c.fault || rep.NewEpoch <= rep.OldEpoch || rep.Acked == 0 || rep.RTO <= 0 ||
				rep.Lost != 0 || rep.Missing != rep.InReport || !rep.FailedBack || !rep.VerifyOK || len(rep.Rounds) != c.rounds {
				t.Errorf("drill report not as expected: %+v\n%s", rep, stderr.String())
			}
			if c.fault != "kill" && (rep.Held <= 2 || rep.NewPrimary == rep.OldPrimary) {
				t.Errorf("the %s did not hold the primary past the lease or nobody took over: %+v", c.fault, rep)
			}
			if c.durability == "sync" && rep.Missing != 0 {
				t.Errorf("sync mode lost %d acknowledged writes", rep.Missing)
			}
			for i, r := range rep.Rounds {
				if r.NewEpoch <= r.OldEpoch || r.NewPrimary == r.OldPrimary || (i > 0 && r.OldPrimary != rep.Rounds[i-1].NewPrimary) {
					t.Errorf("round %d did not move the primary on from the round before: %+v", i+1, rep.Rounds)
				}
				if c.gateway && r.GatewayRTO <= 0 {
					t.Errorf("round %d: no write acknowledged through the gateway in epoch %d", i+1, r.NewEpoch)
				}
				if c.gateway {
					t.Logf("%s round %d: %s -> %s, RTO direct %.2fs, through the gateway %.2fs", name, i+1, r.OldPrimary, r.NewPrimary, r.RTO, r.GatewayRTO)
				}
			}
			if c.gateway {
				if rep.GatewayAck == 0 {
					t.Errorf("no write acknowledged through the gateway")
				}
				t.Logf("%s: %d acknowledged (%d through the gateway), %d missing, %d in divergence reports, %d duplicates seen by the gateway's clients",
					name, rep.Acked, rep.GatewayAck, rep.Missing, rep.Divergent, rep.Duplicates)
			}
		})
	}
}
