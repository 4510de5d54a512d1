package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/serving"
	"go.yaml.in/yaml/v3"
)

// addEndpointCommands adds tandem online-endpoint and tandem
// online-deployment, az ml's verbs for managed online endpoints.
func addEndpointCommands(root *cobra.Command) {
	root.AddCommand(newOnlineEndpointCmd(), newOnlineDeploymentCmd())
}

func groupCmd(use, short, long string) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long}
	pf := cmd.PersistentFlags()
	pf.String("config", "", "workspace config file (default: --config, TANDEM_CONFIG, .tandem/config.json here or above, ~/.tandem/config.json)")
	pf.StringP("output", "o", "table", "output format: table, json or yaml")
	cmd.SetFlagErrorFunc(usageError)
	return cmd
}

func newOnlineEndpointCmd() *cobra.Command {
	cmd := groupCmd("online-endpoint", "Manage online endpoints: scoring URLs served in every region of their placement (hot/hot)",
		`Manage online endpoints. An endpoint is a stable scoring URL (POST /endpoints/NAME/score on every region
it is placed in) with two keys, splitting live traffic between its deployments by percent and optionally
mirroring a share to a shadow deployment. Definitions are Azure ML CLI v2 YAML (managedOnlineEndpoint),
plus tandem's placement: regions: all (the default) or a list of region names.`)
	cmd.AddCommand(newEndpointPutCmd(true), newEndpointPutCmd(false), newEndpointShowCmd(), newEndpointListCmd(),
		newEndpointDeleteCmd(), newEndpointCredsCmd(), newEndpointRegenCmd(), newEndpointInvokeCmd())
	return cmd
}

func readYAMLFile(file string) ([]byte, error) {
	if file == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "--file is required")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "read %s: %v", file, err)
	}
	return b, nil
}

// parsePercents reads "blue=90 green=10" (az ml's --traffic form; commas
// also separate).
func parsePercents(flag, s string) (map[string]int, error) {
	out := map[string]int{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		k, v, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(v)
		if !ok || k == "" || err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "--%s %q: want DEPLOYMENT=PERCENT ...", flag, f)
		}
		out[k] = n
	}
	return out, nil
}

func newEndpointPutCmd(create bool) *cobra.Command {
	var file, name, traffic, mirror string
	use, short, mode := "update", "Update an online endpoint from a YAML file, or change its traffic", "update"
	ex := `  tandem online-endpoint update -f endpoint.yml
  tandem online-endpoint update -n iris-ep --traffic "blue=90 green=10"
  tandem online-endpoint update -n iris-ep --mirror-traffic "green=10"`
	if create {
		use, short, mode = "create", "Create an online endpoint from a YAML file (or just a name: key auth, every region)", "create"
		ex = `  tandem online-endpoint create -f endpoint.yml
  tandem online-endpoint create -n iris-ep`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: ex, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var ep *tandem.OnlineEndpoint
			switch {
			case file != "":
				b, err := readYAMLFile(file)
				if err != nil {
					return err
				}
				if ep, err = assetyaml.LoadEndpoint(file, b); err != nil {
					return err
				}
				if name != "" {
					ep.Name = name
				}
			case name == "":
				return tandem.Errorf(tandem.EINVALID, "give --file or --name")
			case create:
				ep = &tandem.OnlineEndpoint{Name: name}
			default:
				cur, err := c.GetEndpoint(ctx, name)
				if err != nil {
					return err
				}
				ep = &cur.OnlineEndpoint
			}
			if cmd.Flags().Changed("traffic") {
				if ep.Traffic, err = parsePercents("traffic", traffic); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("mirror-traffic") {
				if ep.MirrorTraffic, err = parsePercents("mirror-traffic", mirror); err != nil {
					return err
				}
			}
			if err := ep.Normalize(); err != nil {
				return err
			}
			out, err := c.PutEndpoint(ctx, *ep, mode)
			if err != nil {
				return err
			}
			return printEndpoints(cmd, out, false)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "online endpoint YAML (Azure ML CLI v2)")
	f.StringVarP(&name, "name", "n", "", "endpoint name (overrides the file's)")
	f.StringVar(&traffic, "traffic", "", `live traffic split, "DEPLOYMENT=PERCENT ..." (sums to 100, or 0)`)
	f.StringVar(&mirror, "mirror-traffic", "", `mirrored traffic, "DEPLOYMENT=PERCENT" (at most 50)`)
	return cmd
}

func nameFlag(cmd *cobra.Command, p *string, what string) {
	cmd.Flags().StringVarP(p, "name", "n", "", what)
	cmd.MarkFlagRequired("name")
}

func newEndpointShowCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "show", Short: "Show an online endpoint (its traffic, placement and this region's scoring URI; never its keys)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ep, err := c.GetEndpoint(cmd.Context(), name)
			if err != nil {
				return err
			}
			return printEndpoints(cmd, ep, false)
		},
	}
	nameFlag(cmd, &name, "endpoint name")
	return cmd
}

func newEndpointListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List online endpoints", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			eps, err := c.ListEndpoints(cmd.Context())
			if err != nil {
				return err
			}
			return printEndpoints(cmd, eps, true)
		},
	}
}

func newEndpointDeleteCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "delete", Short: "Delete an online endpoint and every deployment of it (their processes stop in every region)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteEndpoint(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted online endpoint %s\n", name)
			return nil
		},
	}
	nameFlag(cmd, &name, "endpoint name")
	return cmd
}

func newEndpointCredsCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use: "get-credentials", Short: "Print an endpoint's two keys (key auth_mode): the only place they are shown", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			keys, err := c.EndpointKeys(cmd.Context(), name)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if format == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "primaryKey    %s\nsecondaryKey  %s\n", keys.PrimaryKey, keys.SecondaryKey)
				return nil
			}
			return printAny(cmd, keys, nil)
		},
	}
	nameFlag(cmd, &name, "endpoint name")
	return cmd
}

func newEndpointRegenCmd() *cobra.Command {
	var name, keyType string
	cmd := &cobra.Command{
		Use: "regenerate-keys", Short: "Replace an endpoint's primary or secondary key (the other keeps working meanwhile)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if err := c.RegenerateEndpointKey(cmd.Context(), name, keyType); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "regenerated the %s key of online endpoint %s (tandem online-endpoint get-credentials -n %s)\n", strings.ToLower(keyType), name, name)
			return nil
		},
	}
	nameFlag(cmd, &name, "endpoint name")
	cmd.Flags().StringVar(&keyType, "key-type", "primary", "primary or secondary")
	return cmd
}

func newEndpointInvokeCmd() *cobra.Command {
	var name, requestFile, deployment string
	cmd := &cobra.Command{
		Use:   "invoke",
		Short: "Score a request file through an endpoint (its keys fetched first in key mode) and print the answer",
		Example: `  tandem online-endpoint invoke -n iris-ep --request-file sample.json
  tandem online-endpoint invoke -n iris-ep --request-file sample.json --deployment-name green`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := os.ReadFile(requestFile)
			if err != nil {
				return tandem.Errorf(tandem.EINVALID, "--request-file: %v", err)
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ep, err := c.GetEndpoint(ctx, name)
			if err != nil {
				return err
			}
			key := ""
			if ep.AuthMode == tandem.EndpointAuthKey {
				keys, err := c.EndpointKeys(ctx, name)
				if err != nil {
					return err
				}
				key = keys.PrimaryKey
			}
			res, err := c.Score(ctx, name, key, deployment, "application/json", body)
			if err != nil {
				return err
			}
			if res.Status/100 != 2 {
				return scoreError(res)
			}
			out := cmd.OutOrStdout()
			out.Write(bytes.TrimRight(res.Body, "\n"))
			fmt.Fprintln(out)
			return nil
		},
	}
	nameFlag(cmd, &name, "endpoint name")
	cmd.Flags().StringVarP(&requestFile, "request-file", "r", "", "JSON body (MLflow's dataframe_split, dataframe_records, instances or inputs)")
	cmd.MarkFlagRequired("request-file")
	cmd.Flags().StringVarP(&deployment, "deployment-name", "d", "", "score with this deployment, bypassing the traffic split")
	return cmd
}

// scoreError turns a refused scoring request into an error with the exit
// code of its class.
func scoreError(res *client.ScoreResult) error {
	code := tandem.EINTERNAL
	switch {
	case res.Status == 400 || res.Status == 413:
		code = tandem.EINVALID
	case res.Status == 401:
		code = tandem.EUNAUTHORIZED
	case res.Status == 403:
		code = tandem.EFORBIDDEN
	case res.Status == 404:
		code = tandem.ENOTFOUND
	case res.Status == 408 || res.Status == 429 || res.Status == 503:
		code = tandem.EUNAVAILABLE
	}
	msg := strings.TrimSpace(string(res.Body))
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(res.Body, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	return tandem.Errorf(code, "scoring answered %d: %s", res.Status, msg)
}

func newOnlineDeploymentCmd() *cobra.Command {
	cmd := groupCmd("online-deployment", "Manage online deployments: a registered model served by scoring processes behind an endpoint",
		`Manage online deployments. A deployment serves one registered MLflow model version (azureml:NAME:VERSION,
models:/NAME/VERSION, or models:/NAME@ALIAS resolved when written) with instance_count stock MLflow scoring
processes in every region of its endpoint's placement; tandem restarts crashed ones and rolls a changed
deployment by starting the new processes before stopping the old. Definitions are Azure ML CLI v2 YAML
(managedOnlineDeployment).`)
	cmd.AddCommand(newDeploymentPutCmd(true), newDeploymentPutCmd(false), newDeploymentShowCmd(), newDeploymentListCmd(),
		newDeploymentDeleteCmd(), newDeploymentLogsCmd())
	return cmd
}

func endpointFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "endpoint-name", "e", "", "endpoint name")
	cmd.MarkFlagRequired("endpoint-name")
}

func newDeploymentPutCmd(create bool) *cobra.Command {
	var file, name, endpoint string
	var allTraffic bool
	var instances int
	use, short, mode := "update", "Update a deployment from a YAML file, or change its instance count", "update"
	ex := `  tandem online-deployment update -f blue.yml
  tandem online-deployment update -n blue -e iris-ep --instance-count 3`
	if create {
		use, short, mode = "create", "Create a deployment from a YAML file", "create"
		ex = `  tandem online-deployment create -f blue.yml --all-traffic`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: ex, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var d *tandem.OnlineDeployment
			switch {
			case file != "":
				b, err := readYAMLFile(file)
				if err != nil {
					return err
				}
				if d, err = assetyaml.LoadDeployment(file, b); err != nil {
					return err
				}
				if name != "" {
					d.Name = name
				}
				if endpoint != "" {
					d.Endpoint = endpoint
				}
			case create || name == "" || endpoint == "":
				return tandem.Errorf(tandem.EINVALID, "give --file (or, to update, --name and --endpoint-name)")
			default:
				if d, err = c.GetDeployment(ctx, endpoint, name); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("instance-count") {
				d.InstanceCount = instances
			}
			if err := d.Normalize(); err != nil {
				return err
			}
			out, err := c.PutDeployment(ctx, *d, mode)
			if err != nil {
				return err
			}
			if allTraffic {
				ep, err := c.GetEndpoint(ctx, d.Endpoint)
				if err != nil {
					return err
				}
				ep.Traffic = map[string]int{d.Name: 100}
				delete(ep.MirrorTraffic, d.Name)
				if _, err := c.PutEndpoint(ctx, ep.OnlineEndpoint, "update"); err != nil {
					return err
				}
			}
			return printDeployments(cmd, out, false)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "online deployment YAML (Azure ML CLI v2)")
	f.StringVarP(&name, "name", "n", "", "deployment name (overrides the file's)")
	f.StringVarP(&endpoint, "endpoint-name", "e", "", "endpoint name (overrides the file's)")
	f.IntVar(&instances, "instance-count", 0, "scoring processes per region")
	if create {
		f.BoolVar(&allTraffic, "all-traffic", false, "then send all of the endpoint's live traffic to this deployment")
	}
	return cmd
}

func newDeploymentShowCmd() *cobra.Command {
	var name, endpoint string
	cmd := &cobra.Command{
		Use: "show", Short: "Show a deployment, and how the region that answers runs it", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			d, err := c.GetDeployment(cmd.Context(), endpoint, name)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if format != "table" {
				return printDeployments(cmd, d, false)
			}
			if err := printDeployments(cmd, d, false); err != nil {
				return err
			}
			st, err := c.DeploymentStatus(cmd.Context(), endpoint, name)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Status        %s\n", tandem.ErrorMessage(err))
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "Region\t%s: %d of %d ready\n", st.Region, st.Ready, st.Wanted)
			if st.Error != "" {
				fmt.Fprintf(tw, "Error\t%s\n", st.Error)
			}
			for _, in := range st.Instances {
				fmt.Fprintf(tw, "Instance %d\t%s ready=%t restarts=%d in_flight=%d %s\n", in.ID, in.Model, in.Ready, in.Restarts, in.InFlight, in.Error)
			}
			return tw.Flush()
		},
	}
	nameFlag(cmd, &name, "deployment name")
	endpointFlag(cmd, &endpoint)
	return cmd
}

func newDeploymentListCmd() *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use: "list", Short: "List an endpoint's deployments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ds, err := c.ListDeployments(cmd.Context(), endpoint)
			if err != nil {
				return err
			}
			return printDeployments(cmd, ds, true)
		},
	}
	endpointFlag(cmd, &endpoint)
	return cmd
}

func newDeploymentDeleteCmd() *cobra.Command {
	var name, endpoint string
	cmd := &cobra.Command{
		Use: "delete", Short: "Delete a deployment (set its traffic to 0 first)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteDeployment(cmd.Context(), endpoint, name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted deployment %s of online endpoint %s\n", name, endpoint)
			return nil
		},
	}
	nameFlag(cmd, &name, "deployment name")
	endpointFlag(cmd, &endpoint)
	return cmd
}

func newDeploymentLogsCmd() *cobra.Command {
	var name, endpoint string
	var lines int
	cmd := &cobra.Command{
		Use: "get-logs", Short: "Print the last lines of a deployment's scoring processes in the region that answers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			l, err := c.DeploymentLogs(cmd.Context(), endpoint, name, lines)
			if err != nil {
				return err
			}
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if format != "table" {
				return printAny(cmd, l, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# region %s\n%s", l.Region, l.Logs)
			return nil
		},
	}
	nameFlag(cmd, &name, "deployment name")
	endpointFlag(cmd, &endpoint)
	cmd.Flags().IntVarP(&lines, "lines", "l", 100, "lines per instance")
	return cmd
}

// printAny prints v as JSON or YAML (the JSON field names, integers kept),
// or with table when the format is table.
func printAny(cmd *cobra.Command, v any, table func(io.Writer) error) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		return writeIndentedJSON(out, v)
	case "yaml":
		b, _ := json.Marshal(v)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var g any
		if err := dec.Decode(&g); err != nil {
			return err
		}
		y, err := yaml.Marshal(intNumbers(g))
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	if table == nil {
		return writeIndentedJSON(out, v)
	}
	return table(out)
}

func intNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = intNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = intNumbers(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func percents(m map[string]int) string {
	var parts []string
	for _, k := range tandem.SortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func printEndpoints(cmd *cobra.Command, v any, list bool) error {
	return printAny(cmd, v, func(out io.Writer) error {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		if list {
			fmt.Fprintln(tw, "NAME\tAUTH\tTRAFFIC\tMIRROR\tREGIONS\tSCORING URI")
			eps, _ := v.([]servingEndpoint)
			for _, ep := range eps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ep.Name, ep.AuthMode, percents(ep.Traffic), percents(ep.MirrorTraffic), regionsText(ep.Regions), ep.ScoringURI)
			}
			return tw.Flush()
		}
		ep := v.(*servingEndpoint)
		row := func(k, val string) {
			if val != "" {
				fmt.Fprintf(tw, "%s\t%s\n", k, val)
			}
		}
		row("Name", ep.Name)
		row("Auth mode", ep.AuthMode)
		row("Traffic", percents(ep.Traffic))
		row("Mirror traffic", percents(ep.MirrorTraffic))
		row("Regions", regionsText(ep.Regions))
		row("Scoring URI", ep.ScoringURI)
		row("Description", ep.Description)
		for _, k := range tandem.SortedKeys(ep.Tags) {
			row("Tag "+k, ep.Tags[k])
		}
		row("Created", time.UnixMilli(ep.CreatedMS).UTC().Format(time.RFC3339))
		row("Updated", time.UnixMilli(ep.UpdatedMS).UTC().Format(time.RFC3339))
		return tw.Flush()
	})
}

type servingEndpoint = serving.EndpointResponse

func regionsText(r []string) string {
	if len(r) == 0 {
		return tandem.AllRegions
	}
	return strings.Join(r, ",")
}

func printDeployments(cmd *cobra.Command, v any, list bool) error {
	return printAny(cmd, v, func(out io.Writer) error {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		if list {
			fmt.Fprintln(tw, "NAME\tENDPOINT\tMODEL\tVERSION\tINSTANCES\tUPDATED")
			for _, d := range v.([]*tandem.OnlineDeployment) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s:%d\t%d\t%s\n", d.Name, d.Endpoint, d.Model, d.ModelName, d.ModelVersion, d.InstanceCount,
					time.UnixMilli(d.UpdatedMS).UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		}
		d := v.(*tandem.OnlineDeployment)
		rs := d.RequestSettings
		fmt.Fprintf(tw, "Name\t%s\nEndpoint\t%s\nModel\t%s (%s version %d)\nInstance count\t%d\n", d.Name, d.Endpoint, d.Model, d.ModelName, d.ModelVersion, d.InstanceCount)
		fmt.Fprintf(tw, "Request settings\ttimeout %d ms, %d concurrent per instance\n", rs.RequestTimeoutMS, rs.MaxConcurrentRequestsPerInstance)
		for _, k := range tandem.SortedKeys(d.EnvironmentVariables) {
			fmt.Fprintf(tw, "Env %s\t%s\n", k, d.EnvironmentVariables[k])
		}
		if dc := d.DataCollector; dc != nil {
			var on []string
			for _, c := range []string{tandem.CollectionModelInputs, tandem.CollectionModelOutputs} {
				if dc.Collects(c) {
					on = append(on, c)
				}
			}
			fmt.Fprintf(tw, "Request logs	sampling rate %g, collecting %s, in run %q of experiment %s%s\n", dc.Rate(),
				strings.Join(append(on, "status and latency"), ", "), d.Name, serving.RequestLogExperimentPrefix, d.Endpoint)
		}
		fmt.Fprintf(tw, "Updated\t%s\n", time.UnixMilli(d.UpdatedMS).UTC().Format(time.RFC3339))
		return tw.Flush()
	})
}
