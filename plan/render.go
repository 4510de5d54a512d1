package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

var symbol = map[Op]string{Create: "+", Update: "~", Delete: "-"}

// Text writes the plan as a person reviews it, in the manner of
// Terraform: per region the actions, then a summary line; then drift,
// problems, warnings and the total.
func (p *Plan) Text(w io.Writer) error {
	var b strings.Builder
	for _, r := range p.Regions {
		role := ""
		if r.Primary {
			role = " (primary: replicated kinds are applied here and reach every region)"
		}
		fmt.Fprintf(&b, "%s%s:\n", r.Region, role)
		if len(r.Actions) == 0 {
			b.WriteString("  No changes.\n")
		}
		for _, a := range r.Actions {
			note := ""
			if a.Drift {
				note = "   # drifted: changed outside tandem apply"
			}
			fmt.Fprintf(&b, "  %s %s %q%s\n", symbol[a.Op], a.Kind, a.Name, note)
			for _, c := range a.Changes {
				fmt.Fprintf(&b, "      %s: %s -> %s\n", c.Field, show(c.Before), show(c.After))
			}
		}
		fmt.Fprintf(&b, "  %s\n\n", r.Summary.line())
	}
	if len(p.Drift) > 0 {
		b.WriteString("Drift since the last apply (objects changed by hand):\n")
		for _, d := range p.Drift {
			what := "missing"
			if !d.Missing {
				var fs []string
				for _, c := range d.Changes {
					fs = append(fs, fmt.Sprintf("%s %s (applied %s)", c.Field, show(c.Before), show(c.After)))
				}
				what = strings.Join(fs, ", ")
			}
			fmt.Fprintf(&b, "  %s: %s %q: %s\n", d.Region, d.Kind, d.Name, what)
		}
		b.WriteString("\n")
	}
	for _, s := range p.Problems {
		fmt.Fprintf(&b, "Error: %s\n", s)
	}
	for _, s := range p.Warnings {
		fmt.Fprintf(&b, "Warning: %s\n", s)
	}
	if len(p.Problems)+len(p.Warnings) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Total: %s\n", p.Total.line())
	_, err := io.WriteString(w, b.String())
	return err
}

func (s Summary) line() string {
	return fmt.Sprintf("Plan: %d to add, %d to change, %d to destroy.", s.Add, s.Change, s.Destroy)
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Saved is a plan as `tandem plan --out` writes it: the plan and what it
// was made from, so apply can check the state has not moved.
type Saved struct {
	Format    int    `json:"format"` // 1
	Workspace string `json:"workspace"`
	File      string `json:"file"` // the workspace file, as given
	Plan      *Plan  `json:"plan"`
}

// JSON writes the saved form, indented, keys in a fixed order.
func (s *Saved) JSON(w io.Writer) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
