//go:build tandemtest

package console_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/browsertest"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/witness/witnesstest"
)

// call sends one JSON request and fails the test unless it answers 2xx.
func call(t *testing.T, method, url, authz string, body any) map[string]any {
	t.Helper()
	code, out := regiontest.Send(t, method, url, authz, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: %d %v", method, url, code, out)
	}
	return out
}

// TestConsoleShowsFailoverLive opens the console of a two-region
// workspace (authentication on) in headless Chromium, signs in as a
// Reader with a user name and password, sees both regions with their
// roles, then switches the primary over with the failover API the CLI
// uses and sees, without a reload, the roles swap and the failover appear
// on the timeline.
func TestConsoleShowsFailoverLive(t *testing.T) {
	tab := browsertest.New(t) // skips first when there is no browser
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auditDir := t.TempDir()
	w := startWithSecrets(t, func(name string, cfg *region.Config) {
		cfg.Auth = &region.AuthConfig{BootstrapToken: owner, AuditPath: filepath.Join(auditDir, name+".audit.jsonl")}
		cfg.WorkDir = filepath.Join(auditDir, name+"-work")
	})
	east := w.URLs[0]
	rs := w.Client(t)
	ctx := context.Background()
	if _, err := rs.WaitElected(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}

	// A Reader with a password; wait until west has it too.
	ob := "Bearer " + owner
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest("GET", east+"/api/tandem/v1/whoami", nil)
		req.Header.Set("Authorization", ob)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the bootstrap owner never became usable on east")
		}
		time.Sleep(100 * time.Millisecond)
	}
	call(t, "POST", east+"/api/tandem/v1/principals", ob, map[string]any{"name": "ana", "kind": "user"})
	call(t, "PUT", east+"/api/tandem/v1/principals/ana/password", ob, map[string]any{"password": "console-pass-1"})
	call(t, "POST", east+"/api/tandem/v1/role-assignments", ob, map[string]any{"role": "Reader", "assignee": "ana", "scope": "/"})
	anaBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ana:console-pass-1"))

	// Without the script's header a 401 challenges (the MLflow UI relies
	// on the browser's prompt); the console's requests get no challenge.
	for _, xrw := range []string{"", "XMLHttpRequest"} {
		req, _ := http.NewRequest("GET", east+"/api/tandem/v1/regions", nil)
		if xrw != "" {
			req.Header.Set("X-Requested-With", xrw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || (resp.Header.Get("WWW-Authenticate") == "") != (xrw != "") {
			t.Fatalf("unauthenticated regions read (X-Requested-With %q): %d, WWW-Authenticate %q", xrw, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}

	tab.Do("open the console", chromedp.Navigate(east+"/console/"))
	tab.WaitFor("the sign-in form", 30*time.Second, `!document.getElementById("signin").hidden`)
	tab.Do("sign in",
		chromedp.SendKeys(chromedp.CSS("#signin-user"), "ana"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), "console-pass-1"),
		chromedp.Click(chromedp.CSS("#signin-submit")))
	tab.WaitFor("signed in as ana", 30*time.Second, `document.getElementById("whoami").textContent.startsWith("ana")`)
	if got := browsertest.Eval[string](tab, `sessionStorage.getItem("tandem.console.authorization")`); got != anaBasic {
		t.Fatalf("sessionStorage holds %q, want the basic credentials the form built", got)
	}
	tab.WaitFor("east primary, west secondary", 60*time.Second,
		`!!document.querySelector('[data-region="east"][data-role="primary"][data-health="ok"]') && !!document.querySelector('[data-region="west"][data-role="secondary"][data-health="ok"]')`)
	// Lag samples accumulate: the plot's line for west has several points.
	tab.WaitFor("a lag line for west", 60*time.Second,
		`(() => { const l = document.querySelector('polyline[data-series="west"]'); return !!l && l.getAttribute("points").split(" ").length >= 3; })()`)
	if s := browsertest.Eval[string](tab, `document.getElementById("summary").textContent`); !strings.Contains(s, "primary east, epoch") {
		t.Fatalf("header summary %q does not name east as primary", s)
	}
	tab.Screenshot("console-regions")

	// A job, submitted by the owner, seen by the Reader with its attempt
	// and its output as it comes.
	t.Setenv("TANDEM_TEST_CONSOLE_TOKEN", owner)
	oc, err := client.New(client.Config{Workspace: "test", Endpoints: w.URLs, Auth: client.Auth{Type: "bearer_env", TokenEnv: "TANDEM_TEST_CONSOLE_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "console-job",
		Command: "echo first line from the job; sleep 2; echo second line from the job"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	envDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(envDir, "conda.yaml"), []byte("name: sk\ndependencies:\n  - python=3.11\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.CreateAsset(ctx, &tandem.Asset{Kind: tandem.AssetEnvironment, Name: "sk-env", Version: "1", Description: "for the console test",
		Spec: &tandem.Environment{Image: "python:3.11-slim", CondaFile: "conda.yaml"}}, envDir); err != nil {
		t.Fatal(err)
	}
	tab.Do("jobs tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#jobs"`))
	tab.WaitFor("the job in the list", 30*time.Second, `!!document.querySelector('tr[data-job="console-job"] button')`)
	tab.Do("open the job", chromedp.Click(chromedp.CSS(`tr[data-job="console-job"] button`)))
	tab.WaitFor("the job's attempt on east and its whole output", 90*time.Second,
		`(() => { const d = document.getElementById("job-detail"); const log = document.getElementById("job-log");
		  return !!d && !!d.querySelector('tr[data-attempt="1"]') && d.textContent.includes("east") &&
		    !!log && log.textContent.includes("first line from the job") && log.textContent.includes("second line from the job") &&
		    d.querySelector("h2").textContent.includes("Completed"); })()`)
	if n := browsertest.Eval[int](tab, `document.getElementById("job-log").textContent.split("first line from the job").length - 1`); n != 1 {
		t.Fatalf("the live output shows the first line %d times: the offsets were not followed", n)
	}
	tab.Screenshot("console-jobs")
	tab.Do("back to the regions", chromedp.Evaluate[chromedp.Void](`location.hash = "#regions"`))

	// The page must not reload from here on: a marker in its JS realm
	// would disappear.
	browsertest.Eval[bool](tab, `window.__noReload = true`)
	if _, err := rs.Failover(ctx, client.FailoverOptions{To: "west", Wait: time.Minute}); err != nil {
		t.Fatalf("switchover to west: %v", err)
	}
	tab.WaitFor("west primary, east secondary, same page", 60*time.Second,
		`window.__noReload === true && !!document.querySelector('[data-region="west"][data-role="primary"]') && !!document.querySelector('[data-region="east"][data-role="secondary"]')`)

	tab.Do("open the failovers tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#failovers"`))
	tab.WaitFor("the switchover on the timeline", 30*time.Second,
		`window.__noReload === true && (() => { const e = document.querySelector('#timeline li[data-primary="west"]'); return !!e && e.textContent.includes("east \u2192 west"); })()`)
	epochs := browsertest.Eval[[]string](tab, `[...document.querySelectorAll("#timeline li")].map(e => e.dataset.epoch + ":" + e.dataset.primary)`)
	if len(epochs) < 2 || !strings.HasSuffix(epochs[0], ":west") {
		t.Fatalf("timeline (newest first) %v: want the west epoch on top of east's", epochs)
	}
	tab.Screenshot("console-failovers")

	// The other tabs read their APIs with the Reader's credentials.
	tab.Do("divergence tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#divergence"`))
	tab.WaitFor("no divergence report, read from both regions", 30*time.Second, `!!document.querySelector("#view .none")`)

	// East, now a secondary, keeps a divergent tail (one drill.record
	// entry): the Reader sees the report, and no Replay button.
	kept := keptDrill(t, w, 0)
	tab.WaitFor("east's report, without a Replay button for the Reader", 30*time.Second,
		fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-report=%q]'); return !!r && !r.querySelector("button[data-replay]") && r.textContent.includes("tandem divergence replay"); })()`, kept.ID))

	// A drill recorded by the owner is listed for the Reader.
	now := time.Now()
	recorded := call(t, "POST", east+"/api/tandem/v1/drills", ob, tandem.DrillRecord{Target: tandem.DrillTargetWorkspace, StartedMS: now.Add(-8 * time.Second).UnixMilli(),
		FinishedMS: now.UnixMilli(), Fault: "switchover", Durability: "async", OldPrimary: "east", NewPrimary: "west", Rounds: 1, RTOSeconds: 0.07,
		Acknowledged: 321, FailedBack: true, VerifyOK: true, Passed: true})
	tab.Do("drills tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#drills"`))
	tab.WaitFor("the recorded drill with its figures", 30*time.Second,
		fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-drill=%q][data-passed="yes"]'); return !!r && r.textContent.includes("switchover") && r.textContent.includes("0.07 s") && r.textContent.includes("321") && r.textContent.includes("pass"); })()`, recorded["id"]))
	tab.Screenshot("console-drills")
	// An endpoint placed in both regions with two deployments split 70/30
	// and a third that gets a 10% mirror (no scoring process: the regions have no Python);
	// two requests scored on east show in east's row only, live.
	call(t, "POST", east+"/api/2.0/mlflow/registered-models/create", ob, map[string]any{"name": "console-model"})
	call(t, "POST", east+"/api/2.0/mlflow/model-versions/create", ob, map[string]any{"name": "console-model", "source": "s3://no-such-bucket/model"})
	epURL := east + "/api/tandem/v1/online-endpoints/console-ep"
	epSpec := map[string]any{"name": "console-ep", "auth_mode": "aml_token", "regions": []string{"east", "west"}}
	call(t, "PUT", epURL, ob, epSpec)
	for _, d := range []string{"blue", "green", "shadow"} {
		call(t, "PUT", epURL+"/deployments/"+d, ob, map[string]any{"endpoint": "console-ep", "name": d, "model": "models:/console-model/1",
			"instance_count": 1, "instance_counts": map[string]int{"west": 2}})
	}
	epSpec["traffic"], epSpec["mirror_traffic"] = map[string]int{"blue": 70, "green": 30}, map[string]int{"shadow": 10}
	call(t, "PUT", epURL, ob, epSpec)
	tab.Do("endpoints tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#endpoints"`))
	tab.WaitFor("the endpoint with its split, deployments and both regions", 60*time.Second,
		`(() => { const c = document.querySelector('article.endpoint[data-endpoint="console-ep"]'); if (!c) return false;
		  const seg = (k, d) => c.querySelector('svg[data-split="' + k + '"] rect[data-deployment="' + d + '"]');
		  return seg("traffic", "blue")?.getAttribute("width") === "70" && seg("traffic", "green")?.getAttribute("x") === "70" &&
		    seg("mirror", "shadow")?.getAttribute("width") === "10" && !seg("traffic", "shadow") &&
		    c.textContent.includes("aml_token") && c.querySelector("dl").textContent.includes("east, west") &&
		    c.querySelector('table.deployments tr[data-deployment="green"] td[data-region="west"]')?.textContent.startsWith("0/2 ready") &&
		    c.querySelector('table.deployments tr[data-deployment="blue"] td[data-region="east"]')?.textContent.startsWith("0/1 ready") &&
		    c.querySelector('tr[data-region="east"][data-requests="0"]') && c.querySelector('tr[data-region="west"][data-requests="0"]'); })()`)
	for range 2 {
		if code, out := regiontest.Send(t, "POST", east+"/endpoints/console-ep/score", ob, map[string]any{"inputs": [][]int{{1}}}); code != 503 {
			t.Fatalf("scoring without a process: %d %v, want 503", code, out)
		}
	}
	tab.WaitFor("east's row counting the two requests, west's still none", 30*time.Second,
		`(() => { const c = document.querySelector('article.endpoint[data-endpoint="console-ep"]');
		  const e = c?.querySelector('tr[data-region="east"][data-requests="2"]');
		  return !!e && e.querySelector("td.rate").textContent !== "0/s" && !!c.querySelector('tr[data-region="west"][data-requests="0"]'); })()`)
	tab.Screenshot("console-endpoints")
	tab.Do("assets tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#assets"`))
	tab.WaitFor("the environment in the asset list", 30*time.Second, `!!document.querySelector('.kindsel button[data-kind="environments"].active') && !!document.querySelector('button[data-asset="sk-env"]')`)
	tab.Do("open the environment", chromedp.Click(chromedp.CSS(`button[data-asset="sk-env"]`)))
	tab.WaitFor("the environment as YAML", 30*time.Second,
		`(() => { const y = document.querySelector("pre.yaml"); return !!y && y.textContent.includes("name: sk-env") && y.textContent.includes("  image: python:3.11-slim") && y.textContent.includes("  conda_file: conda.yaml"); })()`)
	tab.Screenshot("console-assets")
	tab.Do("drift tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#drift"`))
	tab.WaitFor("the drift report", 30*time.Second, `document.getElementById("view").textContent.includes("No desired state has been applied")`)
	tab.Do("audit tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#audit"`))
	tab.WaitFor("the audit log with the owner's writes", 30*time.Second,
		`(() => { const v = document.getElementById("view"); return v.textContent.includes("Audit log") && v.textContent.includes("/api/tandem/v1/role-assignments"); })()`)
	tab.Screenshot("console-audit")
	if !browsertest.Eval[bool](tab, `window.__noReload === true`) {
		t.Fatal("the page reloaded")
	}

	// The page ran without an exception or a CSP refusal; the only error
	// answers it met are the ones it handles (the jobs/endpoints APIs this
	// build may lack, the first unauthenticated whoami).
	before := tab.Problems()
	for _, p := range before {
		if strings.HasPrefix(p, "http 404") && (strings.Contains(p, "/jobs") || strings.Contains(p, "/online-endpoints")) {
			continue
		}
		if strings.HasPrefix(p, "http 401") && strings.HasSuffix(p, "/api/tandem/v1/whoami") {
			continue
		}
		if strings.Contains(p, "status of 401") || strings.Contains(p, "status of 404") {
			continue // the console's log line for the same answers
		}
		if strings.Contains(p, "403") && strings.HasSuffix(strings.TrimSuffix(p, ")"), "/api/tandem/v1/failover/divergence") {
			continue // asking once whether the Reader may replay
		}
		t.Errorf("page problem: %s", p)
	}

	// An administrator (Contributor) signs in with a token: east's report
	// has a Replay button, which replays its entry on the primary (west);
	// a second press says it was already replayed; the replayed drill is
	// then listed too, below the newer one.
	ops := call(t, "POST", east+"/api/tandem/v1/principals", ob, map[string]any{"name": "ops", "kind": "service_principal"})["token"].(string)
	call(t, "POST", east+"/api/tandem/v1/role-assignments", ob, map[string]any{"role": "Contributor", "assignee": "ops", "scope": "/"})
	tab.Do("sign out", chromedp.Click(chromedp.CSS("#signout")))
	tab.WaitFor("the sign-in form", 30*time.Second, `!document.getElementById("signin").hidden`)
	tab.Do("sign in as ops", chromedp.Evaluate[chromedp.Void](`location.hash = "#divergence"`),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), ops),
		chromedp.Click(chromedp.CSS("#signin-submit")))
	tab.WaitFor("a Replay button for the administrator", 60*time.Second,
		fmt.Sprintf(`document.getElementById("whoami").textContent.startsWith("ops") && !!document.querySelector('button[data-replay=%q]')`, kept.ID))
	tab.Screenshot("console-divergence-replay")
	tab.Do("replay", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-replay=%q]`, kept.ID))))
	tab.WaitFor("the entry replayed on west", 30*time.Second,
		fmt.Sprintf(`(() => { const p = document.querySelector('[data-replayed=%q]'); return !!p && p.textContent.startsWith("On west: 1 replayed (drill.record"); })()`, kept.ID))
	tab.Do("replay again", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-replay=%q]`, kept.ID))))
	tab.WaitFor("already replayed", 30*time.Second,
		fmt.Sprintf(`(() => { const p = document.querySelector('[data-replayed=%q]'); return !!p && p.textContent.includes("0 replayed, 1 already replayed"); })()`, kept.ID))
	tab.Do("drills tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#drills"`))
	tab.WaitFor("both drills, newest first", 30*time.Second,
		fmt.Sprintf(`(() => { const ids = [...document.querySelectorAll("tr[data-drill]")].map(r => r.dataset.drill); return ids.length === 2 && ids[0] === %q && ids[1] === %q; })()`, recorded["id"], kept.DrillID))

	// Sign out, then in with the token of a principal without a role: it
	// is told it may not read the status, and sees nothing of it.
	nobody := call(t, "POST", east+"/api/tandem/v1/principals", ob, map[string]any{"name": "nobody", "kind": "service_principal"})["token"].(string)
	tab.Do("sign out", chromedp.Click(chromedp.CSS("#signout")))
	tab.WaitFor("the sign-in form again, credentials gone", 30*time.Second,
		`!document.getElementById("signin").hidden && sessionStorage.getItem("tandem.console.authorization") === null`)
	tab.Do("sign in with a token", chromedp.Evaluate[chromedp.Void](`location.hash = "#regions"`),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), nobody),
		chromedp.Click(chromedp.CSS("#signin-submit")))
	tab.WaitFor("the refusal, without the regions", 60*time.Second,
		`document.getElementById("whoami").textContent.startsWith("nobody (token)") && !document.getElementById("banner").hidden &&
		 document.getElementById("banner").textContent.includes("may not read") && !document.querySelector("[data-region]")`)

	// Signed in without a role, the refusals are the only new problems.
	for _, p := range tab.Problems()[len(before):] {
		if !strings.Contains(p, "403") && !strings.Contains(p, "401") {
			t.Errorf("page problem after the second sign-in: %s", p)
		}
	}
}

// TestConsoleShowsAutomaticFailover: a workspace with a witness and
// automatic failover, authentication off. The console is open on the
// secondary; the primary is stopped; without a reload the page shows the
// primary unreachable, the secondary promoted, and the failover on the
// timeline with its RTO.
func TestConsoleShowsAutomaticFailover(t *testing.T) {
	tab := browsertest.New(t)
	url, key := witnesstest.HTTP(t)
	keyFile := filepath.Join(t.TempDir(), "witness.key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	w := regiontest.Start(t, regiontest.Options{Extra: fmt.Sprintf(
		"witness: %s\nwitness_key: {file: %q}\nfailover: automatic\nlease_ttl: 2s\ncooldown: 1s\n", url, keyFile)})
	if _, err := w.Client(t).WaitElected(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	west := w.URLs[1]

	tab.Do("open the console on the secondary", chromedp.Navigate(west+"/console/"))
	tab.WaitFor("east primary holding the lease, west secondary", 60*time.Second,
		`!!document.querySelector('[data-region="east"][data-role="primary"][data-health="ok"]') && !!document.querySelector('[data-region="west"][data-role="secondary"][data-health="ok"]')`)
	if !browsertest.Eval[bool](tab, `document.getElementById("signin").hidden && document.getElementById("whoami").textContent === ""`) {
		t.Fatal("with authentication off the console asked to sign in")
	}
	if h := browsertest.Eval[string](tab, `document.querySelector('[data-region="west"]').textContent`); !strings.Contains(h, "lease holdereast") {
		t.Fatalf("west's card does not name east as the lease holder: %q", h)
	}
	browsertest.Eval[bool](tab, `window.__noReload = true`)

	w.Stop(0) // the primary goes away
	tab.WaitFor("east unreachable, west primary, same page", 90*time.Second,
		`window.__noReload === true && !!document.querySelector('[data-region="east"][data-health="down"]') && !!document.querySelector('[data-region="west"][data-role="primary"]')`)
	tab.Screenshot("console-failover-regions")
	tab.Do("open the failovers tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#failovers"`))
	tab.WaitFor("the failover on the timeline with its RTO", 30*time.Second,
		`window.__noReload === true && (() => { const e = document.querySelector('#timeline li[data-primary="west"]'); return !!e && e.textContent.includes("east \u2192 west") && !!e.querySelector(".rto"); })()`)
	rto := browsertest.Eval[string](tab, `document.querySelector('#timeline li[data-primary="west"] .rto').textContent`)
	t.Logf("timeline: %s", rto)
	tab.Screenshot("console-failover-timeline")
}

// TestConsoleSingleRegion: a single server without authentication shows
// itself as the primary and says it has no failover history.
func TestConsoleSingleRegion(t *testing.T) {
	tab := browsertest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); r.Close() })

	tab.Do("open the console", chromedp.Navigate(srv.URL+"/console"))
	tab.WaitFor("the region as primary", 30*time.Second, `!!document.querySelector('[data-region="local"][data-role="primary"][data-health="ok"]')`)
	if u := browsertest.Eval[string](tab, `location.pathname`); u != "/console/" {
		t.Fatalf("/console led to %s, want /console/", u)
	}
	tab.Do("failovers tab", chromedp.Evaluate[chromedp.Void](`location.hash = "#failovers"`))
	tab.WaitFor("no failover history", 30*time.Second, `!!document.querySelector("#view .single")`)
}

// keptReport is a divergence report planted by keptDrill, with the id of
// the drill its entry records.
type keptReport struct {
	ID, DrillID string
}

// keptDrill makes region i keep a divergence report whose tail is one
// drill.record entry (a drill recorded an hour ago), as an old primary
// that rejoined the current primary would.
func keptDrill(t *testing.T, w *regiontest.Workspace, i int) keptReport {
	t.Helper()
	ctx := context.Background()
	at := time.Now().Add(-time.Hour)
	d := tandem.DrillRecord{ID: "drill-kept-by-" + w.Names[i], RecordedMS: at.UnixMilli(), Target: tandem.DrillTargetLocal, StartedMS: at.UnixMilli() - 5000,
		FinishedMS: at.UnixMilli(), Fault: "kill", Durability: "async", Rounds: 1, RTOSeconds: 8.2, Acknowledged: 77, Passed: true}
	payload, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	head, err := w.Regions[i].Store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs := w.Client(t)
	primary := client.PrimaryOf(rs.FailoverStatuses(ctx))
	if primary == nil {
		t.Fatal("no primary")
	}
	fork := tandem.Position{Epoch: 1, Seq: head.Seq + 100}
	rep := w.KeepDivergence(t, i, primary.Name, max(primary.Failover.Epoch, 2), fork, []tandem.Entry{{Position: tandem.Position{Epoch: 1, Seq: fork.Seq + 1},
		Kind: tandem.KindWorkspace, Op: "drill.record", Key: d.ID, Payload: payload, Time: at}})
	return keptReport{ID: rep.ID, DrillID: d.ID}
}
