package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem/client"
)

// startWithAuth runs `tandem up` with authentication on (the owner token
// goes to $HOME/.tandem/credentials, which the CLI verbs read).
func (u *upWorkspace) startWithAuth() {
	u.t.Helper()
	u.out = &lockedBuffer{}
	u.cmd = exec.Command(u.bin, "up", "--dir", "data", "--listen", u.addr)
	u.cmd.Dir = u.dir
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	if err := u.cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	exited := make(chan struct{})
	u.exited = exited
	cmd := u.cmd
	go func() { u.waitErr = cmd.Wait(); close(exited) }()
	u.t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); <-exited })
	for !strings.Contains(u.out.String(), "Stop: Ctrl-C") {
		select {
		case <-exited:
			u.t.Fatalf("tandem up exited before it was up: %v\n%s", u.waitErr, u.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

const desiredSections = `compute:
  - name: cpu
    type: local
    max_instances: 4
    regions: {east: {}, west: {max_instances: 2}}
datastores:
  - file: blob.yaml
roles:
  - {name: Run Logger, actions: ["Microsoft.MachineLearningServices/workspaces/experiments/*"]}
role_assignments:
  - {role: Run Logger, assignee: ci-bot, scope: /}
endpoints:
  - name: iris
    deployments: [{name: blue, model: "azureml:iris-model:1", environment: "sklearn:1", compute: cpu, instance_count: 1, traffic: 100,
                   regions: {west: {instance_count: 2}}}]
assets:
  environments: [sklearn.yaml]
  components: [train.yaml]
`

// TestPlanApplyDrift: a real two-region workspace (tandem up, auth on).
// plan on the empty workspace lists everything; apply converges; a second
// plan shows no changes; an apply killed halfway resumes without doing
// anything twice and a saved plan older than the state is refused; a role changed by hand is drift in every region's
// status, /metrics and plan; a saved plan made before it is refused; apply
// repairs it and the drift clears.
func TestPlanApplyDrift(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("TANDEM_DRIFT_INTERVAL", "200ms")
	u := newUpWorkspace(t)
	u.startWithAuth()
	data := filepath.Join(u.dir, "data")
	ws := filepath.Join(data, "workspace.yaml")
	b, err := os.ReadFile(ws)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(b), "secrets: {keeper: {file: workspace.key}}", "secrets: {keeper: {file: workspace.key}, names: [blob-key]}", 1)
	files := map[string]string{
		"workspace.yaml": body + desiredSections,
		"blob.yaml":      "name: blob\ntype: s3\nbucket: training\nendpoint: http://127.0.0.1:57070\ncredentials:\n  access_key_id: ${{secrets.blob-key}}\n  secret_access_key: ${{secrets.blob-key}}\n",
		"sklearn.yaml":   "name: sklearn\nversion: \"1\"\nimage: python:3.12-slim\n",
		"train.yaml":     "name: train\nversion: \"1\"\ntype: command\ncommand: python -c 'print(1)'\nenvironment: azureml:sklearn:1\n",
		"role.yml":       "name: Run Logger\nactions: ['*']\n",
		"secret.txt":     "not-a-real-key",
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(data, n), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A missing secret is an error: exit 1, nothing to apply.
	out, err := u.tandem("plan", "-f", ws)
	if exitOf(err) != 1 || !strings.Contains(out, `secret "blob-key" is not in the key vault`) {
		t.Fatalf("plan without the secret: exit %d\n%s", exitOf(err), out)
	}
	u.mustTandem("secret", "set", "blob-key", "--value-file", filepath.Join(data, "secret.txt"))
	u.mustTandem("sp", "create", "ci-bot")
	abs, _ := filepath.Abs(filepath.Join(projectDir, "model.yaml"))
	u.mustTandem("model", "create", "-f", abs) // iris-model version 1, which the deployment serves

	out, err = u.tandem("plan", "-f", ws)
	for _, want := range []string{`+ role "Run Logger"`, `+ role_assignment "Run Logger|ci-bot|/"`, `+ datastore "blob"`,
		`+ environment "sklearn:1"`, `+ component "train:1"`, `+ compute "cpu"`, `+ endpoint "iris"`, `+ deployment "iris/blue"`,
		"Plan: 8 to add, 0 to change, 0 to destroy.", "Plan: 1 to add, 0 to change, 0 to destroy.", "Total: Plan: 9 to add, 0 to change, 0 to destroy."} {
		if !strings.Contains(out, want) {
			t.Fatalf("plan on the empty workspace lacks %q (exit %d):\n%s", want, exitOf(err), out)
		}
	}
	if exitOf(err) != 2 {
		t.Fatalf("plan with changes: exit %d, want 2\n%s", exitOf(err), out)
	}
	if i, j := strings.Index(out, `+ environment "sklearn:1"`), strings.Index(out, `+ component "train:1"`); i > j {
		t.Fatalf("the component comes before its environment:\n%s", out)
	}
	planFile := filepath.Join(u.dir, "plan.json")
	if _, err := u.tandem("plan", "-f", ws, "--out", planFile); exitOf(err) != 2 {
		t.Fatal(err)
	}

	// An apply killed halfway: once it reports its second action done, the
	// primary is paused (so the next request hangs) and the apply killed.
	apply := exec.Command(u.bin, "apply", "-f", ws)
	apply.Dir = u.dir
	apply.Env = append(os.Environ(), "TANDEM_WORKSPACE=", "TANDEM_CONFIG=")
	pipe, err := apply.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := apply.Start(); err != nil {
		t.Fatal(err)
	}
	east := regionPID(t, u.cmd.Process.Pid, "east")
	var seen strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "[2/9] ") && strings.HasSuffix(sc.Text(), " done") {
			syscall.Kill(east, syscall.SIGSTOP)
			break
		}
	}
	apply.Process.Kill()
	apply.Wait()
	syscall.Kill(east, syscall.SIGCONT)
	if !strings.Contains(seen.String(), "[2/9] ") || strings.Contains(seen.String(), "Apply complete") {
		t.Fatalf("the interrupted apply:\n%s", seen.String())
	}
	// The saved plan was made before: refused. The next apply resumes.
	if out, err := u.tandem("apply", planFile); exitOf(err) != 4 || !strings.Contains(out, "the regions' state changed since") {
		t.Fatalf("a stale saved plan: exit %d\n%s", exitOf(err), out)
	}
	out = u.mustTandem("apply", "-f", ws)
	if n := strings.Count(out, " ... done"); n == 0 || n > 7 || !strings.Contains(out, "Apply complete!") || strings.Contains(out, `create role "Run Logger"`) {
		t.Fatalf("the resumed apply should do only what the killed one left (at most 7 actions):\n%s", out)
	}
	// The endpoint serves everywhere, its deployment with all the traffic,
	// one instance in east and two in west.
	if out := u.mustTandem("online-deployment", "show", "--endpoint-name", "iris", "-n", "blue", "-o", "json"); !strings.Contains(out, `"instance_count": 2,`) ||
		!strings.Contains(out, "\"instance_counts\": {\n    \"east\": 1\n  }") || !strings.Contains(out, `"compute": "cpu"`) {
		t.Fatalf("the applied deployment:\n%s", out)
	}
	if out := u.mustTandem("online-endpoint", "show", "-n", "iris", "-o", "json"); !strings.Contains(out, `"blue": 100`) {
		t.Fatalf("the applied endpoint's traffic:\n%s", out)
	}
	// Each region has its compute, with its own quota.
	for region, max := range map[string]string{"east": "4", "west": "2"} {
		if out := u.mustTandem("compute", "show", "-n", "cpu", "--region", region, "-o", "json"); !strings.Contains(out, `"max_instances": `+max) {
			t.Fatalf("compute cpu in %s:\n%s", region, out)
		}
	}
	out, err = u.tandem("plan", "-f", ws)
	if exitOf(err) != 0 || !strings.Contains(out, "Total: Plan: 0 to add, 0 to change, 0 to destroy.") {
		t.Fatalf("plan after apply: exit %d\n%s", exitOf(err), out)
	}
	if out := u.mustTandem("role", "assignment", "list", "-o", "json"); strings.Count(out, `"assignee": "ci-bot"`) != 1 {
		t.Fatalf("assignments after apply:\n%s", out)
	}

	// By hand: the role gets other actions. Both regions see the drift.
	u.mustTandem("role", "create", "-f", filepath.Join(data, "role.yml"))
	waitFor(t, "drift in both regions' status", func() (bool, string) {
		out, _ := u.tandem("status", "--workspace", ws)
		return strings.Contains(out, `east: 1 drifted: role "Run Logger" changed`) && strings.Contains(out, `west: 1 drifted: role "Run Logger" changed`), out
	})
	metrics := regionMetrics(t, "http://"+u.addr+"/metrics")
	if !strings.Contains(metrics, `tandem_desired_drifted_objects{kind="role",region="east"} 1`) ||
		!strings.Contains(metrics, `tandem_desired_drifted_objects{kind="datastore",region="east"} 0`) {
		t.Fatalf("metrics lack the drift gauge:\n%s", grepLines(metrics, "tandem_desired"))
	}
	out, err = u.tandem("plan", "-f", ws)
	if exitOf(err) != 2 || !strings.Contains(out, `~ role "Run Logger"   # drifted: changed outside tandem apply`) ||
		!strings.Contains(out, `west: role "Run Logger": actions ["*"]`) {
		t.Fatalf("plan after the hand-made change: exit %d\n%s", exitOf(err), out)
	}
	out = u.mustTandem("apply", "-f", ws)
	if !strings.Contains(out, "update role \"Run Logger\" ... done") || !strings.Contains(out, "Apply complete! 0 added, 1 changed, 0 destroyed.") {
		t.Fatalf("apply repairing the drift:\n%s", out)
	}
	if out, err := u.tandem("plan", "-f", ws); exitOf(err) != 0 {
		t.Fatalf("plan after the repair: exit %d\n%s", exitOf(err), out)
	}
	waitFor(t, "no drift in status", func() (bool, string) {
		out, _ := u.tandem("status", "--workspace", ws)
		return strings.Contains(out, "east: no drift") && strings.Contains(out, "west: no drift"), out
	})

	// By hand: compute deleted in one region. West's drift, and only
	// west's; apply creates it there again.
	u.mustTandem("compute", "delete", "-n", "cpu", "--region", "west")
	waitFor(t, "compute drift in west", func() (bool, string) {
		out, _ := u.tandem("status", "--workspace", ws)
		return strings.Contains(out, `west: 1 drifted: compute "cpu" missing`) && strings.Contains(out, "east: no drift"), out
	})
	out = u.mustTandem("apply", "-f", ws)
	if !strings.Contains(out, `west: create compute "cpu" ... done`) || !strings.Contains(out, "Apply complete! 1 added, 0 changed, 0 destroyed.") {
		t.Fatalf("apply repairing the compute:\n%s", out)
	}
	waitFor(t, "no compute drift", func() (bool, string) {
		out, _ := u.tandem("status", "--workspace", ws)
		return strings.Contains(out, "east: no drift") && strings.Contains(out, "west: no drift"), out
	})

	// The jobs: section is applied to every region, running as they are:
	// both schedule by the new workspace quota with no restart.
	withJobs := body + desiredSections + "jobs:\n  max_instances: 3\n  resubmit: {policy: never, max_attempts: 1}\n"
	if err := os.WriteFile(ws, []byte(withJobs), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = u.tandem("plan", "-f", ws)
	if exitOf(err) != 2 || !strings.Contains(out, `+ settings "jobs"`) {
		t.Fatalf("plan with a jobs: section: exit %d\n%s", exitOf(err), out)
	}
	out = u.mustTandem("apply", "-f", ws)
	if !strings.Contains(out, `create settings "jobs" ... done`) {
		t.Fatalf("apply of the jobs: section:\n%s", out)
	}
	for _, region := range []string{"east", "west"} {
		waitFor(t, region+" schedules by the applied quota", func() (bool, string) {
			out, _ := u.tandem("compute", "show", "-n", "local", "--region", region, "-o", "json")
			return strings.Contains(out, `"workspace_max_instances": 3`), out
		})
	}
	if out, err := u.tandem("plan", "-f", ws); exitOf(err) != 0 {
		t.Fatalf("plan after applying the jobs: section: exit %d\n%s", exitOf(err), out)
	}
	// A changed quota is an update; the section dropped, the settings go.
	if err := os.WriteFile(ws, []byte(strings.Replace(withJobs, "max_instances: 3", "max_instances: 5", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := u.mustTandem("apply", "-f", ws); !strings.Contains(out, `update settings "jobs" ... done`) {
		t.Fatalf("apply of a changed quota:\n%s", out)
	}
	if err := os.WriteFile(ws, []byte(body+desiredSections), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := u.mustTandem("apply", "-f", ws); !strings.Contains(out, `delete settings "jobs" ... done`) {
		t.Fatalf("apply without the jobs: section:\n%s", out)
	}
	waitFor(t, "west back to no workspace quota", func() (bool, string) {
		out, _ := u.tandem("compute", "show", "-n", "local", "--region", "west", "-o", "json")
		return !strings.Contains(out, `"workspace_max_instances"`), out
	})

	// So is the quotas: section; a quota the declared deployments do not
	// fit is a plan problem, not a half-done apply.
	withQuotas := body + desiredSections + "quotas:\n  endpoint_instances: 7\n  regions: {west: {endpoint_instances: 2}}\n"
	if err := os.WriteFile(ws, []byte(withQuotas), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = u.tandem("plan", "-f", ws)
	if exitOf(err) != 2 || !strings.Contains(out, `+ settings "quotas"`) {
		t.Fatalf("plan with a quotas: section: exit %d\n%s", exitOf(err), out)
	}
	if out := u.mustTandem("apply", "-f", ws); !strings.Contains(out, `create settings "quotas" ... done`) {
		t.Fatalf("apply of the quotas: section:\n%s", out)
	}
	if out, err := u.tandem("plan", "-f", ws); exitOf(err) != 0 {
		t.Fatalf("plan after applying the quotas: section: exit %d\n%s", exitOf(err), out)
	}
	if err := os.WriteFile(ws, []byte(strings.Replace(withQuotas, "west: {endpoint_instances: 2}", "west: {endpoint_instances: 1}", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := u.tandem("plan", "-f", ws); exitOf(err) != 1 || !strings.Contains(out, "quotas.endpoint_instances allows 1") {
		t.Fatalf("plan with a quota the deployments do not fit: exit %d\n%s", exitOf(err), out)
	}
	if err := os.WriteFile(ws, []byte(body+desiredSections), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := u.mustTandem("apply", "-f", ws); !strings.Contains(out, `delete settings "quotas" ... done`) {
		t.Fatalf("apply without the quotas: section:\n%s", out)
	}
}

func waitFor(t *testing.T, what string, ok func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		done, last := ok()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s; last:\n%s", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func regionMetrics(t *testing.T, u string) string {
	req, _ := http.NewRequestWithContext(t.Context(), "GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+client.Token("local"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
