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
	"github.com/tandemml/tandem/client"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// addSecretCommands adds the key vault verbs (tandem secret ..., Azure Key
// Vault's vocabulary) and tandem datastore check. Called after
// addAssetCommands, whose datastore command it extends.
func addSecretCommands(root *cobra.Command) {
	root.AddCommand(newSecretCmd())
	for _, c := range root.Commands() {
		if c.Name() == string(tandem.AssetDatastore) {
			c.AddCommand(newDatastoreCheckCmd())
		}
	}
}

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage the workspace key vault: write-only, versioned secrets that datastores reference by name",
		Long: `Manage the workspace key vault. Values are write-only: set stores a new version, encrypted with the
workspace key before it reaches the database or the journal, and nothing ever shows a value again.
A datastore refers to a secret as ${{secrets.NAME}} in its credentials; the server resolves it when it
needs the value. delete is a soft delete: recover undoes it, purge removes the secret for good.`,
	}
	pf := cmd.PersistentFlags()
	pf.String("config", "", "workspace config file (default: --config, TANDEM_CONFIG, .tandem/config.json here or above, ~/.tandem/config.json)")
	pf.StringP("output", "o", "table", "output format: table, json or yaml")
	cmd.SetFlagErrorFunc(usageError)
	cmd.AddCommand(newSecretSetCmd(), newSecretListCmd(), newSecretShowCmd(), newSecretAttrsCmd(),
		newSecretDeleteCmd(), newSecretRecoverCmd(), newSecretPurgeCmd())
	return cmd
}

func newSecretSetCmd() *cobra.Command {
	var valueFile, value, contentType string
	var tags []string
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Store a new version of a secret (value from --value-file, stdin, or a prompt)",
		Long: `Store a new version of a secret. The value comes from --value-file (exact bytes; "-" is stdin),
else from stdin when it is not a terminal (one trailing newline dropped), else from a prompt that does
not echo. --value puts the value on the command line, where shell history and process lists keep it:
use it only when that is acceptable.`,
		Example: `  tandem secret set lake-key --value-file ./account.key
  vault read -field=key secret/lake | tandem secret set lake-key
  tandem secret set lake-key                  # prompts`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tandem.ValidateSecretName(args[0]); err != nil {
				return err
			}
			tagMap := map[string]string{}
			for _, t := range tags {
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					return tandem.Errorf(tandem.EINVALID, "--tags %q: want key=value", t)
				}
				tagMap[k] = v
			}
			val, err := readSecretValue(cmd, valueFile, value, cmd.Flags().Changed("value"))
			if err != nil {
				return err
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			sec, err := c.SetSecret(cmd.Context(), args[0], val, contentType, tagMap)
			if err != nil {
				return err
			}
			return printSecrets(cmd, []*tandem.Secret{sec})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&valueFile, "value-file", "f", "", `file holding the value ("-": stdin)`)
	f.StringVar(&value, "value", "", "the value itself (lands in shell history: prefer --value-file or stdin)")
	f.StringVar(&contentType, "content-type", "", "a hint about the value (e.g. text/plain, application/json)")
	f.StringSliceVar(&tags, "tags", nil, "key=value tags")
	return cmd
}

// readSecretValue reads the value from the one source the user chose.
func readSecretValue(cmd *cobra.Command, valueFile, value string, valueSet bool) ([]byte, error) {
	if valueSet && valueFile != "" {
		return nil, tandem.Errorf(tandem.EINVALID, "give --value-file or --value, not both")
	}
	in := cmd.InOrStdin()
	limit := int64(tandem.MaxSecretBytes) + 1
	switch {
	case valueSet:
		return []byte(value), nil
	case valueFile != "" && valueFile != "-":
		b, err := os.ReadFile(valueFile)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "--value-file: %v", err)
		}
		return b, nil
	case valueFile == "-":
		return io.ReadAll(io.LimitReader(in, limit))
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Value (not echoed): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "read the value: %v", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(in, limit))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r")), nil
}

func newSecretListCmd() *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List secrets (newest version of each, metadata only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ss, err := c.ListSecrets(cmd.Context(), deleted)
			if err != nil {
				return err
			}
			return printSecrets(cmd, ss)
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "list soft-deleted secrets instead")
	return cmd
}

func newSecretShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show-metadata NAME",
		Short: "Show every version of a secret: created time and by whom, enabled (never the value)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			ss, err := c.SecretVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printSecrets(cmd, ss)
		},
	}
}

func newSecretAttrsCmd() *cobra.Command {
	var version string
	var enabled bool
	cmd := &cobra.Command{
		Use:     "set-attributes NAME",
		Short:   "Enable or disable one version (the newest enabled version is the one datastores use)",
		Example: `  tandem secret set-attributes lake-key --version 3 --enabled=false`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if version == "" || !cmd.Flags().Changed("enabled") {
				return tandem.Errorf(tandem.EINVALID, "--version and --enabled are required")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			sec, err := c.UpdateSecret(cmd.Context(), args[0], version, enabled)
			if err != nil {
				return err
			}
			return printSecrets(cmd, []*tandem.Secret{sec})
		},
	}
	cmd.Flags().StringVarP(&version, "version", "v", "", "the version")
	cmd.Flags().BoolVar(&enabled, "enabled", true, "enable (true) or disable (false) the version")
	return cmd
}

func newSecretDeleteCmd() *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Soft-delete a secret (every version); --purge also removes it for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			// --purge of a secret already soft-deleted just purges it.
			if err := c.DeleteSecret(cmd.Context(), args[0]); err != nil && !(purge && tandem.ErrorCode(err) == tandem.ENOTFOUND) {
				return err
			}
			if purge {
				if err := c.PurgeSecret(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "secret %s deleted and purged\n", args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s deleted (tandem secret recover %s undoes it)\n", args[0], args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "purge it right away (cannot be undone)")
	return cmd
}

func newSecretRecoverCmd() *cobra.Command {
	return secretNameCmd("recover NAME", "Recover a soft-deleted secret", "recovered",
		func(cmd *cobra.Command, c *client.Client, name string) error {
			return c.RecoverSecret(cmd.Context(), name)
		})
}

func newSecretPurgeCmd() *cobra.Command {
	return secretNameCmd("purge NAME", "Purge a soft-deleted secret for good", "purged",
		func(cmd *cobra.Command, c *client.Client, name string) error {
			return c.PurgeSecret(cmd.Context(), name)
		})
}

// secretNameCmd is a verb on one secret that prints "secret NAME done".
func secretNameCmd(use, short, done string, fn func(*cobra.Command, *client.Client, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			if err := fn(cmd, c, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s %s\n", args[0], done)
			return nil
		},
	}
}

// printSecrets prints secret metadata in the --output format.
func printSecrets(cmd *cobra.Command, ss []*tandem.Secret) error {
	format, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	if ss == nil {
		ss = []*tandem.Secret{}
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		return writeIndentedJSON(out, ss)
	case "yaml":
		// The JSON field names, and times as integers (not floats).
		b, _ := json.Marshal(ss)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v []map[string]any
		dec.Decode(&v)
		for _, m := range v {
			for k, x := range m {
				if n, ok := x.(json.Number); ok {
					m[k], _ = n.Int64()
				}
			}
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(y)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tENABLED\tCREATED\tCREATED BY\tCONTENT TYPE")
	for _, s := range ss {
		created := time.UnixMilli(s.CreatedMS).UTC().Format(time.RFC3339)
		name := s.Name
		if s.DeletedMS != 0 {
			name += " (deleted " + time.UnixMilli(s.DeletedMS).UTC().Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, s.Version, strconv.FormatBool(s.Enabled), created, s.CreatedBy, s.ContentType)
	}
	return tw.Flush()
}

func newDatastoreCheckCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check a datastore: the workspace opens its credentials (secret references resolved) and lists its storage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return tandem.Errorf(tandem.EINVALID, "--name is required")
			}
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			r, err := c.CheckDatastore(cmd.Context(), name)
			if err != nil {
				return err
			}
			if f, _ := outputFormat(cmd); f == "json" {
				return writeIndentedJSON(cmd.OutOrStdout(), r)
			}
			creds := "no credentials"
			if r.Credentials {
				creds = "credentials opened and used"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "datastore %s: storage reachable, %s\n", r.Datastore, creds)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "datastore name")
	return cmd
}
