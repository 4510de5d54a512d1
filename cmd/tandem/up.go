package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/workspace"
)

func newUpCmd() *cobra.Command {
	var dir, listen, name, scoringPython string
	var noAuth, useTLS bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a two-region workspace on this machine (SQLite and local folders)",
		Long: `Run a workspace of two regions on this machine with no setup: each region is its own
process with its own SQLite database and artifact folder under --dir; "east" is the primary
and "west" replicates it. Writes .tandem/config.json (workspace name and region URLs) in the
current folder (the client config every tandem client finds), prints both URLs, and stops both regions on Ctrl-C.

The workspace file it writes (--dir/workspace.yaml) is kept: edit it and run tandem up again.`,
		Example: `  tandem up
  tandem up --dir /tmp/ws --listen 127.0.0.1:5500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			wsPath := filepath.Join(abs, "workspace.yaml")
			if _, err := os.Stat(wsPath); errors.Is(err, os.ErrNotExist) {
				if err := writeLocalWorkspace(abs, name, listen, useTLS); err != nil {
					return err
				}
			} else if useTLS {
				fmt.Fprintf(cmd.ErrOrStderr(), "--tls: %s exists and is used as it is (delete it for a new TLS workspace)\n", wsPath)
			}
			ws, err := workspace.Load(wsPath)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			logLevel, _ := cmd.Flags().GetString("log-level")
			logFormat, _ := cmd.Flags().GetString("log-format")
			var procs []*exec.Cmd
			stopAll := func() {
				for _, p := range procs {
					p.Process.Signal(syscall.SIGTERM)
				}
				done := make(chan struct{})
				go func() {
					for _, p := range procs {
						p.Wait()
					}
					close(done)
				}()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					for _, p := range procs {
						p.Process.Kill()
					}
					<-done
				}
			}
			exited := make(chan string, len(ws.Regions)+1)
			var once sync.Once
			if wu, err := url.Parse(ws.Witness); err == nil && ws.Witness != "" && (wu.Scheme == "http" || wu.Scheme == "https") && isLocalHost(wu.Hostname()) {
				// The built-in witness of a local workspace runs beside the
				// regions; an etcd or remote witness is the user's to run.
				wargs := []string{"witness", "--listen", wu.Host, "--data", filepath.Join(abs, "witness"),
					"--key-file", filepath.Join(abs, "witness.key"), "--log-level", logLevel, "--log-format", logFormat}
				if wu.Scheme == "https" {
					wargs = append(wargs, "--tls-cert", filepath.Join(abs, "tls", "witness.crt"), "--tls-key", filepath.Join(abs, "tls", "witness.key"))
				}
				c := exec.Command(exe, wargs...)
				c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
				c.Env = os.Environ()
				c.SysProcAttr = childAttr()
				if err := c.Start(); err != nil {
					return fmt.Errorf("start witness: %w", err)
				}
				procs = append(procs, c)
				go func(c *exec.Cmd) {
					c.Process.Wait()
					exited <- "witness"
				}(c)
			}
			authEnv, authArgs, authNote, err := upAuth(cmd, ws.Name, noAuth || ws.Auth.Off())
			if err != nil {
				return err
			}
			for _, r := range ws.Regions {
				args := append([]string{"server", "--config", wsPath, "--region", r.Name, "--log-level", logLevel, "--log-format", logFormat}, authArgs...)
				if scoringPython != "" {
					args = append(args, "--scoring-python", scoringPython)
				}
				c := exec.Command(exe, args...)
				c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
				c.Env = append(os.Environ(), authEnv...)
				// Own process group: the terminal's Ctrl-C reaches us, and we
				// stop the regions in order.
				c.SysProcAttr = childAttr()
				if err := c.Start(); err != nil {
					stopAll()
					return fmt.Errorf("start region %s: %w", r.Name, err)
				}
				procs = append(procs, c)
				go func(name string, c *exec.Cmd) {
					c.Process.Wait()
					once.Do(func() {})
					exited <- name
				}(r.Name, c)
			}
			regions, err := client.RegionsFromWorkspace(ws) // over the workspace's TLS
			if err != nil {
				stopAll()
				return err
			}
			if err := regions.WaitHealthy(ctx, 30*time.Second); err != nil {
				stopAll()
				return err
			}
			primary, err := currentPrimary(ctx, ws, regions)
			if err != nil {
				stopAll()
				return err
			}
			if err := writeUpConfig(ws, primary, wsPath); err != nil {
				stopAll()
				return err
			}
			out := cmd.OutOrStdout()
			printUpBanner(out, ws, primary, abs, authNote, scoringPython)
			go followPrimary(ctx, out, ws, regions, primary, wsPath)
			select {
			case <-ctx.Done():
				fmt.Fprintln(out, "\nstopping...")
				stopAll()
				return nil
			case name := <-exited:
				stopAll()
				return tandem.Errorf(tandem.EUNAVAILABLE, "region %s exited; stopped the workspace", name)
			}
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "tandem-data", "folder for the workspace file, databases and artifacts")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5000", "address of the first region; the second uses the next port")
	cmd.Flags().StringVar(&name, "name", "local", "workspace name (for a new workspace)")
	cmd.Flags().BoolVar(&noAuth, "no-auth", os.Getenv("TANDEM_NO_AUTH") == "1", "run the regions without authentication (a laptop only; TANDEM_NO_AUTH=1)")
	cmd.Flags().StringVar(&scoringPython, "scoring-python", envDefault("TANDEM_SCORING_PYTHON", os.Getenv("TANDEM_PYTHON")),
		"python interpreter whose environment has mlflow, for online endpoints' scoring processes in every region (TANDEM_SCORING_PYTHON, else TANDEM_PYTHON; empty: no scoring)")
	cmd.Flags().BoolVar(&useTLS, "tls", false, "for a new workspace: create a local CA and a certificate per region under --dir/tls and serve https")
	return cmd
}

// writeLocalWorkspace writes a two-region workspace file and a random peer key.
// With useTLS it also creates a local CA and certificates (writeLocalTLS),
// and the regions and the witness serve https, requiring client
// certificates of peers.
func writeLocalWorkspace(dir, name, listen string, useTLS bool) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "--listen %q: %v", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		return tandem.Errorf(tandem.EINVALID, "--listen %q: need a fixed port", listen)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "peer.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	// One workspace key for every region: credentials and vault secrets
	// written in one region must open in the others after a failover.
	if err := keyvault.WriteKeyFile(filepath.Join(dir, "workspace.key")); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	wkey := make([]byte, 32)
	rand.Read(wkey)
	if err := os.WriteFile(filepath.Join(dir, "witness.key"), []byte(hex.EncodeToString(wkey)+"\n"), 0o600); err != nil {
		return err
	}
	scheme, tlsTop := "http", ""
	if useTLS {
		if _, err := writeLocalTLS(dir, "east", "west", "witness", "operator"); err != nil {
			return err
		}
		scheme = "https"
		tlsTop = `# TLS from the local CA (tandem up --tls): each region serves its own
# certificate and presents it to its peers; peer requests without one are
# refused. The top-level cert is the CLI's (failover commands).
tls: {ca: tls/ca.crt, cert: tls/operator.crt, key: tls/operator.key, client_auth: require_for_peers}
`
	}
	region := func(n string, port int) string {
		r := fmt.Sprintf(`  - name: %s
    url: %s://%s
    metadata: sqlite://%s
    artifacts: file://%s
`, n, scheme, net.JoinHostPort(host, strconv.Itoa(port)), filepath.Join(dir, n, "tandem.db"), filepath.Join(dir, n, "artifacts"))
		if useTLS {
			r += fmt.Sprintf("    tls: {cert: tls/%s.crt, key: tls/%s.key}\n", n, n)
		}
		return r
	}
	body := fmt.Sprintf(`# Written by tandem up. Edit freely; tandem up reads it again next time.
workspace: %s
primary: east
peer_key: {file: peer.key}
# The workspace key (every region's): encrypts secrets and datastore credentials.
secrets: {keeper: {file: workspace.key}}
forward_writes: true
durability: {mode: async}
replication:
  default: continuous
# The built-in witness holds the leadership lease: when the primary is lost,
# the secondary takes over by itself after lease_ttl.
witness: %s://%s
witness_key: {file: witness.key}
failover: automatic
lease_ttl: 10s
cooldown: 1m
%sregions:
%s%s`, name, scheme, net.JoinHostPort(host, strconv.Itoa(p+2)), tlsTop, region("east", p), region("west", p+1))
	return os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte(body), 0o644)
}

// currentPrimary waits until the regions agree on a primary that accepts
// writes and returns it: whichever region the witness (or, without one,
// the regions) made primary, which after a failover is not the file's
// primary. A single region is its own primary.
func currentPrimary(ctx context.Context, ws *workspace.Workspace, regions *client.Regions) (string, error) {
	if len(ws.Regions) == 1 {
		return ws.Regions[0].Name, nil
	}
	return regions.WaitElected(ctx, 60*time.Second)
}

// upEndpoints lists the regions' URLs, primary first: clients try the
// endpoints in order.
func upEndpoints(ws *workspace.Workspace, primary string) []string {
	var eps []string
	for _, r := range ws.Regions {
		if r.Name == primary {
			eps = append([]string{r.URL}, eps...)
		} else {
			eps = append(eps, r.URL)
		}
	}
	return eps
}

// writeUpConfig writes .tandem/config.json in the current folder: the
// endpoints, primary first, and the workspace file the failover verbs use.
func writeUpConfig(ws *workspace.Workspace, primary, wsPath string) error {
	cc := &client.Config{Workspace: ws.Name, Endpoints: upEndpoints(ws, primary), WorkspaceFile: client.RecordWorkspace(".", wsPath),
		CAFile: ws.ClientTLS().CA}
	_, err := client.WriteConfig(".", cc)
	return err
}

// followPrimary keeps .tandem/config.json primary first while tandem up
// runs: after a failover it lists the new primary first.
func followPrimary(ctx context.Context, out io.Writer, ws *workspace.Workspace, regions *client.Regions, primary, wsPath string) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := regions.Primary(ctx)
		if p == "" || p == primary {
			continue
		}
		if err := writeUpConfig(ws, p, wsPath); err != nil {
			fmt.Fprintf(out, "tandem up: %s is the primary now, but .tandem/config.json could not be updated: %s\n", p, tandem.ErrorMessage(err))
			continue
		}
		primary = p
		fmt.Fprintf(out, "tandem up: %s is the primary now; .tandem/config.json lists it first\n", p)
	}
}

// printUpBanner says the workspace is up: each region with its role, the
// URL for MLflow (the primary's) and where things are.
func printUpBanner(out io.Writer, ws *workspace.Workspace, primary, dir, authNote, scoringPython string) {
	fmt.Fprintf(out, "\ntandem is up: workspace %q, %d regions.\n\n", ws.Name, len(ws.Regions))
	for _, r := range ws.Regions {
		role := "secondary"
		if r.Name == primary {
			role = "primary"
		}
		fmt.Fprintf(out, "  %-8s %-10s %s\n", r.Name, role, r.URL)
	}
	fmt.Fprintf(out, "\nPoint MLflow at either region (writes to a secondary are forwarded):\n\n  export MLFLOW_TRACKING_URI=%s\n\n", upEndpoints(ws, primary)[0])
	if ca := ws.ClientTLS().CA; ca != "" {
		fmt.Fprintf(out, "The regions serve https with certificates of a local CA; tell MLflow to trust it:\n\n  export MLFLOW_TRACKING_SERVER_CERT_PATH=%s\n  (or REQUESTS_CA_BUNDLE=%s for every Python requests client)\n\n", ca, ca)
	}
	fmt.Fprint(out, authNote)
	if scoringPython != "" {
		fmt.Fprintf(out, "Online endpoints score with the mlflow of %s in every region.\n", scoringPython)
	} else {
		fmt.Fprintf(out, "Online endpoints are not served: start with --scoring-python PATH (a python with mlflow) to serve them.\n")
	}
	fmt.Fprintf(out, "Status: tandem status   Data: %s   Config: .tandem/config.json   Stop: Ctrl-C\n", dir)
}

// isLocalHost reports whether host names this machine (loopback).
func isLocalHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
