// Package deploy holds no Go code: its tests check the monitoring files
// beside them (prometheus/alerts.yml, grafana/tandem-dashboard.json) with
// a stock Prometheus and promtool, against regions that really run.
package deploy_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/testbin"
)

// tool finds a Prometheus binary: env var (TANDEM_PROMETHEUS names the
// folder holding prometheus and promtool), then PATH. Missing: skip, or
// fail when TANDEM_REQUIRE_PROMETHEUS=1 (scripts/test.sh installs Debian's
// prometheus package and sets it).
func tool(t *testing.T, name string) string {
	t.Helper()
	tool := testbin.Tool{Name: name, Path: []string{name}, Require: "TANDEM_REQUIRE_PROMETHEUS", Hint: "apt-get install prometheus"}
	if d := os.Getenv("TANDEM_PROMETHEUS"); d != "" {
		tool.Repo, tool.Path = []string{filepath.Join(d, name)}, nil
	}
	return testbin.Find(t, tool)
}

var metricName = regexp.MustCompile(`\btandem_[a-z_]+`)

// usedNames returns the tandem_* metric names the alert rules and the
// dashboard query (histogram series suffixes removed).
func usedNames(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{}
	add := func(file, text string) {
		for _, m := range metricName.FindAllString(text, -1) {
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasSuffix(m, "_seconds"+suf) {
					m = strings.TrimSuffix(m, suf)
				}
			}
			used[m] = file
		}
	}
	rules, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "expr:") {
			add("alerts.yml", s)
		}
	}
	b, err := os.ReadFile("grafana/tandem-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct {
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q queries nothing", p.Title)
		}
		for _, q := range p.Targets {
			add("tandem-dashboard.json", q.Expr)
		}
	}
	for _, a := range dash.Annotations.List {
		add("tandem-dashboard.json", a.Expr)
	}
	return used
}

// TestMonitoringNamesExist: every tandem_* metric the alert rules and the
// dashboard query is one the code defines (a renamed metric would leave
// an alert that can never fire).
func TestMonitoringNamesExist(t *testing.T) {
	defined := map[string]bool{}
	lit := regexp.MustCompile(`"(tandem_[a-z_]+)"`)
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".tandem" || d.Name() == "python" || strings.HasPrefix(d.Name(), ".")) && p != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !defined["tandem_region_primary"] {
		t.Fatal("the walk found none of the metric names (wrong folder?)")
	}
	used := usedNames(t)
	if len(used) < 5 {
		t.Fatalf("only %d metric names found in the monitoring files", len(used))
	}
	for name, file := range used {
		if !defined[name] {
			t.Errorf("%s queries %s, which no code defines", file, name)
		}
	}
}

// TestAlertRules checks the rules with promtool and runs their unit tests
// (prometheus/alerts_test.yml: lag, region down, no primary, failover).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "prometheus/alerts.yml"}, {"test", "rules", "prometheus/alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func freePort(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestPrometheusScrapesTwoRegions runs a stock Prometheus with the repo's
// alert rules against a two-region workspace: both regions are scraped
// (one primary, one secondary), and when the secondary is stopped the
// region-down alert becomes active for it and the primary's view of the
// secondary stops advancing.
func TestPrometheusScrapesTwoRegions(t *testing.T) {
	prom := tool(t, "prometheus")
	w := regiontest.Start(t, regiontest.Options{})
	east, west := strings.TrimPrefix(w.URLs[0], "http://"), strings.TrimPrefix(w.URLs[1], "http://")

	dir := t.TempDir()
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	promLn := freePort(t)
	promAddr := promLn.Addr().String()
	promLn.Close()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: tandem
    static_configs: [{targets: [%q, %q]}]
`, rules, east, west)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })

	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	query := func(q string) []sample {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + strings.ReplaceAll(q, " ", "%20"))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Result []sample `json:"result"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Data.Result
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
				t.Fatalf("timed out waiting for %s\nprometheus log:\n%s", what, log)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	roles := map[string]string{}
	waitFor("both regions scraped, one primary", 60*time.Second, func() bool {
		for _, s := range query("tandem_region_primary") {
			roles[s.Metric["region"]] = fmt.Sprint(s.Value[1])
		}
		return roles["east"] == "1" && roles["west"] == "0"
	})
	waitFor("the primary's view of west", 60*time.Second, func() bool {
		return len(query(`tandem_replication_follower_last_seen_timestamp_seconds{secondary="west"}`)) == 1
	})

	w.Stop(1) // stop the secondary
	waitFor("TandemRegionDown active for west", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + promAddr + "/api/v1/alerts")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		for _, a := range out.Data.Alerts {
			if a.Labels["alertname"] == "TandemRegionDown" && a.Labels["instance"] == west && (a.State == "pending" || a.State == "firing") {
				return true
			}
			if a.Labels["alertname"] == "TandemRegionDown" && a.Labels["instance"] != west {
				t.Errorf("TandemRegionDown for %s, which runs", a.Labels["instance"])
			}
		}
		return false
	})
	// The lag alert's expression: the time since east last heard from west
	// grows once west is gone.
	var first float64
	waitFor("the time since east heard from west to grow", 60*time.Second, func() bool {
		r := query(`time() - tandem_replication_follower_last_seen_timestamp_seconds{secondary="west"}`)
		if len(r) != 1 {
			return false
		}
		var v float64
		fmt.Sscan(fmt.Sprint(r[0].Value[1]), &v)
		if first == 0 {
			first = v
			return false
		}
		return v > first+2
	})
}
