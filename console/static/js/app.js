// tandem console: one page, hash routes per section, every view read from
// the region's API every 2 s without reloading the page.

import { get, post, APIError, credentials, setCredentials, basic, bearer } from "./api.js";
import { Samples, draw } from "./plot.js";
import { toYAML } from "./yaml.js";
import { splitOf, colorOf, drawSplit, instancesIn, placementOf, perRegion, fmtRate } from "./endpoints.js";

const POLL_MS = 2000;
const V1 = "/api/tandem/v1";
// Served by builds that have them; a 404 shows "not available in this build".
export const JOBS_PATH = V1 + "/jobs";
export const ENDPOINTS_PATH = V1 + "/online-endpoints";
const ENDPOINT_TRAFFIC_PATH = V1 + "/endpoint-traffic";
const ASSET_KINDS = [
  ["environments", "Environments"], ["data", "Data"], ["components", "Components"],
  ["pipelines", "Pipelines"], ["datastores", "Datastores"], ["models", "Models"],
];

const state = {
  tab: "regions",
  authRequired: false,
  signedIn: false,
  lag: new Samples(),
  regions: null,
  history: null,
  assetKind: "environments",
  asset: null, // {kind, name}
  job: null, // {name, offset, text}: the job whose output is followed
  replays: {}, // report id -> {busy, text, error}: what the Replay button did
  mayReplay: null, // whether this principal may replay (mayReplay); null: not asked yet
  timer: 0,
  inflight: false,
  again: false,
};

// h builds an element: h("td", {class: "num"}, "12").
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function fmtTime(v) {
  if (!v) return "-";
  const d = typeof v === "number" ? new Date(v) : new Date(v);
  if (isNaN(d)) return "-";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function fmtSecs(s) {
  if (s === undefined || s === null) return "-";
  return s < 10 ? s.toFixed(2) + " s" : s.toFixed(1) + " s";
}

function table(headers, rows, attrs) {
  return h("table", attrs,
    h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))),
    h("tbody", null, rows));
}

function notice(text, cls = "muted") { return h("p", { class: cls }, text); }

// unavailable explains an error answer in the view's own words.
function unavailable(err, what) {
  if (err instanceof APIError) {
    if (err.status === 404) return notice(`${what}: not available in this build.`, "muted unavailable");
    if (err.status === 403) return notice(`${what}: your role may not read this (${err.message}).`, "error denied");
    if (err.status === 0) return notice(`${what}: ${err.message}`, "error");
  }
  return notice(`${what}: ${err.message}`, "error");
}

// ---------- regions ----------

function roleOf(r) {
  return r.failover?.role || r.replication?.role?.role || "unknown";
}

function progressOf(r, all) {
  // A secondary's own view of its progress; else the primary's view of it.
  if (r.replication?.self) return r.replication.self;
  for (const o of all) {
    for (const f of o.replication?.followers || []) if (f.region === r.name && roleOf(o) === "primary") return f;
  }
  return null;
}

function healthOf(r, p) {
  if (r.error) return ["down", "unreachable"];
  if (p?.apply_blocked) return ["degraded", "apply blocked"];
  if (p?.last_error) return ["degraded", "replication error"];
  if (r.replication?.degraded) return ["degraded", "sync degraded"];
  return ["ok", "healthy"];
}

function recordLag(view) {
  const t = view.read_ms || Date.now();
  for (const r of view.regions) {
    if (r.error || roleOf(r) === "primary") continue;
    const p = progressOf(r, view.regions);
    if (p) state.lag.add(r.name, t, Math.max(0, p.lag_entries || 0));
  }
}

function regionCard(r, all) {
  const role = roleOf(r);
  const p = progressOf(r, all);
  const [health, healthText] = healthOf(r, p);
  const fo = r.failover;
  const lease = fo?.lease;
  const epoch = fo?.epoch ?? r.replication?.role?.epoch;
  const rows = [
    ["epoch", epoch ?? "-"],
    ["primary", fo?.primary || r.replication?.role?.primary || "-"],
    ["lease holder", lease?.holder || (fo && !fo.witness ? "no witness (manual failover)" : "-")],
    ["lease expires", fo?.lease_expires ? fmtTime(fo.lease_expires) : "-"],
    ["sync standby", lease?.sync && lease.sync !== lease.holder ? lease.sync : "-"],
    ["writes allowed", fo ? (fo.writes_allowed ? "yes" : "no") : (role === "primary" ? "yes" : "no")],
    ["journal head", r.replication ? `${r.replication.head.epoch}/${r.replication.head.seq}` : "-"],
  ];
  if (role !== "primary" && p) {
    rows.push([r.replication?.self ? "lag" : "lag (primary's view)", `${p.lag_entries} entries, ${fmtSecs(p.lag_seconds)}`]);
    rows.push(["last apply", fmtTime(p.last_apply || p.last_seen)]);
    if (p.last_error) rows.push(["last error", p.last_error]);
  }
  if (role === "primary") {
    for (const f of r.replication?.followers || []) {
      rows.push([`heard from ${f.region}`, f.last_seen ? fmtTime(f.last_seen) : "never"]);
    }
  }
  if (fo?.mode) rows.push(["failover", fo.mode]);
  if (r.replication) rows.push(["durability", r.replication.durability], ["metadata", r.replication.metadata]);
  if (r.url) rows.push(["url", r.url]);
  return h("article", { class: "card region", "data-region": r.name, "data-role": role, "data-health": health },
    h("h2", null, r.name, h("span", { class: `role role-${role}` }, role),
      h("span", { class: `health health-${health}` }, healthText)),
    r.error ? notice(r.error, "error") : null,
    h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, String(v))])));
}

function renderRegions(view) {
  const v = view.regions;
  if (!v) return [notice($("banner").hidden ? "Reading the regions..." : "No region status to show.")];
  const legend = h("p", { class: "legend" },
    [...state.lag.series.keys()].map((name, i) => h("span", { class: `k${i % 4}` }, `\u25A0 ${name}`)));
  return [
    h("div", { class: "regions", id: "region-cards" }, v.regions.map((r) => regionCard(r, v.regions))),
    h("section", { class: "card plot" },
      h("h2", null, "Replication lag (journal entries behind the primary)"),
      state.lag.count() ? legend : notice("No secondary has reported its lag yet."),
      draw(state.lag)),
  ];
}

function summarize(view) {
  if (!view) return;
  $("workspace-name").textContent = view.workspace || "";
  const primary = view.regions.find((r) => roleOf(r) === "primary");
  const epoch = primary?.failover?.epoch ?? primary?.replication?.role?.epoch;
  const down = view.regions.filter((r) => r.error).map((r) => r.name);
  $("summary").textContent = (primary ? `primary ${primary.name}, epoch ${epoch}` : "no primary") +
    (down.length ? ` \u00B7 unreachable: ${down.join(", ")}` : "");
}

// ---------- failovers ----------

function renderFailovers() {
  const hist = state.history;
  if (hist instanceof APIError && hist.status === 404) {
    return [h("section", { class: "card" }, h("h1", null, "Failover history"),
      notice("This region is not part of a multi-region workspace: it has no failover history.", "muted single"))];
  }
  if (hist instanceof Error) return [unavailable(hist, "Failover history")];
  if (!hist) return [notice("Reading the failover history...")];
  const epochs = [...hist.epochs].reverse();
  if (!epochs.length) return [notice("No change of primary has been recorded.")];
  const items = epochs.map((e) => {
    const failover = e.detected_ms > 0;
    const rto = failover && e.resumed_ms ? (e.resumed_ms - e.detected_ms) / 1000 : null;
    const title = e.previous ? `${e.previous} \u2192 ${e.primary}` : `${e.primary} primary`;
    return h("li", { class: e.previous ? "event" : "event initial", "data-epoch": e.epoch, "data-primary": e.primary },
      h("div", { class: "ev-title" }, `Epoch ${e.epoch}: ${title}`,
        e.reason ? h("span", { class: "pill" }, e.reason) : null,
        rto !== null ? h("span", { class: "pill rto" }, `RTO ${fmtSecs(rto)}`) : null),
      h("dl", { class: "kv" },
        failover ? [h("dt", null, "fault detected"), h("dd", null, fmtTime(e.detected_ms))] : null,
        h("dt", null, "writes resumed"), h("dd", null, fmtTime(e.resumed_ms)),
        h("dt", null, "entries at risk"), h("dd", null, String(e.at_risk || 0))));
  });
  return [h("section", { class: "card" },
    h("h1", null, "Failover history"),
    notice(`As recorded by ${hist.region} (replicated: every region keeps the same history). RTO here runs from the new primary's detection of the loss (the old lease expired) to the first write it accepted; clients also waited out the rest of the old lease before that, which tandem drill measures.`),
    h("ol", { class: "timeline", id: "timeline" }, items))];
}

// ---------- divergence ----------

// mayReplay asks the region, once per sign-in, whether this principal may
// read divergence reports with their entries and replay them (an
// administrator's action, package auth's table): the console shows Replay
// buttons only then. Once: a refusal is an audit record.
async function mayReplay() {
  if (state.mayReplay === null) {
    try {
      await get(`${V1}/failover/divergence`);
      state.mayReplay = true;
    } catch (e) {
      // 403: a role without it; 404 or 501: a single region. Anything
      // else (the region did not answer) is asked again next time.
      if (e instanceof APIError && [401, 403, 404, 501].includes(e.status)) state.mayReplay = false;
      else return false;
    }
  }
  return state.mayReplay;
}

async function replay(id) {
  state.replays[id] = { busy: true, text: "replaying..." };
  refresh();
  try {
    const doc = await post(`${V1}/failover/replay`, { report: id });
    const res = doc.results || [];
    const done = res.filter((r) => !r.error && !r.already_replayed);
    const again = res.filter((r) => r.already_replayed);
    const failed = res.filter((r) => r.error);
    const at = (r) => `${r.op} \u2192 ${r.position.epoch}/${r.position.seq}`;
    state.replays[id] = {
      text: `On ${doc.primary}: ${done.length} replayed${done.length ? " (" + done.map(at).join(", ") + ")" : ""}` +
        `${again.length ? `, ${again.length} already replayed (${again.map(at).join(", ")})` : ""}` +
        `${failed.length ? `, ${failed.length} not replayed: ${failed.map((r) => `seq ${r.seq} ${r.op}: ${r.error}`).join("; ")}` : ""}.`,
      error: failed.length > 0,
    };
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { showSignIn("Your credentials were not accepted: sign in again."); return; }
    state.replays[id] = { text: `Replay failed: ${e.message}`, error: true };
  }
  refresh();
}

async function renderDivergence() {
  const v = state.regions;
  if (!v) return [notice("Reading the regions...")];
  const can = await mayReplay();
  const rows = [];
  const errors = [];
  for (const r of v.regions) {
    if (r.divergence_error) errors.push(notice(`${r.name}: ${r.divergence_error}`, "error"));
    for (const rep of r.divergence || []) {
      const done = state.replays[rep.id];
      rows.push(h("tr", { "data-report": rep.id },
        h("td", null, rep.id), h("td", null, rep.region), h("td", null, fmtTime(rep.detected_at)),
        h("td", null, `${rep.new_primary} (epoch ${rep.new_epoch})`),
        h("td", { class: "num" }, `${rep.fork.epoch}/${rep.fork.seq} \u2192 ${rep.head.epoch}/${rep.head.seq}`),
        h("td", { class: "num" }, String(rep.count)),
        h("td", null, Object.entries(rep.kinds || {}).map(([k, n]) => `${k}: ${n}`).join(", ")),
        h("td", null,
          can ? h("button", { type: "button", "data-replay": rep.id, disabled: !!done?.busy, onclick: () => replay(rep.id) }, "Replay") : null,
          can ? null : h("code", null, `tandem divergence replay ${rep.id}`),
          done ? h("p", { class: done.error ? "error replay-result" : "muted replay-result", "data-replayed": rep.id }, done.text) : null)));
    }
  }
  return [h("section", { class: "card" },
    h("h1", null, "Divergence reports"),
    notice(can
      ? "Writes an old primary acknowledged that the new primary never received. Replay commits a report's entries again on the current primary; an entry already replayed is not committed twice."
      : "Writes an old primary acknowledged that the new primary never received. Replaying needs a role that manages the workspace (Owner, Contributor) or the workspace's peer key: run the command shown from the workspace's folder."),
    errors,
    rows.length ? table(["report", "kept by", "detected", "new primary", "fork \u2192 head", "entries", "kinds", "replay"], rows)
      : notice("No divergence report in any region.", "muted none"))];
}

// ---------- drills ----------

async function renderDrills() {
  let body;
  try {
    const doc = await get(`${V1}/drills`);
    const ds = doc.drills || [];
    body = ds.length ? table(["when", "where", "fault", "durability", "primary", "RTO", "RPO (missing)", "in divergence", "lost", "writes acked", "result"],
      ds.map((d) => h("tr", { "data-drill": d.id, "data-passed": d.passed ? "yes" : "no" },
        h("td", null, fmtTime(d.finished_ms || d.recorded_ms)), h("td", null, d.target),
        h("td", null, d.fault), h("td", null, d.durability),
        h("td", null, d.old_primary && d.new_primary ? `${d.old_primary} \u2192 ${d.new_primary}` : "-"),
        h("td", { class: "num" }, fmtSecs(d.rto_seconds)),
        h("td", { class: "num" }, String(d.rpo_missing_writes)),
        h("td", { class: "num" }, String(d.rpo_missing_in_divergence)),
        h("td", { class: "num" }, String(d.rpo_lost_writes)),
        h("td", { class: "num" }, String(d.acknowledged_writes)),
        h("td", { class: d.passed ? "yes" : "no", title: d.failure || "" }, d.passed ? "pass" : `fail: ${d.failure}`))))
      : notice("No drill has been recorded in this workspace.", "muted none");
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    body = unavailable(e, "Drills");
  }
  return [h("section", { class: "card" },
    h("h1", null, "Drills"),
    notice("Recorded drills, newest first (replicated: every region lists the same). tandem drill --workspace workspace.yaml runs a planned switchover on this workspace under client load and records its RTO/RPO here; tandem drill --local ... --record URL records a throwaway workspace's drill (where: local)."),
    body)];
}

// ---------- endpoints ----------

function splitLegend(segs, names, label) {
  return h("p", { class: "legend split-legend" }, h("span", { class: "muted" }, label + ": "),
    segs.length ? segs.map((s) => h("span", { class: colorOf(names, s.name), "data-deployment": s.name }, `\u25A0 ${s.name} ${s.percent}%`)) : "none");
}

function endpointCard(ep, deps, view) {
  const names = Array.isArray(deps) ? deps.map((d) => d.name).sort() : Object.keys(ep.traffic || {}).sort();
  const split = splitOf(ep.traffic), mirror = splitOf(ep.mirror_traffic);
  const regions = placementOf(ep, view);
  const rows = perRegion(ep, view);
  const byRegion = Object.fromEntries(rows.map((r) => [r.region, r]));
  let depTable;
  if (!Array.isArray(deps)) depTable = unavailable(deps, "Deployments");
  else if (!deps.length) depTable = notice("No deployment yet.");
  else {
    depTable = table(["deployment", "model", "traffic", "mirror", ...regions.map((r) => `instances in ${r}`)],
      [...deps].sort((a, b) => a.name.localeCompare(b.name)).map((d) => h("tr", { "data-deployment": d.name },
        h("td", null, h("span", { class: colorOf(names, d.name) }, "\u25A0 "), d.name),
        h("td", null, d.model_name ? `${d.model_name}:${d.model_version}` : d.model || "-"),
        h("td", { class: "num" }, `${ep.traffic?.[d.name] || 0}%`),
        h("td", { class: "num" }, ep.mirror_traffic?.[d.name] ? `${ep.mirror_traffic[d.name]}%` : "-"),
        regions.map((r) => {
          const st = byRegion[r]?.traffic?.deployments?.find((x) => x.name === d.name);
          const want = instancesIn(d, r);
          return h("td", { class: "num", "data-region": r },
            st ? [`${st.ready}/${st.wanted} ready`, st.error ? h("div", { class: "muted" }, st.error) : null] : `${want} wanted`);
        }))), { class: "deployments" });
  }
  const regionRows = rows.map((r) => {
    const c = r.traffic?.requests;
    const ready = (r.traffic?.deployments || []).reduce((n, d) => n + d.ready, 0);
    return h("tr", { "data-endpoint": ep.name, "data-region": r.region, "data-requests": c ? c.requests : "" },
      h("td", null, r.region),
      r.error ? h("td", { class: "error", colspan: 6 }, r.error)
        : !r.traffic ? h("td", { class: "muted", colspan: 6 }, view ? "this region does not know the endpoint yet (replicating)" : "-")
        : [h("td", { class: "num rate" }, fmtRate(c.per_second)),
          h("td", { class: "num" }, `${c.recent} (${c.recent_errors} errors)`),
          h("td", { class: "num" }, String(c.requests)),
          h("td", { class: c.errors ? "num no" : "num" }, String(c.errors)),
          h("td", { class: "num" }, String(c.client_errors)),
          h("td", { class: "num" }, String(ready))]);
  });
  return h("article", { class: "card endpoint", "data-endpoint": ep.name },
    h("h2", null, ep.name, h("span", { class: "role role-secondary" }, ep.auth_mode)),
    h("dl", { class: "kv" },
      h("dt", null, "auth mode"), h("dd", null, ep.auth_mode === "key" ? "key (endpoint keys)" : `${ep.auth_mode} (tandem tokens)`),
      h("dt", null, "placement"), h("dd", null, ep.regions?.length ? ep.regions.join(", ") : "every region"),
      ep.scoring_uri ? [h("dt", null, "scoring URI"), h("dd", null, ep.scoring_uri)] : null),
    h("h3", null, "Traffic split"),
    drawSplit(split, names, "traffic"), splitLegend(split, names, "traffic"),
    mirror.length ? [drawSplit(mirror, names, "mirror"), splitLegend(mirror, names, "mirror (copies, answers dropped)")] : null,
    h("h3", null, "Deployments"), depTable,
    h("h3", null, "Requests per region"),
    table(["region", "rate (last minute)", "last minute", "total", "errors (5xx)", "refused (4xx)", "instances ready"], regionRows, { class: "per-region" }));
}

async function renderEndpoints() {
  const title = "Endpoints";
  let eps;
  try {
    eps = (await get(ENDPOINTS_PATH)).endpoints || [];
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    return [h("section", { class: "card" }, h("h1", null, title), unavailable(e, title))];
  }
  let view = null, viewNote = null;
  try {
    view = await get(ENDPOINT_TRAFFIC_PATH);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    viewNote = unavailable(e, "Request rates per region");
  }
  const deps = await Promise.all(eps.map((ep) => get(`${ENDPOINTS_PATH}/${encodeURIComponent(ep.name)}/deployments`)
    .then((d) => d.deployments || [], (e) => { if (e instanceof APIError && e.status === 401) throw e; return e; })));
  return [h("section", { class: "card" }, h("h1", null, title),
    notice(view ? `Online endpoints; request counts as each region's router answered them since it started, read by ${view.served_by} from every region at ${fmtTime(view.read_ms)}.` : "Online endpoints."),
    viewNote, eps.length ? null : notice("No online endpoint.", "muted none")),
    ...eps.map((ep, i) => endpointCard(ep, deps[i], view))];
}

// ---------- jobs ----------

const MAX_LOG = 256 * 1024; // characters of a job's output the page keeps

function lastAttempt(j) { return j.attempts?.length ? j.attempts[j.attempts.length - 1] : null; }

async function renderJobs() {
  let doc;
  try {
    doc = await get(JOBS_PATH);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    return [h("section", { class: "card" }, h("h1", null, "Jobs"), unavailable(e, "Jobs"))];
  }
  const jobs = doc.jobs || [];
  const rows = jobs.map((j) => {
    const a = lastAttempt(j);
    return h("tr", { "data-job": j.name, "data-status": j.status },
      h("td", null, h("button", { type: "button", class: "link-btn", onclick: () => { state.job = { name: j.name, offset: 0, text: "" }; refresh(); } }, j.name)),
      h("td", null, j.spec?.type || "-"), h("td", null, j.status), h("td", null, j.spec?.compute || "-"),
      h("td", { class: "num" }, String(j.attempts?.length || 0)),
      h("td", null, a ? `${a.region} (epoch ${a.epoch}): ${a.status}` : "-"),
      h("td", null, fmtTime(j.created_ms)), h("td", null, j.message || ""));
  });
  const out = [h("section", { class: "card" }, h("h1", null, "Jobs"),
    rows.length ? table(["job", "type", "status", "compute", "attempts", "last attempt", "submitted", "message"], rows) : notice("No job has been submitted."))];
  if (state.job) out.push(await renderJob(state.job));
  return out;
}

async function renderJob(sel) {
  let j;
  try {
    j = await get(`${JOBS_PATH}/${encodeURIComponent(sel.name)}`);
    const logs = await get(`${JOBS_PATH}/${encodeURIComponent(sel.name)}/logs?offset=${sel.offset}`);
    if (logs.offset < sel.offset) sel.text = ""; // a new attempt started its output afresh
    sel.text = (sel.text + (logs.data || "")).slice(-MAX_LOG);
    sel.offset = logs.offset;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    return h("section", { class: "card" }, h("h2", null, sel.name), unavailable(e, "Job"));
  }
  const attempts = (j.attempts || []).map((a) => h("tr", { "data-attempt": a.n },
    h("td", { class: "num" }, String(a.n)), h("td", null, a.step || "-"), h("td", null, a.region), h("td", { class: "num" }, String(a.epoch)),
    h("td", null, a.compute), h("td", null, a.status), h("td", null, fmtTime(a.start_ms)), h("td", null, fmtTime(a.end_ms)),
    h("td", { class: "num" }, a.exit_code ?? "-"), h("td", null, a.reason || "")));
  return h("section", { class: "card", id: "job-detail", "data-job": j.name },
    h("h2", null, `${j.name}: ${j.status}`),
    j.run_id ? notice(`MLflow run ${j.run_id} in experiment ${j.experiment_id}`) : null,
    attempts.length ? table(["attempt", "step", "region", "epoch", "compute", "status", "started", "ended", "exit", "reason"], attempts) : notice("No attempt yet."),
    h("h2", null, "Output (live)"),
    h("pre", { class: "yaml log", id: "job-log" }, sel.text || "(no output yet)"));
}

// ---------- assets ----------

async function renderAssets() {
  const kinds = h("p", { class: "kindsel" }, ASSET_KINDS.map(([k, label]) => h("button", {
    type: "button", class: k === state.assetKind ? "active" : null, "data-kind": k,
    onclick: () => { state.assetKind = k; state.asset = null; refresh(); },
  }, label)));
  let list, detail;
  try {
    const doc = await get(`${V1}/${state.assetKind}`);
    const assets = doc.assets || [];
    list = assets.length ? h("ul", null, assets.map((a) => h("li", null, h("button", {
      type: "button", "data-asset": a.name,
      onclick: () => { state.asset = { kind: state.assetKind, name: a.name }; refresh(); },
    }, `${a.name}:${a.version}`)))) : notice("None.");
    if (state.asset?.kind === state.assetKind) {
      const a = await get(`${V1}/${state.assetKind}/${encodeURIComponent(state.asset.name)}`);
      detail = [h("h2", null, `${a.name}:${a.version}`),
        notice(`The version as the API holds it, in YAML; tandem ${state.assetKind === "data" ? "data" : state.assetKind.replace(/s$/, "")} download writes its az ml YAML file.`),
        h("pre", { class: "yaml" }, toYAML(a))];
    } else {
      detail = notice("Pick an asset to see it as YAML.");
    }
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    list = unavailable(e, "Assets");
    detail = null;
  }
  return [h("section", { class: "card" }, h("h1", null, "Assets"), kinds,
    h("div", { class: "cols" }, h("div", null, list), h("div", null, detail)))];
}

// ---------- drift ----------

async function renderDrift() {
  let body;
  try {
    const d = await get(`${V1}/desired/drift`);
    const rows = (d.drift || []).map((x) => h("tr", null,
      h("td", null, x.region), h("td", null, x.kind), h("td", null, x.name),
      h("td", null, x.missing ? "missing" : (x.changes || []).map((c) => `${c.field}: ${JSON.stringify(c.before)} \u2192 ${JSON.stringify(c.after)}`).join("; "))));
    body = [
      notice(d.applied ? `Checked ${fmtTime(d.checked_ms)} by ${d.region} against the last applied desired state.` : "No desired state has been applied (tandem apply)."),
      d.error ? notice(d.error, "error") : null,
      rows.length ? table(["region", "kind", "name", "change"], rows) : notice("No drift."),
    ];
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    body = unavailable(e, "Drift");
  }
  return [h("section", { class: "card" }, h("h1", null, "Drift from the applied desired state"), body)];
}

// ---------- audit ----------

async function renderAudit() {
  let body;
  try {
    const d = await get(`${V1}/audit?limit=200`);
    const recs = [...(d.records || [])].reverse();
    body = recs.length ? table(["time", "principal", "via", "method", "path", "action", "from", "allowed", "reason"],
      recs.map((r) => h("tr", null, h("td", null, fmtTime(r.time)), h("td", null, r.principal || "-"), h("td", null, r.via || "-"),
        h("td", null, r.method), h("td", null, r.path), h("td", null, r.action || "-"), h("td", null, r.from),
        h("td", { class: r.allowed ? "yes" : "no" }, r.allowed ? "allowed" : "refused"), h("td", null, r.reason || ""))))
      : notice("No audit record (audit is on when authentication is).");
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    body = unavailable(e, "Audit log");
  }
  return [h("section", { class: "card" }, h("h1", null, "Audit log"), notice("Writes and refusals recorded by the region that served them (newest first)."), body)];
}

// ---------- the loop ----------

async function renderTab() {
  switch (state.tab) {
    case "regions": return renderRegions(state);
    case "failovers": return renderFailovers();
    case "divergence": return renderDivergence();
    case "drills": return renderDrills();
    case "jobs": return renderJobs();
    case "endpoints": return renderEndpoints();
    case "assets": return renderAssets();
    case "drift": return renderDrift();
    case "audit": return renderAudit();
  }
  return [notice("No such section.")];
}

async function poll() {
  try {
    state.regions = await get(`${V1}/regions`);
    recordLag(state.regions);
    summarize(state.regions);
    $("banner").hidden = true;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    const denied = e instanceof APIError && e.status === 403;
    if (denied) { state.regions = null; $("summary").textContent = ""; }
    const b = $("banner");
    b.hidden = false;
    b.textContent = denied
      ? `Your role may not read the workspace's status (${e.message}).`
      : `This region did not answer (${e.message}); showing what it last said. Open the console on another region if it stays down.`;
  }
  try {
    state.history = await get(`${V1}/failover/history`);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) throw e;
    state.history = e;
  }
}

async function refresh() {
  if (state.inflight) { state.again = true; return; }
  state.inflight = true;
  clearTimeout(state.timer);
  try {
    await poll();
    const content = await renderTab();
    $("view").replaceChildren(...content);
    $("updated").textContent = `Updated ${new Date().toLocaleTimeString()} \u00B7 every ${POLL_MS / 1000} s`;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      state.inflight = false;
      showSignIn(credentials() ? "Your credentials were not accepted: sign in again." : "");
      return;
    }
    $("view").replaceChildren(notice(e.message, "error"));
  }
  state.inflight = false;
  if (state.again) { state.again = false; refresh(); return; }
  state.timer = setTimeout(refresh, POLL_MS);
}

function selectTab() {
  const t = (location.hash || "#regions").slice(1);
  state.tab = t;
  for (const a of document.querySelectorAll(".tabs a")) a.classList.toggle("active", a.dataset.tab === t);
}

// ---------- sign-in ----------

// forget drops everything read with the previous credentials.
function forget() {
  Object.assign(state, { regions: null, history: null, lag: new Samples(), job: null, asset: null, replays: {}, mayReplay: null });
  $("summary").textContent = "";
  $("workspace-name").textContent = "";
  $("banner").hidden = true;
}

function showSignIn(message) {
  clearTimeout(state.timer);
  setCredentials("");
  forget();
  state.signedIn = false;
  $("signin").hidden = false;
  $("view").replaceChildren();
  $("signout").hidden = true;
  $("whoami").textContent = "";
  $("signin-error").textContent = message || "";
}

async function whoami(authz) {
  try {
    return await get(`${V1}/whoami`, authz);
  } catch (e) {
    // Authentication is off: the identity routes answer NOT_IMPLEMENTED
    // (404 from a region without them).
    if (e instanceof APIError && (e.status === 501 || e.status === 404)) return null;
    throw e;
  }
}

function signedIn(me) {
  $("signin").hidden = true;
  state.signedIn = true;
  if (me) {
    $("whoami").textContent = `${me.name} (${me.via})`;
    $("signout").hidden = false;
  }
  refresh();
}

async function onSignIn(ev) {
  ev.preventDefault();
  const user = $("signin-user").value.trim();
  const pw = $("signin-password").value;
  const token = $("signin-token").value.trim();
  const authz = token ? bearer(token) : user ? basic(user, pw) : "";
  if (!authz) { $("signin-error").textContent = "Enter a user name and password, or a token."; return; }
  try {
    const me = await whoami(authz);
    setCredentials(authz);
    $("signin-password").value = "";
    $("signin-token").value = "";
    signedIn(me);
  } catch (e) {
    $("signin-error").textContent = e instanceof APIError && e.status === 401 ? "Not accepted: " + e.message : e.message;
  }
}

async function start() {
  try {
    const me = await whoami();
    signedIn(me);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) { showSignIn(credentials() ? "Your session ended: sign in again." : ""); return; }
    $("view").replaceChildren(notice(e.message, "error"));
    state.timer = setTimeout(start, POLL_MS);
  }
}

$("signin-form").addEventListener("submit", onSignIn);
$("signout").addEventListener("click", () => showSignIn("Signed out."));
window.addEventListener("hashchange", () => { selectTab(); if (state.signedIn) refresh(); });
selectTab();
start();
