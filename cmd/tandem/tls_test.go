package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/tlsconf"
)

// threeFreePorts finds a port p with p+1 and p+2 free too (tandem up uses
// them for the second region and the witness).
func threeFreePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ok := true
		var lns []net.Listener
		for _, q := range []int{p + 1, p + 2} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, l)
		}
		ln.Close()
		for _, l := range lns {
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no three consecutive free ports")
	return 0
}

// TestUpTLS runs `tandem up --tls` (two region processes and the witness
// over https with the generated CA, peers required to present client
// certificates) and checks replication, a write forwarded by the
// secondary, `tandem status`, and the peer certificate requirement.
func TestUpTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := threeFreePorts(t)
	data := filepath.Join(work, "data")
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	// Authentication is on (tandem up's default): the owner token goes to
	// $HOME/.tandem/credentials.
	home := filepath.Join(work, "home")
	env := append(os.Environ(), "HOME="+home, "TANDEM_TOKEN=", "TANDEM_WORKSPACE=", "TANDEM_CONFIG=", "TANDEM_NO_AUTH=")
	up := exec.CommandContext(ctx, bin, "up", "--tls", "--dir", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "warn")
	up.Dir = work
	up.Env = env
	up.Stdout, up.Stderr = &out, &out
	up.Cancel = func() error { return up.Process.Signal(os.Interrupt) }
	up.WaitDelay = 30 * time.Second
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); up.Wait() })

	cfgPath := filepath.Join(work, client.ConfigDir, client.ConfigFile)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(cfgPath); err == nil {
			break
		}
		if time.Now().After(deadline) || up.ProcessState != nil {
			t.Fatalf("tandem up --tls did not come up:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cc, err := client.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(data, "tls", "ca.crt")
	if cc.CAFile != caFile || !strings.HasPrefix(cc.Endpoints[0], "https://") || !strings.HasPrefix(cc.Endpoints[1], "https://") {
		t.Fatalf("config.json: %+v", cc)
	}
	if !strings.Contains(out.String(), "MLFLOW_TRACKING_SERVER_CERT_PATH="+caFile) {
		t.Errorf("tandem up does not say how to point MLflow at the CA:\n%s", out.String())
	}
	hc, err := client.HTTPClient(*cc)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := client.LoadCredentials(client.CredentialsPath(home))
	if err != nil || creds.Workspaces[cc.Workspace] == "" {
		t.Fatalf("no owner token in %s: %v", client.CredentialsPath(home), err)
	}
	owner := creds.Workspaces[cc.Workspace]
	east, west := cc.Endpoints[0], cc.Endpoints[1]
	post := func(base, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s%s: %v", base, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// A write to the secondary is forwarded to the primary over https
	// with west's client certificate, and replicates back.
	if code, body := post(west, "/api/2.0/mlflow/experiments/create", `{"name":"over-tls"}`); code != 200 {
		t.Fatalf("write on the secondary: %d %s", code, body)
	}
	for _, base := range []string{east, west} {
		req, _ := http.NewRequest("GET", base+"/api/2.0/mlflow/experiments/get-by-name?experiment_name=over-tls", nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s does not have the experiment: %s", base, resp.Status)
		}
	}
	// tandem status reads both regions over https: found through
	// config.json's workspace_file, with the peer key and the workspace's
	// client certificate; with --config, through its ca_file and the
	// owner token.
	for _, args := range [][]string{{"status", "--json"}, {"status", "--json", "--config", cfgPath}} {
		st := exec.Command(bin, args...)
		st.Dir, st.Env = work, env
		sout, err := st.CombinedOutput()
		if err != nil {
			t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, sout)
		}
		var doc struct {
			Regions []client.RegionStatus `json:"regions"`
		}
		if err := json.Unmarshal(sout, &doc); err != nil || len(doc.Regions) != 2 {
			t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, sout)
		}
		for _, r := range doc.Regions {
			if r.Replication == nil {
				t.Errorf("tandem %s: status of %s: %s", strings.Join(args, " "), r.URL, r.Error)
			}
		}
	}
	// A failover verb (the peer key, over https with the workspace's
	// client certificate) reads every region's history.
	hist := exec.Command(bin, "history")
	hist.Dir, hist.Env = work, env
	if hout, err := hist.CombinedOutput(); err != nil || !strings.Contains(string(hout), "east") {
		t.Fatalf("tandem history: %v\n%s", err, hout)
	}
	// A peer request (the peer key) without a client certificate is
	// refused; with a certificate of the workspace CA it is served.
	key, err := os.ReadFile(filepath.Join(data, "peer.key"))
	if err != nil {
		t.Fatal(err)
	}
	token := replication.Token(bytes.TrimSpace(key))
	journal := func(c *http.Client) (int, string) {
		req, _ := http.NewRequest("GET", east+replication.Prefix+"journal?after=0&wait=0", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := journal(hc); code != 401 || !strings.Contains(body, "client certificate") {
		t.Errorf("peer request without a client certificate: %d %s", code, body)
	}
	pc, err := tlsconf.Client(tlsconf.Files{Cert: filepath.Join(data, "tls", "operator.crt"), Key: filepath.Join(data, "tls", "operator.key"), CA: caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := journal(&http.Client{Transport: tlsconf.Transport(pc)}); code != 200 {
		t.Errorf("peer request with a client certificate: %d %s", code, body)
	}
	// Plain HTTP to an https region does not reach the API.
	if resp, err := http.Get(strings.Replace(east, "https://", "http://", 1) + "/api/2.0/mlflow/experiments/search"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served")
		}
	}
}
