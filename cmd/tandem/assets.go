package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// addAssetCommands adds attach, config and the asset verbs (model,
// environment, data, datastore, component, pipeline), mirroring az ml.
func addAssetCommands(root *cobra.Command) {
	root.AddCommand(newAttachCmd(), newConfigCmd())
	for _, k := range tandem.AssetKinds {
		root.AddCommand(newAssetCmd(k))
	}
}

// assetVerbs lists the verbs of each kind (the set; archive and
// restore come together).
var assetVerbs = map[tandem.AssetKind][]string{
	tandem.AssetModel:       {"create", "show", "list", "download", "archive", "restore"},
	tandem.AssetEnvironment: {"create", "show", "list", "download", "archive", "restore"},
	tandem.AssetData:        {"create", "show", "list", "download", "archive", "restore"},
	tandem.AssetDatastore:   {"create", "show", "list"},
	tandem.AssetComponent:   {"create", "show", "list", "download", "archive", "restore"},
	tandem.AssetPipeline:    {"create", "show", "list", "download", "archive", "restore"},
}

var kindBlurb = map[tandem.AssetKind]string{
	tandem.AssetModel:       "Manage models: versions of model files (a folder, or a URL such as tandem://datastores/...)",
	tandem.AssetEnvironment: "Manage environments: an image, or a Docker build context, with a conda file and inference routes",
	tandem.AssetData:        "Manage data assets: a file, folder or MLTable, uploaded or on a datastore",
	tandem.AssetDatastore:   "Manage datastores: local folders, S3, Azure Blob or GCS storage that data assets point into",
	tandem.AssetComponent:   "Manage command components: a command with typed inputs and outputs, code and an environment",
	tandem.AssetPipeline:    "Manage pipelines: steps running components, bound with ${{parent.inputs.x}}",
}

func newAssetCmd(k tandem.AssetKind) *cobra.Command {
	cmd := &cobra.Command{
		Use:   string(k),
		Short: kindBlurb[k],
		Long: kindBlurb[k] + `.

Definitions are YAML files in the Azure ML CLI v2 format. ` + "`download`" + ` writes a folder (the canonical
YAML and the files it names) from which ` + "`create -f`" + ` makes an identical version in any workspace.`,
	}
	pf := cmd.PersistentFlags()
	pf.String("config", "", "workspace config file (default: --config, TANDEM_CONFIG, .tandem/config.json here or above, ~/.tandem/config.json)")
	pf.StringP("output", "o", "table", "output format: table, json or yaml")
	cmd.SetFlagErrorFunc(usageError)
	for _, v := range assetVerbs[k] {
		switch v {
		case "create":
			cmd.AddCommand(newCreateCmd(k))
		case "show":
			cmd.AddCommand(newShowCmd(k))
		case "list":
			cmd.AddCommand(newListCmd(k))
		case "download":
			cmd.AddCommand(newDownloadCmd(k))
		case "archive":
			cmd.AddCommand(newArchiveCmd(k, true), newArchiveCmd(k, false))
		}
	}
	return cmd
}

func exampleFile(k tandem.AssetKind) string { return string(k) + ".yaml" }

func newCreateCmd(k tandem.AssetKind) *cobra.Command {
	var file, name, version string
	var wait time.Duration
	ex := fmt.Sprintf("  tandem %s create -f %s", k, exampleFile(k))
	if k.Versioned() {
		ex += fmt.Sprintf("\n  tandem %s create -f %s --name my-%s --version 2", k, exampleFile(k), k)
	}
	short := "Create a new version from a YAML file"
	if !k.Versioned() {
		short = "Create or replace a datastore from a YAML file (credentials are stored encrypted and never shown)"
	}
	cmd := &cobra.Command{
		Use:     "create",
		Short:   short,
		Example: ex,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return tandem.Errorf(tandem.EINVALID, "--file is required")
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return tandem.Errorf(tandem.ENOTFOUND, "read %s: %v", file, err)
			}
			a, err := assetyaml.Load(file, b, k)
			if err != nil {
				return err
			}
			if name != "" {
				a.Name = name
			}
			if version != "" {
				a.Version = version
			}
			if err := a.Validate(); err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			out, err := c.CreateAsset(cmd.Context(), a, filepath.Dir(file))
			if err != nil {
				return err
			}
			if err := printAsset(cmd, out); err != nil {
				return err
			}
			return waitAssetImage(cmd.Context(), cmd.ErrOrStderr(), c, out, wait)
		},
	}
	if k == tandem.AssetEnvironment {
		cmd.Flags().DurationVar(&wait, "wait", 10*time.Minute, "with image: and registries in the workspace, how long to follow the image's copy into every region's registry (0: do not wait)")
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML definition (required)")
	cmd.Flags().StringVarP(&name, "name", "n", "", "name, overriding the file's")
	if k.Versioned() {
		cmd.Flags().StringVarP(&version, "version", "v", "", "version, overriding the file's (default: the next integer)")
	}
	return cmd
}

func nameVersionFlags(cmd *cobra.Command, k tandem.AssetKind, name, version *string, versionHelp string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "name (required)")
	if k.Versioned() {
		cmd.Flags().StringVarP(version, "version", "v", "", versionHelp)
	}
}

func newShowCmd(k tandem.AssetKind) *cobra.Command {
	var name, version string
	ex := fmt.Sprintf("  tandem %s show -n my-%s", k, k)
	if k.Versioned() {
		ex += fmt.Sprintf("\n  tandem %s show -n my-%s -v 3 -o yaml", k, k)
	}
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show one " + string(k),
		Example: ex,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return tandem.Errorf(tandem.EINVALID, "--name is required")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			a, err := c.GetAsset(cmd.Context(), k, name, version)
			if err != nil {
				return err
			}
			var extra [][2]string
			if p := dataPath(a); strings.HasPrefix(p, "tandem:") {
				u, err := c.ResolveDatastorePath(cmd.Context(), p)
				if err != nil {
					return err
				}
				extra = append(extra, [2]string{"Resolves to", u})
			}
			return printAsset(cmd, a, extra...)
		},
	}
	nameVersionFlags(cmd, k, &name, &version, "version (default: latest)")
	return cmd
}

func newListCmd(k tandem.AssetKind) *cobra.Command {
	var name string
	var archived bool
	ex := fmt.Sprintf("  tandem %s list", k)
	if k.Versioned() {
		ex += fmt.Sprintf("\n  tandem %s list -n my-%s -o json", k, k)
	}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List " + k.Plural() + " (the latest version of each; with --name, every version)",
		Example: ex,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			as, err := c.ListAssets(cmd.Context(), k, name, archived)
			if err != nil {
				return err
			}
			return printList(cmd, k, as)
		},
	}
	if k.Versioned() {
		cmd.Flags().StringVarP(&name, "name", "n", "", "list every version of this name")
	}
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived versions")
	return cmd
}

func newDownloadCmd(k tandem.AssetKind) *cobra.Command {
	var name, version, dir string
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Write a version as a folder (canonical YAML and its files) that create -f registers again",
		Example: fmt.Sprintf("  tandem %s download -n my-%s -v 1 -p ./saved\n  tandem %s create -f ./saved/%s.yaml --config other-workspace.json",
			k, k, k, k),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return tandem.Errorf(tandem.EINVALID, "--name is required")
			}
			if dir == "" {
				dir = "."
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			p, a, err := c.Download(cmd.Context(), k, name, version, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Downloaded %s %s version %s (%d files) to %s\n", k, a.Name, a.Version, len(a.Files), p)
			return nil
		},
	}
	nameVersionFlags(cmd, k, &name, &version, "version (default: latest)")
	cmd.Flags().StringVarP(&dir, "download-path", "p", "", "folder to write (must be empty or absent; default: the current folder)")
	return cmd
}

func newArchiveCmd(k tandem.AssetKind, archive bool) *cobra.Command {
	var name, version string
	verb, short := "archive", "Archive a version (or every version): hidden from list and latest, still readable by number"
	if !archive {
		verb, short = "restore", "Restore an archived version (or every version)"
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Example: fmt.Sprintf("  tandem %s %s -n my-%s -v 2\n  tandem %s %s -n my-%s", k, verb, k, k, verb, k),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return tandem.Errorf(tandem.EINVALID, "--name is required")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if err := c.ArchiveAsset(cmd.Context(), k, name, version, archive); err != nil {
				return err
			}
			what := "every version"
			if version != "" {
				what = "version " + version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%sd %s %s %s\n", verb, k, name, what)
			return nil
		},
	}
	nameVersionFlags(cmd, k, &name, &version, "version (default: every version)")
	return cmd
}

func outputFormat(cmd *cobra.Command) (string, error) {
	o, _ := cmd.Flags().GetString("output")
	switch o {
	case "table", "json", "yaml":
		return o, nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "--output must be table, json or yaml, got %q", o)
}

// dataPath is the path of a data asset or model ("" for other kinds).
func dataPath(a *tandem.Asset) string {
	switch s := a.Spec.(type) {
	case *tandem.Data:
		return s.Path
	case *tandem.Model:
		return s.Path
	}
	return ""
}

// printAsset prints one asset in the --output format; extra rows (such as
// a resolved datastore URL) appear in the table form only.
func printAsset(cmd *cobra.Command, a *tandem.Asset, extra ...[2]string) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		return writeIndentedJSON(out, a)
	case "yaml":
		b, err := assetyaml.Marshal(a)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("Name", a.Name)
	row("Version", a.Version)
	row("Kind", string(a.Kind))
	row("Summary", summary(a))
	for _, e := range extra {
		row(e[0], e[1])
	}
	row("Description", a.Description)
	for _, k := range tandem.SortedKeys(a.Tags) {
		row("Tag "+k, a.Tags[k])
	}
	row("Archived", strconv.FormatBool(a.Archived))
	row("Created", time.UnixMilli(a.CreatedMS).UTC().Format(time.RFC3339))
	if ds, ok := a.Spec.(*tandem.Datastore); ok {
		creds := "none"
		if ds.HasCredentials {
			creds = "stored (encrypted, write-only)"
		}
		row("Credentials", creds)
	}
	for _, f := range a.Files {
		row("File", fmt.Sprintf("%s  %d bytes  sha256:%s", f.Path, f.Size, f.SHA256))
	}
	return tw.Flush()
}

func printList(cmd *cobra.Command, k tandem.AssetKind, as []*tandem.Asset) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		if as == nil {
			as = []*tandem.Asset{}
		}
		return writeIndentedJSON(out, as)
	case "yaml":
		for i, a := range as {
			if i > 0 {
				fmt.Fprintln(out, "---")
			}
			b, err := assetyaml.Marshal(a)
			if err != nil {
				return err
			}
			out.Write(b)
		}
		return nil
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].Name < as[j].Name })
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if k.Versioned() {
		fmt.Fprintln(tw, "NAME\tVERSION\tSUMMARY\tARCHIVED")
	} else {
		fmt.Fprintln(tw, "NAME\tSUMMARY")
	}
	for _, a := range as {
		if k.Versioned() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", a.Name, a.Version, summary(a), a.Archived)
		} else {
			fmt.Fprintf(tw, "%s\t%s\n", a.Name, summary(a))
		}
	}
	return tw.Flush()
}

// summary is a one-line description of an asset's definition.
func summary(a *tandem.Asset) string {
	switch s := a.Spec.(type) {
	case *tandem.Model:
		t := s.Type
		if t == "" {
			t = "custom_model"
		}
		return t + " " + s.Path
	case *tandem.Environment:
		if s.Image != "" {
			return "image " + s.Image
		}
		return "build " + s.Build.Path
	case *tandem.Data:
		return s.Type + " " + s.Path
	case *tandem.Datastore:
		loc := strings.TrimSuffix(s.Resolve(""), "/")
		if s.Shared {
			loc += " (shared)"
		}
		return s.Type + " " + loc
	case *tandem.Component:
		return fmt.Sprintf("command, %d inputs, %d outputs, env %s", len(s.Inputs), len(s.Outputs), s.Environment)
	case *tandem.Pipeline:
		return fmt.Sprintf("%d steps", len(s.Jobs))
	}
	return ""
}

func writeIndentedJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
