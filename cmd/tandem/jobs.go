package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/schedule"
	"go.yaml.in/yaml/v3"
)

// addJobCommands adds tandem job and tandem compute, mirroring az ml job
// and az ml compute.
func addJobCommands(root *cobra.Command) {
	root.AddCommand(newJobCmd(), newComputeCmd())
}

func clientFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("config", "", "workspace config file (default: --config, TANDEM_CONFIG, .tandem/config.json here or above, ~/.tandem/config.json)")
	pf.StringP("output", "o", "table", "output format: table, json or yaml")
	cmd.SetFlagErrorFunc(usageError)
}

// printOut prints v as JSON, YAML (with the JSON field names) or the
// table table returns.
func printOut(cmd *cobra.Command, v any, table func() [][]string) error {
	o, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch o {
	case "json":
		return writeIndentedJSON(w, v)
	case "yaml":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var m any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		return yaml.NewEncoder(w).Encode(m)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range table() {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit and follow jobs: command and pipeline jobs run on the region's compute, each an MLflow run",
		Long: `Jobs are Azure ML CLI v2 job files (command or pipeline). The primary region runs them on its
compute; every attempt is an MLflow run's process, given MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and a
token of its own, so a script using the stock mlflow client logs into its run unchanged. After a
failover the new primary resubmits interrupted jobs by their resubmit policy.`,
	}
	clientFlags(cmd)
	show := jobNameCmd("show", "Show a job with its attempts", func(cmd *cobra.Command, c *client.Client, name string) error {
		j, err := c.Job(cmd.Context(), name)
		if err != nil {
			return err
		}
		return printJob(cmd, j)
	})
	stream := jobNameCmd("stream", "Follow a job's output until it ends (a non-zero exit when it did not complete)", func(cmd *cobra.Command, c *client.Client, name string) error {
		return streamJob(cmd.Context(), c, name, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
	cancel := jobNameCmd("cancel", "Cancel a job (its processes are stopped)", func(cmd *cobra.Command, c *client.Client, name string) error {
		j, err := c.CancelJob(cmd.Context(), name)
		if err != nil {
			return err
		}
		return printJob(cmd, j)
	})
	archive := jobNameCmd("archive", "Archive a finished job (hidden from list)", func(cmd *cobra.Command, c *client.Client, name string) error {
		j, err := c.ArchiveJob(cmd.Context(), name)
		if err != nil {
			return err
		}
		return printJob(cmd, j)
	})
	var dir string
	download := jobNameCmd("download", "Download a job's outputs and logs (its run's artifacts) into a folder", func(cmd *cobra.Command, c *client.Client, name string) error {
		if dir == "" {
			dir = name
		}
		n, err := c.DownloadJobOutputs(cmd.Context(), name, dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "downloaded %d files of job %s to %s\n", n, name, dir)
		return nil
	})
	download.Flags().StringVar(&dir, "download-path", "", "folder to write into (default: the job's name)")
	cmd.AddCommand(newJobCreateCmd(), newJobListCmd(), show, stream, cancel, archive, download)
	return cmd
}

// jobNameCmd is a verb on one job named by --name (required).
func jobNameCmd(use, short string, run func(cmd *cobra.Command, c *client.Client, name string) error) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return tandem.Errorf(tandem.EINVALID, "--name is required")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			return run(cmd, c, name)
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "job name (required)")
	return cmd
}

func newJobCreateCmd() *cobra.Command {
	var file, name string
	var sets []string
	var stream bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Submit a job from a YAML file",
		Example: `  tandem job create -f job.yml
  tandem job create -f job.yml --set inputs.learning_rate=0.1 --set compute=azureml:cpu --stream`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return tandem.Errorf(tandem.EINVALID, "--file is required")
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return tandem.Errorf(tandem.ENOTFOUND, "read %s: %v", file, err)
			}
			spec, err := assetyaml.LoadJob(file, b, sets)
			if err != nil {
				return err
			}
			if name != "" {
				spec.Name = name
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			j, err := c.SubmitJob(cmd.Context(), spec, filepath.Dir(file))
			if err != nil {
				return err
			}
			if stream {
				fmt.Fprintf(cmd.ErrOrStderr(), "job %s submitted (run %s); streaming its output\n", j.Name, j.RunID)
				return streamJob(cmd.Context(), c, j.Name, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return printJob(cmd, j)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "job YAML file (required)")
	cmd.Flags().StringVarP(&name, "name", "n", "", "job name, overriding the file's (default: a generated one)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a field of the file: --set inputs.lr=0.1 (repeatable)")
	cmd.Flags().BoolVarP(&stream, "stream", "s", false, "follow the job's output until it ends")
	return cmd
}

func newJobListCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			list, err := c.ListJobs(cmd.Context(), all)
			if err != nil {
				return err
			}
			return printOut(cmd, list, func() [][]string {
				out := [][]string{{"NAME", "TYPE", "STATUS", "ATTEMPTS", "COMPUTE", "CREATED", "MESSAGE"}}
				for _, j := range list {
					out = append(out, []string{j.Name, j.Spec.Type, string(j.Status), strconv.Itoa(len(j.Attempts)), computeName(j),
						time.UnixMilli(j.CreatedMS).UTC().Format(time.RFC3339), j.Message})
				}
				return out
			})
		},
	}
	cmd.Flags().BoolVar(&all, "include-archived", false, "list archived jobs too")
	return cmd
}

func computeName(j *tandem.Job) string {
	if a := lastAttempt(j); a != nil {
		return a.Compute
	}
	return schedule.ComputeOf(j, "")
}

func lastAttempt(j *tandem.Job) *tandem.JobAttempt {
	if len(j.Attempts) == 0 {
		return nil
	}
	return j.Attempts[len(j.Attempts)-1]
}

func printJob(cmd *cobra.Command, j *tandem.Job) error {
	return printOut(cmd, j, func() [][]string {
		out := [][]string{
			{"name", j.Name}, {"type", j.Spec.Type}, {"status", string(j.Status)}, {"experiment", j.ExperimentID}, {"run", j.RunID},
		}
		if j.Message != "" {
			out = append(out, []string{"message", j.Message})
		}
		out = append(out, []string{""}, []string{"ATTEMPT", "STEP", "REGION", "EPOCH", "COMPUTE", "STATUS", "STARTED", "REASON"})
		for _, a := range j.Attempts {
			out = append(out, []string{strconv.Itoa(a.N), a.Step, a.Region, strconv.FormatInt(a.Epoch, 10), a.Compute, string(a.Status),
				time.UnixMilli(a.StartMS).UTC().Format(time.RFC3339), a.Reason})
		}
		return out
	})
}

// streamJob prints the newest attempt's output as it comes, and each
// status change on errw, until the job ends.
func streamJob(ctx context.Context, c *client.Client, name string, out, errw io.Writer) error {
	var offset int64
	attempt, lastStatus := 0, tandem.JobStatus("")
	for {
		j, err := c.Job(ctx, name)
		if err != nil {
			return err
		}
		if a := lastAttempt(j); a != nil && a.N != attempt {
			if attempt != 0 {
				fmt.Fprintf(errw, "--- attempt %d on %s (%s) ---\n", a.N, a.Region, a.Compute)
			}
			attempt, offset = a.N, 0
		}
		if j.Status != lastStatus {
			fmt.Fprintf(errw, "status: %s %s\n", j.Status, j.Message)
			lastStatus = j.Status
		}
		logs, err := c.JobLogs(ctx, name, offset)
		if err != nil {
			return err
		}
		if logs.Data != "" {
			io.WriteString(out, logs.Data)
		}
		offset = logs.Offset
		if j.Status.Terminal() && logs.Data == "" {
			if j.Status != tandem.JobCompleted {
				return tandem.Errorf(tandem.EINVALIDSTATE, "job %s %s: %s", name, j.Status, j.Message)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func newComputeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compute",
		Short: "Manage the compute targets of a region (local processes, a Ray cluster) and see their queues",
		Long: `Each region owns its compute: a job asks for a compute by name and the primary runs it on its own
compute of that name. Every region has "local" (processes on its host) unless declared otherwise.
--region picks the region (by name or URL; default: the endpoint the client talks to).`,
	}
	clientFlags(cmd)
	cmd.PersistentFlags().String("region", "", "the region whose compute to manage (name or URL)")
	var file, name, typ, address, size string
	var max int
	create := &cobra.Command{
		Use:   "create",
		Short: "Create or change a compute target from a YAML file or flags",
		Example: `  tandem compute create --name cpu --type local --max-instances 4
  tandem compute create --name ray --type ray --address http://127.0.0.1:8265 --max-instances 8 --region westus
  tandem compute create -f compute.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t := &tandem.ComputeTarget{}
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return tandem.Errorf(tandem.ENOTFOUND, "read %s: %v", file, err)
				}
				if t, err = assetyaml.LoadCompute(file, b); err != nil {
					return err
				}
			}
			if name != "" {
				t.Name = name
			}
			if typ != "" {
				t.Type = tandem.ComputeType(typ)
			}
			if address != "" {
				t.Address = address
			}
			if size != "" {
				t.Size = size
			}
			if max > 0 {
				t.MaxInstances = max
			}
			if err := t.Validate(); err != nil {
				return err
			}
			c, err := regionClient(cmd)
			if err != nil {
				return err
			}
			out, err := c.PutCompute(cmd.Context(), t)
			if err != nil {
				return err
			}
			return printOut(cmd, out, func() [][]string { return computeRows([]*api.ComputeInfo{{ComputeTarget: out}}) })
		},
	}
	create.Flags().StringVarP(&file, "file", "f", "", "compute YAML (name, type, max_instances, address, size)")
	create.Flags().StringVarP(&name, "name", "n", "", "name")
	create.Flags().StringVar(&typ, "type", "", "local or ray")
	create.Flags().StringVar(&address, "address", "", "ray: the cluster's dashboard URL (job submission API)")
	create.Flags().StringVar(&size, "size", "", "size label (informational)")
	create.Flags().IntVar(&max, "max-instances", 0, "quota: instances running at once")
	var showName string
	show := &cobra.Command{
		Use:   "show",
		Short: "Show a compute target: its quota, what runs on it and what waits, and why",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := regionClient(cmd)
			if err != nil {
				return err
			}
			info, err := c.GetCompute(cmd.Context(), showName)
			if err != nil {
				return err
			}
			return printOut(cmd, info, func() [][]string {
				rows := computeRows([]*api.ComputeInfo{info})
				if info.WorkspaceMaxInstances > 0 {
					rows = append(rows, []string{""}, []string{"WORKSPACE QUOTA", "IN_USE"},
						[]string{strconv.Itoa(info.WorkspaceMaxInstances), strconv.Itoa(info.WorkspaceInUse)})
				}
				if len(info.Queued) > 0 {
					rows = append(rows, []string{""}, []string{"QUEUED JOB", "WHY"})
					for _, n := range tandem.SortedKeys(info.Queued) {
						rows = append(rows, []string{n, info.Queued[n]})
					}
				}
				return rows
			})
		},
	}
	show.Flags().StringVarP(&showName, "name", "n", "", "compute name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the region's compute targets with their use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := regionClient(cmd)
			if err != nil {
				return err
			}
			cs, err := c.ListCompute(cmd.Context())
			if err != nil {
				return err
			}
			return printOut(cmd, cs, func() [][]string { return computeRows(cs) })
		},
	}
	var delName string
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete a compute target of the region (refused while it runs a job)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := regionClient(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteCompute(cmd.Context(), delName); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted compute %s\n", delName)
			return nil
		},
	}
	del.Flags().StringVarP(&delName, "name", "n", "", "compute name")
	cmd.AddCommand(create, show, list, del)
	return cmd
}

func computeRows(cs []*api.ComputeInfo) [][]string {
	out := [][]string{{"NAME", "TYPE", "MAX_INSTANCES", "IN_USE", "QUEUED", "ADDRESS"}}
	for _, c := range cs {
		out = append(out, []string{c.Name, string(c.Type), strconv.Itoa(c.MaxInstances), strconv.Itoa(c.InUse), strconv.Itoa(len(c.Queued)), c.Address})
	}
	return out
}

// regionClient is the client for --region: the region of that name among
// the config's endpoints (asked for their names), or that URL.
func regionClient(cmd *cobra.Command) (*client.Client, error) {
	c, err := clientFor(cmd)
	if err != nil {
		return nil, err
	}
	want, _ := cmd.Flags().GetString("region")
	if want == "" {
		return c, nil
	}
	cfg := c.Config()
	if strings.HasPrefix(want, "http://") || strings.HasPrefix(want, "https://") {
		cfg.Endpoints = []string{want}
		return client.New(cfg)
	}
	regs, err := client.RegionsFromConfig(&cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, st := range regs.Statuses(cmd.Context()) {
		if st.Replication != nil && st.Replication.Region == want {
			cfg.Endpoints = []string{st.URL}
			return client.New(cfg)
		}
		if st.Replication != nil {
			names = append(names, st.Replication.Region)
		}
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "no region %q among the endpoints (found: %s)", want, strings.Join(names, ", "))
}

// printCapacity warns when a secondary's compute cannot take over the
// work running and queued on the primary's (schedule.AbsorbWarnings).
func printCapacity(ctx context.Context, out io.Writer, regions *client.Regions, sts []client.RegionStatus) {
	primary := ""
	loads := map[string][]schedule.ComputeLoad{}
	for _, st := range sts {
		if st.Replication == nil {
			continue
		}
		if st.Replication.Role.Role == tandem.RolePrimary {
			primary = st.Replication.Region
		}
		var list api.ComputeList
		if err := regions.Call(ctx, "GET", st.URL+"/api/tandem/v1/compute", nil, &list); err != nil {
			continue
		}
		for _, c := range list.Compute {
			loads[st.Replication.Region] = append(loads[st.Replication.Region], schedule.ComputeLoad{Target: *c.ComputeTarget, InUse: c.InUse, Queued: len(c.Queued)})
		}
	}
	if ws := schedule.AbsorbWarnings(primary, loads); len(ws) > 0 {
		fmt.Fprintf(out, "\njobs (what a failover would resubmit):\n  %s\n", strings.Join(ws, "\n  "))
	}
}
