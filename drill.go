package tandem

import (
	"encoding/json"
	"math"
	"slices"
)

// DrillFaults are the faults a drill injects (tandem drill --fault). Only
// a planned switchover may be drilled on a live workspace; the others need
// a throwaway one (--local).
var DrillFaults = []string{"kill", "pause", "partition", "switchover"}

// Where a drill ran: a throwaway local workspace, or the live workspace
// that records it.
const (
	DrillTargetLocal     = "local"
	DrillTargetWorkspace = "workspace"
)

// DrillRecord is a drill's report as a workspace keeps it (POST
// /api/tandem/v1/drills, replicated through the journal, kind workspace):
// the figures the console lists and the whole report as the CLI printed
// it with --json. The primary sets ID, RecordedMS and RecordedBy.
type DrillRecord struct {
	ID         string `json:"id"`
	RecordedMS int64  `json:"recorded_ms"`
	RecordedBy string `json:"recorded_by,omitempty"`
	// Target is DrillTargetLocal or DrillTargetWorkspace.
	Target     string `json:"target"`
	StartedMS  int64  `json:"started_ms"`
	FinishedMS int64  `json:"finished_ms"`
	Fault      string `json:"fault"`
	Durability string `json:"durability"`
	OldPrimary string `json:"old_primary"`
	NewPrimary string `json:"new_primary"`
	Rounds     int    `json:"rounds"`
	// RTOSeconds is the first round's RTO as the drill's clients saw it.
	RTOSeconds   float64 `json:"rto_seconds"`
	Acknowledged int     `json:"acknowledged_writes"`
	// Missing: acknowledged writes not in the new primary's history (the
	// RPO), of which InDivergence are kept in divergence reports and Lost
	// in none.
	Missing      int  `json:"rpo_missing_writes"`
	InDivergence int  `json:"rpo_missing_in_divergence"`
	Lost         int  `json:"rpo_lost_writes"`
	FailedBack   bool `json:"failed_back"`
	VerifyOK     bool `json:"verify_ok"`
	// Passed: the drill broke no invariant; Failure says which it broke.
	Passed  bool            `json:"passed"`
	Failure string          `json:"failure,omitempty"`
	Report  json.RawMessage `json:"report,omitempty"`
}

// MaxDrillReport bounds a recorded drill's report (its JSON).
const MaxDrillReport = 256 << 10

// Validate checks a drill record as sent (EINVALID naming the field).
func (d *DrillRecord) Validate() error {
	switch {
	case d.Target != DrillTargetLocal && d.Target != DrillTargetWorkspace:
		return Errorf(EINVALID, "target must be %q or %q", DrillTargetLocal, DrillTargetWorkspace)
	case !slices.Contains(DrillFaults, d.Fault):
		return Errorf(EINVALID, "fault %q is not one of kill, pause, partition, switchover", d.Fault)
	case d.Durability != "sync" && d.Durability != "async":
		return Errorf(EINVALID, "durability must be sync or async")
	case d.StartedMS <= 0 || d.FinishedMS < d.StartedMS:
		return Errorf(EINVALID, "started_ms and finished_ms must be times in milliseconds, started first")
	case d.Rounds < 1:
		return Errorf(EINVALID, "rounds must be at least 1")
	case d.RTOSeconds < 0 || math.IsNaN(d.RTOSeconds) || math.IsInf(d.RTOSeconds, 0):
		return Errorf(EINVALID, "rto_seconds must be a non-negative number")
	case d.Acknowledged < 0 || d.Missing < 0 || d.InDivergence < 0 || d.Lost < 0:
		return Errorf(EINVALID, "write counts must not be negative")
	case d.InDivergence+d.Lost != d.Missing:
		return Errorf(EINVALID, "rpo_missing_in_divergence + rpo_lost_writes must equal rpo_missing_writes")
	case d.Passed != (d.Failure == ""):
		return Errorf(EINVALID, "passed must be true exactly when failure is empty")
	case len(d.Report) > MaxDrillReport:
		return Errorf(EINVALID, "report is larger than %d bytes", MaxDrillReport)
	}
	for name, v := range map[string]string{"old_primary": d.OldPrimary, "new_primary": d.NewPrimary, "failure": d.Failure} {
		if err := CheckText(name, v); err != nil {
			return err
		}
	}
	if len(d.Report) > 0 {
		var obj map[string]any
		if json.Unmarshal(d.Report, &obj) != nil {
			return Errorf(EINVALID, "report must be a JSON object")
		}
	}
	return nil
}
