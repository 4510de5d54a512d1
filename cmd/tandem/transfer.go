package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowdest"
	"github.com/tandemml/tandem/transfer/mlflowsource"
)

func addTransferCommands(root *cobra.Command) {
	root.AddCommand(newExportCmd(), newImportCmd())
}

// workspaceURL is the workspace the transfer verbs talk to: --url, then
// TANDEM_URL, then the workspace config file found as for every CLI verb
// (--config, TANDEM_CONFIG, .tandem/config.json upwards, ~/.tandem), then
// MLFLOW_TRACKING_URI, then the local default.
func workspaceURL(cmd *cobra.Command) string {
	if u, _ := cmd.Flags().GetString("url"); u != "" {
		return strings.TrimRight(u, "/")
	}
	if v := os.Getenv("TANDEM_URL"); v != "" {
		return strings.TrimRight(v, "/")
	}
	explicit, _ := cmd.Flags().GetString("config")
	if c, err := client.FromConfigPath(cmd.Context(), explicit); err == nil {
		return c.TrackingURI()
	}
	if v := os.Getenv("MLFLOW_TRACKING_URI"); strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return strings.TrimRight(v, "/")
	}
	return "http://127.0.0.1:5000"
}

// workspaceClient is the client of the workspace at workspaceURL, with
// the HTTP client and token of the config file found as for every CLI
// verb (client.ForURL).
func workspaceClient(cmd *cobra.Command) (*client.Client, error) {
	var cfg *client.Config
	explicit, _ := cmd.Flags().GetString("config")
	if c, err := client.FromConfigPath(cmd.Context(), explicit); err == nil {
		cc := c.Config()
		cfg = &cc
	}
	return client.ForURL(workspaceURL(cmd), cfg)
}

// progressLine prints progress to stderr at most once a second, on one
// line when stderr is a terminal.
type progressLine struct {
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(cmd *cobra.Command) *progressLine {
	tty := false
	if f, ok := cmd.ErrOrStderr().(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressLine{w: cmd.ErrOrStderr(), tty: tty}
}

func (p *progressLine) show(force bool, format string, args ...any) {
	now := time.Now()
	if !force && now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		p.shown = true
	} else {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *progressLine) done() {
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

func newExportCmd() *cobra.Command {
	var sel transfer.Selection
	var out, toMLflow string
	assetFlags := map[tandem.AssetKind]*[]string{} // --environment NAME[:VERSION] ...
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export experiments, runs, models and assets to a bundle (a folder or a .tar/.tar.gz file)",
		Long: `Export from the workspace: experiments with their runs (params, every metric point, tags, dataset
inputs, artifacts), registered models, assets (environments, data, datastores, components, pipelines,
with their files; datastore credentials are never exported), or everything (--all), to a
self-describing bundle that 'tandem import' reads.
-o PATH ending in .tar, .tar.gz or .tgz writes one archive file; any other PATH is a folder.

With --to-mlflow URL the bundle is written into a stock MLflow tracking server instead, and what MLflow
cannot keep (run ids, creation times, ...) is listed.`,
		Example: `  tandem export --all -o workspace.tgz
  tandem export --experiment 3 --experiment churn -o churn-bundle/
  tandem export --environment train-env:2 --data raw --component trainer -o assets.tgz
  tandem export --all --to-mlflow http://127.0.0.1:5001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (out == "") == (toMLflow == "") {
				return tandem.Errorf(tandem.EINVALID, "give exactly one of -o PATH and --to-mlflow URL")
			}
			for _, k := range []tandem.AssetKind{tandem.AssetDatastore, tandem.AssetEnvironment, tandem.AssetData, tandem.AssetComponent, tandem.AssetPipeline} {
				for _, v := range *assetFlags[k] {
					ref, err := parseAssetFlag(k, v)
					if err != nil {
						return err
					}
					sel.Assets = append(sel.Assets, ref)
				}
			}
			if err := sel.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			if toMLflow != "" {
				return exportToMLflow(ctx, cmd, sel, toMLflow)
			}
			return exportTo(ctx, cmd, sel, out)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&sel.Experiments, "experiment", nil, "experiment id or name; repeat for several")
	f.StringArrayVar(&sel.Models, "model", nil, "registered model name; repeat for several")
	f.StringVar(&sel.Version, "version", "", "with one --model: only this version")
	f.BoolVar(&sel.All, "all", false, "the whole workspace (experiments, models and assets)")
	for _, k := range []tandem.AssetKind{tandem.AssetEnvironment, tandem.AssetData, tandem.AssetDatastore, tandem.AssetComponent, tandem.AssetPipeline} {
		assetFlags[k] = new([]string)
		usage := string(k) + " NAME[:VERSION] (default: its latest version); repeat for several"
		if k == tandem.AssetDatastore {
			usage = "datastore NAME (its definition, never its credentials); repeat for several"
		} else if k == tandem.AssetData {
			usage = "data asset NAME[:VERSION], with the definition of the datastore it is on; repeat for several"
		}
		f.StringArrayVar(assetFlags[k], string(k), nil, usage)
	}
	f.StringVarP(&out, "output", "o", "", "bundle to write: a folder, or a .tar/.tar.gz/.tgz file")
	f.StringVar(&toMLflow, "to-mlflow", "", "write into the stock MLflow tracking server at this URL instead")
	f.String("url", "", "workspace URL (default: TANDEM_URL, then the workspace config file, then MLFLOW_TRACKING_URI)")
	f.String("config", "", "workspace config file (default: discovered)")
	return cmd
}

// exportTo asks the workspace for a bundle and writes it at out.
func exportTo(ctx context.Context, cmd *cobra.Command, sel transfer.Selection, out string) error {
	if _, err := os.Stat(out); err == nil {
		if ents, _ := os.ReadDir(out); bundle.IsArchivePath(out) || len(ents) > 0 {
			return tandem.Errorf(tandem.EEXISTS, "%s already exists", out)
		}
	}
	c, err := workspaceClient(cmd)
	if err != nil {
		return err
	}
	pr := newProgress(cmd)
	pr.show(true, "exporting from %s ...", c.TrackingURI())
	// The archive is received beside out, checked, then renamed (or
	// extracted into the folder out).
	tmp := out + ".partial"
	if !bundle.IsArchivePath(out) {
		tmp = filepath.Join(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(filepath.Clean(out))+".tgz.partial")
	}
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	n, err := c.Export(ctx, sel, f, func(n int64) { pr.show(false, "exporting: %s received", humanBytes(n)) })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	pr.done()
	r, err := bundle.Open(tmp)
	if err != nil {
		return err
	}
	if bundle.IsArchivePath(out) {
		if err := r.Verify(ctx); err != nil {
			return err
		}
		if err := os.Rename(tmp, out); err != nil {
			return err
		}
	} else if err := r.Extract(ctx, out); err != nil {
		return err
	}
	counts := r.Manifest().Counts()
	fmt.Fprintf(cmd.OutOrStdout(), "Exported %d experiments, %d runs, %d registered models, %d assets, %d files (%s) to %s (journal position %v)\n",
		counts[bundle.KindExperiment], counts[bundle.KindRun], counts[bundle.KindRegisteredModel], counts[bundle.KindAsset], counts[bundle.KindBlob], humanBytes(n), out, r.Manifest().Position)
	return nil
}

// exportToMLflow exports a bundle from the workspace and writes it into a
// stock MLflow server, then lists what MLflow could not keep.
func exportToMLflow(ctx context.Context, cmd *cobra.Command, sel transfer.Selection, target string) error {
	w, err := mlflowdest.New(target)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "tandem-to-mlflow-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.tgz")
	if err := exportTo(ctx, cmd, sel, path); err != nil {
		return err
	}
	r, err := bundle.Open(path)
	if err != nil {
		return err
	}
	pr := newProgress(cmd)
	pr.show(true, "writing into MLflow at %s ...", target)
	rep, err := w.Write(ctx, r)
	pr.done()
	out := cmd.OutOrStdout()
	if rep != nil {
		fmt.Fprintf(out, "Wrote into MLflow: %d experiments, %d runs (%d metric points), %d artifact files, %d logged models, %d registered models, %d versions\n",
			rep.Experiments, rep.Runs, rep.MetricPoints, rep.Artifacts, rep.LoggedModels, rep.Models, rep.Versions)
		if len(rep.Lost) > 0 {
			fmt.Fprintln(out, "MLflow could not keep:")
			for _, l := range rep.Lost {
				fmt.Fprintf(out, "  - %s\n", l)
			}
		}
		for _, s := range rep.Skipped {
			fmt.Fprintf(out, "  skipped: %s\n", s)
		}
		kinds := make([]string, 0, len(rep.Changed))
		for k := range rep.Changed {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			ids := make([]string, 0, len(rep.Changed[k]))
			for from := range rep.Changed[k] {
				ids = append(ids, from)
			}
			sort.Strings(ids)
			fmt.Fprintf(out, "New %s ids in MLflow (tandem -> MLflow):\n", k)
			for _, from := range ids {
				fmt.Fprintf(out, "  %s -> %s\n", from, rep.Changed[k][from])
			}
		}
	}
	return err
}

func newImportCmd() *cobra.Command {
	var dry, users bool
	var fromMLflow string
	var opts mlflowsource.Options
	var save string
	cmd := &cobra.Command{
		Use:   "import [BUNDLE]",
		Short: "Import a bundle, or migrate from a stock MLflow server, keeping ids and times",
		Long: `Import a bundle written by 'tandem export' (a folder or a .tar/.tar.gz file) into the workspace. Run
ids, experiment ids, start/end/creation times and every metric point are kept. An experiment whose id
is taken by another experiment gets a new id, and the import says so. Objects already there are
reported "already present"; an object with the same id or name but different content is reported as a
conflict and left untouched (exit code 4). The whole bundle is verified before anything is written.
Running an interrupted import again finishes it without duplicating anything.

With --from-mlflow URL, reads a stock MLflow tracking server through its REST API (read-only) and
imports what it finds: the migration path onto tandem. A source with authentication is read with
MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (basic). When the source
runs MLflow's basic-auth app, its users become tandem users (without a password: each gets a reset
token, printed once) and their permissions role assignments: admin -> Owner, READ/USE -> Reader,
EDIT -> the custom role "MLflow Editor" (read and write, no delete), MANAGE -> Owner, at the scope of
the experiment or registered model (--users=false skips this).`,
		Example: `  tandem import workspace.tgz --dry-run
  tandem import workspace.tgz
  tandem import --from-mlflow http://127.0.0.1:5001 --all
  tandem import --from-mlflow http://mlflow.internal:5000 --experiment churn --parallel 16`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if (len(args) == 1) == (fromMLflow != "") {
				return tandem.Errorf(tandem.EINVALID, "give either a BUNDLE or --from-mlflow URL")
			}
			path := ""
			if fromMLflow != "" {
				p, cleanup, err := readMLflow(ctx, cmd, fromMLflow, opts, save)
				if err != nil {
					return err
				}
				defer cleanup()
				path = p
			} else {
				path = args[0]
			}
			if err := importFrom(ctx, cmd, path, dry); err != nil || fromMLflow == "" || dry || !users {
				return err
			}
			src, err := sourceClient(fromMLflow)
			if err != nil {
				return err
			}
			return importMLflowUsers(ctx, cmd, src)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dry, "dry-run", false, "verify and print the plan; change nothing")
	f.StringVar(&fromMLflow, "from-mlflow", "", "read from the stock MLflow tracking server at this URL")
	f.StringArrayVar(&opts.Experiments, "experiment", nil, "with --from-mlflow: experiment id or name; repeat for several")
	f.StringArrayVar(&opts.Models, "model", nil, "with --from-mlflow: registered model name; repeat for several")
	f.BoolVar(&opts.All, "all", false, "with --from-mlflow: everything")
	f.IntVar(&opts.Parallel, "parallel", 8, "with --from-mlflow: runs read at once")
	f.StringVar(&save, "save", "", "with --from-mlflow: also keep the bundle read from MLflow at this path")
	f.BoolVar(&users, "users", true, "with --from-mlflow: also import the users and permissions of MLflow's basic-auth app, when the source runs it (as users with a reset token and role assignments)")
	f.Bool("profile", false, "with --from-mlflow: print the requests sent to the MLflow server and their time, by endpoint")
	f.String("url", "", "workspace URL (default: TANDEM_URL, then the workspace config file, then MLFLOW_TRACKING_URI)")
	f.String("config", "", "workspace config file (default: discovered)")
	return cmd
}

// readMLflow reads a stock MLflow server into a bundle (save, or a
// temporary archive removed by cleanup).
func readMLflow(ctx context.Context, cmd *cobra.Command, src string, opts mlflowsource.Options, save string) (string, func(), error) {
	c, err := sourceClient(src)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() {}
	path := save
	if path == "" {
		dir, err := os.MkdirTemp("", "tandem-migrate-*")
		if err != nil {
			return "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		path = filepath.Join(dir, "mlflow.tar")
	}
	w, err := bundle.Create(path, bundle.Meta{Source: "mlflow"})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	pr := newProgress(cmd)
	opts.Progress = func(s mlflowsource.Stats) {
		pr.show(false, "reading %s: %d experiments, %d runs, %d metric points, %d artifacts (%s), %d models",
			src, s.Experiments, s.Runs, s.MetricPoints, s.Artifacts, humanBytes(s.ArtifactBytes), s.RegisteredModels+s.LoggedModels)
	}
	start := time.Now()
	st, err := c.Export(ctx, w, opts)
	if err != nil {
		w.Abort()
		cleanup()
		return "", nil, err
	}
	if err := w.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	pr.show(true, "read %s in %s: %d experiments, %d runs, %d metric points, %d artifacts (%s), %d logged models, %d registered models, %d versions",
		src, time.Since(start).Round(time.Millisecond), st.Experiments, st.Runs, st.MetricPoints, st.Artifacts, humanBytes(st.ArtifactBytes),
		st.LoggedModels, st.RegisteredModels, st.ModelVersions)
	pr.done()
	if prof, _ := cmd.Flags().GetBool("profile"); prof {
		for _, cs := range c.Calls() {
			fmt.Fprintf(cmd.ErrOrStderr(), "  %6d requests  %9s  %s\n", cs.Count, cs.Time.Round(time.Millisecond), cs.Path)
		}
	}
	return path, cleanup, nil
}

// importFrom sends the bundle at path to the workspace and prints the
// progress and the report.
func importFrom(ctx context.Context, cmd *cobra.Command, path string, dry bool) error {
	r, err := bundle.Open(path)
	if err != nil {
		return err
	}
	c, err := workspaceClient(cmd)
	if err != nil {
		return err
	}
	// An archive is sent as it is, a folder as the tar stream it makes.
	open := func() io.ReadCloser {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(r.WriteTar(ctx, pw)) }()
		return pr
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		open = func() io.ReadCloser { return io.NopCloser(f) } // one endpoint: sent once
	}
	pr := newProgress(cmd)
	pr.show(true, "sending %s to %s ...", path, c.TrackingURI())
	rep, err := c.Import(ctx, open, dry, func(p transfer.Progress) {
		pr.show(p.Done == p.Total, "%s: %d/%d objects", p.Phase, p.Done, p.Total)
	})
	pr.done()
	if rep != nil {
		printReport(cmd.OutOrStdout(), rep)
	}
	if err != nil {
		return err
	}
	if n := rep.Conflicts(); n > 0 {
		return tandem.Errorf(tandem.ECONFLICT, "%d objects were not imported (conflicts listed above)", n)
	}
	return nil
}

func printReport(w io.Writer, rep *transfer.Report) {
	if rep.DryRun {
		fmt.Fprintln(w, "Plan (dry run, nothing changed):")
	} else {
		fmt.Fprintln(w, "Imported:")
	}
	kinds := make([]string, 0, len(rep.Counts))
	for k := range rep.Counts {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		var parts []string
		for _, s := range []transfer.Status{"new", "already present", "conflict", "skipped", "not supported"} {
			if n := rep.Counts[bundle.Kind(k)][s]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, s))
			}
		}
		fmt.Fprintf(w, "  %-17s %s\n", k, strings.Join(parts, ", "))
	}
	if !rep.DryRun {
		fmt.Fprintf(w, "  artifact files    %d written (%s)\n", rep.Blobs, humanBytes(rep.BlobBytes))
	}
	for _, n := range rep.Notes {
		reason := n.Reason
		if reason == "" && n.TargetID != "" {
			reason = "imported as " + n.TargetID
		}
		fmt.Fprintf(w, "  %s %s %s: %s\n", n.Kind, n.ID, n.Status, reason)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// parseAssetFlag reads an export flag value NAME[:VERSION] of kind k
// (datastores have no version). Errors: EINVALID.
func parseAssetFlag(k tandem.AssetKind, v string) (transfer.AssetRef, error) {
	name, version, hasVersion := strings.Cut(v, ":")
	if hasVersion && (version == "" || !k.Versioned()) {
		return transfer.AssetRef{}, tandem.Errorf(tandem.EINVALID, "--%s %q: give NAME%s", k, v, map[bool]string{true: "[:VERSION]", false: ""}[k.Versioned()])
	}
	if err := tandem.ValidateName(name); err != nil {
		return transfer.AssetRef{}, tandem.Errorf(tandem.EINVALID, "--%s %q: %s", k, v, tandem.ErrorMessage(err))
	}
	if hasVersion {
		if err := tandem.ValidateVersion(version); err != nil {
			return transfer.AssetRef{}, tandem.Errorf(tandem.EINVALID, "--%s %q: %s", k, v, tandem.ErrorMessage(err))
		}
	}
	return transfer.AssetRef{Kind: k, Name: name, Version: version}, nil
}
