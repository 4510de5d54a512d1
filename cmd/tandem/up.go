package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	"github.com/tandemml/tandem/workspace"
)

func newUpCmd() *cobra.Command {
	var dir, listen, name string
	var useTLS bool
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
			hc, err := workspaceHTTPClient(ws) // tls.go
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
			for _, r := range ws.Regions {
				c := exec.Command(exe, "server", "--config", wsPath, "--region", r.Name, "--log-level", logLevel, "--log-format", logFormat)
				c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
				c.Env = os.Environ()
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
			for _, r := range ws.Regions {
				if err := waitHealthy(ctx, hc, r.URL, 30*time.Second); err != nil {
					stopAll()
					return fmt.Errorf("region %s did not start: %w", r.Name, err)
				}
			}
			if ws.Witness != "" {
				// Announce the workspace only once the primary holds the
				// lease and every region knows who it is.
				if err := waitElected(ctx, hc, ws, 60*time.Second); err != nil {
					stopAll()
					return err
				}
			}
			// The client config lists the primary first: clients try the
			// endpoints in order.
			p, _ := ws.Region(ws.Primary)
			cc := &client.Config{Workspace: ws.Name, Endpoints: []string{p.URL}, CAFile: ws.ClientTLS().CA}
			for _, r := range ws.Regions {
				if r.Name != ws.Primary {
					cc.Endpoints = append(cc.Endpoints, r.URL)
				}
			}
			if _, err := client.WriteConfig(".", cc); err != nil {
				stopAll()
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\ntandem is up: workspace %q, %d regions.\n\n", ws.Name, len(ws.Regions))
			for _, r := range ws.Regions {
				role := "secondary"
				if r.Name == ws.Primary {
					role = "primary"
				}
				fmt.Fprintf(out, "  %-8s %-10s %s\n", r.Name, role, r.URL)
			}
			fmt.Fprintf(out, "\nPoint MLflow at either region (writes to a secondary are forwarded):\n\n  export MLFLOW_TRACKING_URI=%s\n\n", p.URL)
			if cc.CAFile != "" {
				fmt.Fprintf(out, "The regions serve https with certificates of a local CA; tell MLflow to trust it:\n\n  export MLFLOW_TRACKING_SERVER_CERT_PATH=%s\n  (or REQUESTS_CA_BUNDLE=%s for every Python requests client)\n\n", cc.CAFile, cc.CAFile)
			}
			fmt.Fprintf(out, "Status: tandem status   Data: %s   Config: .tandem/config.json   Stop: Ctrl-C\n", abs)
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

func waitHealthy(ctx context.Context, hc *http.Client, base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/health", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("health answered %d", resp.StatusCode)
			}
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isLocalHost reports whether host names this machine (loopback).
func isLocalHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// waitElected waits until the configured primary accepts writes and every
// region reports it as primary.
func waitElected(ctx context.Context, hc *http.Client, ws *workspace.Workspace, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ok := true
		for _, r := range ws.Regions {
			var st struct {
				Primary       string `json:"primary"`
				WritesAllowed bool   `json:"writes_allowed"`
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", r.URL+"/api/tandem/v1/failover/status", nil)
			resp, err := hc.Do(req)
			if err != nil {
				ok = false
				break
			}
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil || st.Primary != ws.Primary || (r.Name == ws.Primary && !st.WritesAllowed) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return tandem.Errorf(tandem.EUNAVAILABLE, "no primary elected within %s: is the witness at %s reachable?", d, ws.Witness)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
