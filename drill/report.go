package drill

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/tandemml/tandem"
)

// Report is what a drill measured; `tandem drill --json` prints it. The
// top-level primary, epoch and timing fields are the first round's; Rounds
// has every round.
type Report struct {
	Fault           string  `json:"fault"`
	OldPrimary      string  `json:"old_primary"`
	NewPrimary      string  `json:"new_primary"`
	OldEpoch        int64   `json:"old_epoch"`
	NewEpoch        int64   `json:"new_epoch"`
	LeaseTTLSeconds float64 `json:"lease_ttl_seconds"`
	RTOSeconds      float64 `json:"rto_seconds"` // last ack on the old primary -> first ack on the new one
	// DetectionSeconds: last ack on the old primary -> the new primary's
	// record of when it saw the old lease expired (tandem history); the
	// rest of the RTO is the election and the clients finding the new
	// primary. 0 when unknown (switchover).
	DetectionSeconds float64 `json:"detection_seconds,omitempty"`
	// ResumedSeconds: last ack on the old primary -> the new primary's
	// record of when its writes resumed.
	ResumedSeconds  float64 `json:"resumed_seconds,omitempty"`
	FaultSeconds    float64 `json:"fault_seconds,omitempty"` // how long the pause or partition lasted
	Acknowledged    int     `json:"acknowledged_writes"`
	MissingAfter    int     `json:"rpo_missing_writes"`        // acknowledged, not in the new primary's history
	MissingInReport int     `json:"rpo_missing_in_divergence"` // of those, kept in a divergence report
	Lost            int     `json:"rpo_lost_writes"`           // of those, in no divergence report
	// InDivergence: entries of the divergent tails kept in divergence
	// reports anywhere in the workspace, each tail counted once however
	// many regions hold it.
	InDivergence int `json:"rpo_divergent_writes"`
	// Gateway: clients also wrote through a gateway in front of the
	// regions (Options.Gateway). GatewayRTOSeconds is the first round's
	// RTO as they saw it; GatewayAcknowledged counts their acknowledged
	// writes (included in Acknowledged); Duplicates the writes a client
	// was told had failed although they were applied (its retry found
	// them done).
	Gateway             bool    `json:"gateway,omitempty"`
	GatewayRTOSeconds   float64 `json:"gateway_rto_seconds,omitempty"`
	GatewayAcknowledged int     `json:"gateway_acknowledged_writes,omitempty"`
	Duplicates          int     `json:"client_duplicates"`
	Rounds              []Round `json:"rounds"`
	FailedBack          bool    `json:"failed_back"`
	VerifyOK            bool    `json:"verify_ok"`
	VerifyOutput        string  `json:"verify_output,omitempty"`
	WorkspaceDir        string  `json:"workspace_dir,omitempty"`
	DurabilityMode      string  `json:"durability"`
	Failure             string  `json:"failure,omitempty"`
}

// Round is one fault of a drill: the primary it hit, the one that took
// over, and the RTO the clients saw (directly and through the gateway).
type Round struct {
	OldPrimary        string  `json:"old_primary"`
	NewPrimary        string  `json:"new_primary"`
	OldEpoch          int64   `json:"old_epoch"`
	NewEpoch          int64   `json:"new_epoch"`
	RTOSeconds        float64 `json:"rto_seconds"`
	GatewayRTOSeconds float64 `json:"gateway_rto_seconds,omitempty"`
	DetectionSeconds  float64 `json:"detection_seconds,omitempty"`
	ResumedSeconds    float64 `json:"resumed_seconds,omitempty"`
	FaultSeconds      float64 `json:"fault_seconds,omitempty"`
	// lastOld is the last acknowledgement the old primary gave directly:
	// where the detection and resume times count from.
	lastOld time.Time
}

// Print writes the report for a person.
func (rep *Report) Print(out io.Writer) {
	fmt.Fprintf(out, "drill: fault %s, durability %s, lease %s\n", rep.Fault, rep.DurabilityMode, time.Duration(rep.LeaseTTLSeconds*float64(time.Second)))
	for i, r := range rep.Rounds {
		label := "  primary       "
		if len(rep.Rounds) > 1 {
			label = fmt.Sprintf("  round %d       ", i+1)
		}
		fmt.Fprintf(out, "%s %s (epoch %d) -> %s (epoch %d)\n", label, r.OldPrimary, r.OldEpoch, r.NewPrimary, r.NewEpoch)
		fmt.Fprintf(out, "  RTO            %.2fs (last write acknowledged by %s -> first by %s)\n", r.RTOSeconds, r.OldPrimary, r.NewPrimary)
		if rep.Gateway {
			fmt.Fprintf(out, "  RTO gateway    %.2fs (the same, for the clients writing through the gateway)\n", r.GatewayRTOSeconds)
		}
		if r.DetectionSeconds > 0 {
			fmt.Fprintf(out, "                 detected after %.2fs, writes open after %.2fs\n", r.DetectionSeconds, r.ResumedSeconds)
		}
	}
	fmt.Fprintf(out, "  RPO            %d of %d acknowledged writes missing (%d in divergence reports, %d lost); %d entries in divergence reports\n",
		rep.MissingAfter, rep.Acknowledged, rep.MissingInReport, rep.Lost, rep.InDivergence)
	if rep.Gateway {
		fmt.Fprintf(out, "  gateway        %d writes acknowledged through it; %d duplicates seen by its clients\n", rep.GatewayAcknowledged, rep.Duplicates)
	}
	fmt.Fprintf(out, "  failed back    %v\n", rep.FailedBack)
	fmt.Fprintf(out, "  verify         %v\n", rep.VerifyOK)
	if rep.WorkspaceDir != "" {
		fmt.Fprintf(out, "  workspace kept in %s\n", rep.WorkspaceDir)
	}
}

// Record is the report as a workspace records it (POST
// /api/tandem/v1/drills): its figures, the whole report, where it ran
// (tandem.DrillTargetLocal or DrillTargetWorkspace) and when.
func (rep *Report) Record(target string, started, finished time.Time) tandem.DrillRecord {
	doc, _ := json.Marshal(rep)
	if len(doc) > tandem.MaxDrillReport { // verify's output is the only long field
		short := *rep
		short.VerifyOutput = short.VerifyOutput[:min(len(short.VerifyOutput), 4<<10)] + " [cut]"
		doc, _ = json.Marshal(&short)
	}
	return tandem.DrillRecord{Target: target, StartedMS: started.UnixMilli(), FinishedMS: finished.UnixMilli(),
		Fault: rep.Fault, Durability: rep.DurabilityMode, OldPrimary: rep.OldPrimary, NewPrimary: rep.NewPrimary,
		Rounds: len(rep.Rounds), RTOSeconds: rep.RTOSeconds, Acknowledged: rep.Acknowledged, Missing: rep.MissingAfter,
		InDivergence: rep.MissingInReport, Lost: rep.Lost, FailedBack: rep.FailedBack, VerifyOK: rep.VerifyOK,
		Passed: rep.Failure == "", Failure: rep.Failure, Report: doc}
}
