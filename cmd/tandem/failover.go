package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/workspace"
)

// failoverClient talks to the regions' failover endpoints with the
// workspace peer key.
type failoverClient struct {
	ws    *workspace.Workspace
	token string
	hc    *http.Client
}

func newFailoverClient(config string) (*failoverClient, error) {
	if config == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "--workspace workspace.yaml is required (its peer key authorizes failover commands)")
	}
	ws, err := workspace.Load(config)
	if err != nil {
		return nil, err
	}
	hc, err := workspaceHTTPClient(ws)
	if err != nil {
		return nil, err
	}
	c := &failoverClient{ws: ws, hc: &http.Client{Transport: hc.Transport, Timeout: 10 * time.Second}}
	if len(ws.Regions) > 1 {
		key, err := ws.Key()
		if err != nil {
			return nil, err
		}
		c.token = replication.Token(key)
	}
	return c, nil
}

func (c *failoverClient) call(ctx context.Context, method, url string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != 200 {
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		json.Unmarshal(b, &e)
		code := tandem.EUNAVAILABLE
		switch resp.StatusCode {
		case 400:
			code = tandem.EINVALID
		case 404:
			code = tandem.ENOTFOUND
		case 401, 403:
			code = tandem.EUNAUTHORIZED
		}
		if e.Message == "" {
			e.Message = resp.Status
		}
		return tandem.Errorf(code, "%s: %s", url, e.Message)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

type regionFailover struct {
	Name   string
	URL    string
	Status *leader.StatusDoc
	Err    string
}

func (c *failoverClient) statuses(ctx context.Context) []regionFailover {
	out := make([]regionFailover, len(c.ws.Regions))
	for i, r := range c.ws.Regions {
		out[i] = regionFailover{Name: r.Name, URL: r.URL}
		var st leader.StatusDoc
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c.call(cctx, "GET", r.URL+leader.Prefix+"status", nil, &st)
		cancel()
		if err != nil {
			out[i].Err = tandem.ErrorMessage(err)
			continue
		}
		out[i].Status = &st
	}
	return out
}

// primary is the reachable region that says it is primary in the newest epoch.
func primaryOf(sts []regionFailover) *regionFailover {
	var p *regionFailover
	for i := range sts {
		s := sts[i].Status
		if s != nil && s.Role == failover.Primary && (p == nil || s.Epoch > p.Status.Epoch) {
			p = &sts[i]
		}
	}
	return p
}

func newFailoverCmd() *cobra.Command {
	var config, to string
	var force, yes bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "failover --to REGION",
		Short: "Make REGION the primary: a planned switchover with zero loss, or --force when the primary is lost",
		Long: `Make REGION the primary region.

Without --force this is a planned switchover: the primary stops accepting writes, REGION catches up
to the primary's last entry, then the lease moves to REGION, which starts accepting writes in the
next epoch. Nothing acknowledged is lost. If REGION does not catch up in time, the primary resumes.

With --force (the primary is unreachable or must be abandoned) REGION takes the lease as soon as
the witness lets it, even if it is behind: the command prints how many entries may be lost (they
will be kept in a divergence report on the old primary when it rejoins) and asks for confirmation
unless --yes.

Without a witness (failover is then manual only) --force promotes REGION at once in the next
epoch, whether or not the old primary is reachable; the other regions follow it as soon as they see
the newer epoch, and the old primary, when it comes back, keeps its divergent tail in a report.`,
		Example: `  tandem failover --to westus --workspace workspace.yaml
  tandem failover --to westus --force --yes --workspace workspace.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newFailoverClient(config)
			if err != nil {
				return err
			}
			target, err := c.ws.Region(to)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			sts := c.statuses(ctx)
			p := primaryOf(sts)
			var ts *leader.StatusDoc
			for _, s := range sts {
				if s.Name == to {
					ts = s.Status
				}
			}
			if ts == nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "region %s is unreachable", to)
			}
			if p != nil && p.Name == to {
				fmt.Fprintf(out, "%s is already the primary (epoch %d)\n", to, p.Status.Epoch)
				return nil
			}
			oldEpoch := ts.Epoch
			if p != nil {
				oldEpoch = max(oldEpoch, p.Status.Epoch)
			}
			start := time.Now()
			switch {
			case !force:
				if p == nil {
					return tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary: a planned switchover needs one (use --force to promote %s anyway)", to)
				}
				fmt.Fprintf(out, "switchover %s -> %s: stopping writes on %s, waiting for %s to catch up (head %s)\n", p.Name, to, p.Name, to, p.Status.Head)
				if err := c.call(ctx, "POST", p.URL+leader.Prefix+"switchover", map[string]any{"target": to}, nil); err != nil {
					return err
				}
			default:
				risk := ts.Behind
				if p != nil {
					risk = max(0, p.Status.Head.Seq-ts.Head.Seq)
				}
				fmt.Fprintf(out, "forced failover to %s: it is %d journal entries behind the most advanced known position; those may be lost\n", to, risk)
				fmt.Fprintln(out, "(they are kept in a divergence report when the old primary rejoins: tandem divergence list)")
				if !yes {
					fmt.Fprint(out, "type yes to continue: ")
					line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
					if strings.TrimSpace(line) != "yes" {
						return tandem.Errorf(tandem.EINVALID, "aborted")
					}
				}
				if p != nil {
					err = c.call(ctx, "POST", p.URL+leader.Prefix+"switchover", map[string]any{"target": to, "force": true}, nil)
				} else {
					err = c.call(ctx, "POST", target.URL+leader.Prefix+"switchover", map[string]any{"target": to, "force": true}, nil)
				}
				if err != nil {
					return err
				}
			}
			deadline := time.Now().Add(wait)
			for time.Now().Before(deadline) {
				var st leader.StatusDoc
				if err := c.call(ctx, "GET", target.URL+leader.Prefix+"status", nil, &st); err == nil {
					if st.Role == failover.Primary && st.WritesAllowed && st.Epoch > oldEpoch {
						fmt.Fprintf(out, "%s is the primary in epoch %d (head %s), %.2fs after the request\n", to, st.Epoch, st.Head, time.Since(start).Seconds())
						return nil
					}
					if sw := st.Switchover; sw != nil && sw.Phase == "aborted" {
						return tandem.Errorf(tandem.EUNAVAILABLE, "switchover aborted: %s", sw.Error)
					}
				}
				if p != nil {
					var ps leader.StatusDoc
					if err := c.call(ctx, "GET", p.URL+leader.Prefix+"status", nil, &ps); err == nil && ps.Switchover != nil && ps.Switchover.Phase == "aborted" {
						return tandem.Errorf(tandem.EUNAVAILABLE, "switchover aborted on %s: %s", p.Name, ps.Switchover.Error)
					}
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
			return tandem.Errorf(tandem.EUNAVAILABLE, "%s did not become primary within %s", to, wait)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "workspace", os.Getenv("TANDEM_WORKSPACE"), "workspace file, workspace.yaml (TANDEM_WORKSPACE)")
	f.StringVar(&to, "to", "", "the region to make primary")
	f.BoolVar(&force, "force", false, "promote even if the primary is unreachable or the target is behind (may lose writes)")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation with --force")
	f.DurationVar(&wait, "wait", time.Minute, "how long to wait for the target to accept writes")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newHistoryCmd() *cobra.Command {
	var config string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List every change of primary: when the fault was detected, when writes resumed, what was at risk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newFailoverClient(config)
			if err != nil {
				return err
			}
			sts := c.statuses(ctx)
			order := []regionFailover{}
			if p := primaryOf(sts); p != nil {
				order = append(order, *p)
			}
			order = append(order, sts...)
			var doc struct {
				Region string                 `json:"region"`
				Epochs []sqlstore.EpochRecord `json:"epochs"`
			}
			var lastErr error
			for _, r := range order {
				if lastErr = c.call(ctx, "GET", r.URL+leader.Prefix+"history", nil, &doc); lastErr == nil {
					break
				}
			}
			if lastErr != nil {
				return lastErr
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EPOCH\tPRIMARY\tPREVIOUS\tREASON\tDETECTED\tWRITES RESUMED\tDETECTION->RESUMED\tAT RISK (entries)")
			for _, e := range doc.Epochs {
				det, took := "-", "-"
				if e.DetectedMS > 0 {
					det = time.UnixMilli(e.DetectedMS).UTC().Format("2006-01-02 15:04:05.000")
					took = fmt.Sprintf("%.2fs", float64(e.ResumedMS-e.DetectedMS)/1000)
				}
				prev := e.Previous
				if prev == "" {
					prev = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", e.Epoch, e.Primary, prev, e.Reason, det,
					time.UnixMilli(e.ResumedMS).UTC().Format("2006-01-02 15:04:05.000"), took, e.AtRisk)
			}
			tw.Flush()
			fmt.Fprintf(out, "(from region %s; divergent entries: tandem divergence list)\n", doc.Region)
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "workspace", os.Getenv("TANDEM_WORKSPACE"), "workspace file, workspace.yaml (TANDEM_WORKSPACE)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDivergenceCmd() *cobra.Command {
	var config string
	root := &cobra.Command{
		Use:   "divergence",
		Short: "Entries a region held that the new primary never received (kept when it rejoined)",
	}
	root.PersistentFlags().StringVar(&config, "workspace", os.Getenv("TANDEM_WORKSPACE"), "workspace file, workspace.yaml (TANDEM_WORKSPACE)")
	find := func(ctx context.Context, c *failoverClient, id string) (failover.Report, error) {
		var lastErr error = tandem.Errorf(tandem.ENOTFOUND, "no divergence report %q in any reachable region", id)
		for _, r := range c.ws.Regions {
			if !strings.HasPrefix(id, r.Name+"-") {
				continue
			}
			var rep failover.Report
			if err := c.call(ctx, "GET", r.URL+leader.Prefix+"divergence/"+id, nil, &rep); err != nil {
				lastErr = err
				continue
			}
			return rep, nil
		}
		return failover.Report{}, lastErr
	}
	// load finds one report for a verb that needs nothing else.
	load := func(ctx context.Context, id string) (failover.Report, error) {
		c, err := newFailoverClient(config)
		if err != nil {
			return failover.Report{}, err
		}
		return find(ctx, c, id)
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the divergence reports of every reachable region",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newFailoverClient(config)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			n := 0
			for _, r := range c.ws.Regions {
				var doc struct {
					Reports []failover.Report `json:"reports"`
				}
				if err := c.call(cmd.Context(), "GET", r.URL+leader.Prefix+"divergence", nil, &doc); err != nil {
					fmt.Fprintf(out, "%s: unreachable: %s\n", r.Name, tandem.ErrorMessage(err))
					continue
				}
				for _, rep := range doc.Reports {
					fmt.Fprintln(out, rep.Summary())
					n++
				}
			}
			if n == 0 {
				fmt.Fprintln(out, "no divergence reports")
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print one report's entries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, rep.Summary())
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POSITION\tTIME\tKIND\tOP\tKEY\tBLOBS")
			for _, e := range rep.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", e.Position, e.Time.UTC().Format(time.RFC3339Nano), e.Kind, e.Op, e.Key, len(e.Blobs))
			}
			return tw.Flush()
		},
	}
	var output string
	export := &cobra.Command{
		Use:   "export ID",
		Short: "Write one report as JSON (to --output or stdout)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b, err := rep.Marshal()
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return os.WriteFile(output, b, 0o600)
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "", "file to write")
	var seqs []string
	var fromFile string
	replay := &cobra.Command{
		Use:   "replay ID",
		Short: "Commit chosen divergent entries again on the current primary",
		Long: `Commit divergent entries again on the current primary, each as a new write of its recorded op
and payload (--seq picks entries; default all). An entry that conflicts with the primary's current
state is reported and skipped. Entries that reference artifact bytes are not replayed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newFailoverClient(config)
			if err != nil {
				return err
			}
			var rep failover.Report
			if fromFile != "" {
				b, err := os.ReadFile(fromFile)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "%v", err)
				}
				if rep, err = failover.ParseReport(b); err != nil {
					return err
				}
			} else if rep, err = find(ctx, c, args[0]); err != nil {
				return err
			}
			want := map[int64]bool{}
			for _, s := range seqs {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "--seq %q is not a number", s)
				}
				want[n] = true
			}
			var entries []tandem.Entry
			for _, e := range rep.Entries {
				if len(want) == 0 || want[e.Seq] {
					entries = append(entries, e)
				}
			}
			p := primaryOf(c.statuses(ctx))
			if p == nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary")
			}
			var res struct {
				Results []struct {
					Seq      int64           `json:"seq"`
					Op       string          `json:"op"`
					Position tandem.Position `json:"position"`
					Error    string          `json:"error"`
				} `json:"results"`
			}
			if err := c.call(ctx, "POST", p.URL+leader.Prefix+"replay", map[string]any{"entries": entries}, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range res.Results {
				if r.Error != "" {
					failed++
					fmt.Fprintf(out, "seq %d %s: not replayed: %s\n", r.Seq, r.Op, r.Error)
				} else {
					fmt.Fprintf(out, "seq %d %s: committed on %s at %s\n", r.Seq, r.Op, p.Name, r.Position)
				}
			}
			if failed > 0 {
				return tandem.Errorf(tandem.ECONFLICT, "%d of %d entries not replayed", failed, len(res.Results))
			}
			return nil
		},
	}
	replay.Flags().StringSliceVar(&seqs, "seq", nil, "sequence numbers to replay (default: all)")
	replay.Flags().StringVar(&fromFile, "file", "", "replay from an exported report file instead")
	root.AddCommand(list, show, export, replay)
	return root
}

// failoverStatuses reads the failover status of every region that runs
// failover (role, epoch, lease holder and expiry, write permission), for
// `tandem status --json`.
func failoverStatuses(ctx context.Context, regions []LocalRegion) []leader.StatusDoc {
	out := []leader.StatusDoc{}
	for _, r := range regions {
		var st leader.StatusDoc
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := fetchRegionJSON(cctx, r.URL+leader.Prefix+"status", &st)
		cancel()
		if err == nil {
			out = append(out, st)
		}
	}
	return out
}

// printFailoverStatus adds the failover view (role, epoch, lease holder and
// expiry, write permission) to `tandem status` for regions that run
// failover.
func printFailoverStatus(ctx context.Context, out io.Writer, regions []LocalRegion) {
	type row struct {
		name string
		st   leader.StatusDoc
	}
	var rows []row
	for _, r := range regions {
		var st leader.StatusDoc
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := fetchRegionJSON(cctx, r.URL+leader.Prefix+"status", &st)
		cancel()
		if err != nil {
			continue
		}
		rows = append(rows, row{r.Name, st})
	}
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].st.Region < rows[j].st.Region })
	fmt.Fprintln(out, "\nfailover:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tROLE\tEPOCH\tWRITES\tLEASE HOLDER\tLEASE EXPIRES\tMODE\tSYNC STANDBY\tNOTE")
	for _, r := range rows {
		st := r.st
		exp := "expired"
		if st.LeaseExpires != nil {
			exp = fmt.Sprintf("%s (in %.1fs)", st.LeaseExpires.Local().Format("15:04:05.000"), time.Until(*st.LeaseExpires).Seconds())
		}
		holder := st.Lease.Holder
		if holder == "" {
			holder = "-"
		}
		// The sync standby named in the lease (durability: sync): the
		// region whose apply every acknowledged write waits for, and the
		// only one that may take the lease over automatically.
		standby := st.Lease.Sync
		if standby == "" {
			standby = "-"
		}
		note := ""
		if !st.Witness {
			note = "no witness: only manual failover"
		}
		if sw := st.Switchover; sw != nil {
			note += fmt.Sprintf(" switchover to %s: %s %s", sw.Target, sw.Phase, sw.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s@%d\t%s\t%s\t%s\t%s\n", st.Region, st.Role, st.Epoch, st.WritesAllowed, holder, st.Lease.Epoch, exp, st.Mode, standby, strings.TrimSpace(note))
	}
	tw.Flush()
}
