// The endpoints view's pieces: an endpoint's traffic split drawn as a bar,
// and its numbers per region, from the endpoint, its deployments and the
// endpoint-traffic view (every region's processes and request counts, read
// by the serving region from each region).

const NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
}

// splitOf lists a traffic map's deployments with their percent and where
// their segment starts, in name order (the order the bar and its legend
// use); zero shares are left out.
export function splitOf(traffic) {
  const out = [];
  let at = 0;
  for (const name of Object.keys(traffic || {}).sort()) {
    const percent = Number(traffic[name]) || 0;
    if (percent <= 0) continue;
    out.push({ name, percent, from: at });
    at += percent;
  }
  return out;
}

// colorOf gives a deployment the same color in every bar of an endpoint.
export function colorOf(names, name) {
  const i = names.indexOf(name);
  return i < 0 ? "kx" : `k${i % 6}`;
}

// drawSplit returns a 100-wide bar of segments (an empty rest is drawn as
// "none": traffic not routed anywhere, or requests not mirrored).
export function drawSplit(segs, names, kind) {
  const total = segs.reduce((n, s) => n + s.percent, 0);
  const svg = el("svg", { class: `split ${kind}`, viewBox: "0 0 100 6", preserveAspectRatio: "none", role: "img",
    "aria-label": `${kind}: ` + (segs.map((s) => `${s.name} ${s.percent}%`).join(", ") || "none"), "data-split": kind });
  for (const s of segs) {
    svg.append(el("rect", { x: s.from, y: 0, width: s.percent, height: 6, class: `seg ${colorOf(names, s.name)}`,
      "data-deployment": s.name, "data-percent": s.percent }, el("title", null, `${s.name}: ${s.percent}%`)));
  }
  if (total < 100) svg.append(el("rect", { x: total, y: 0, width: 100 - total, height: 6, class: "seg none" }));
  return svg;
}

// instancesIn is how many scoring processes a deployment asks for in a
// region (its per-region count, else its instance_count).
export function instancesIn(dep, region) {
  return dep.instance_counts?.[region] ?? dep.instance_count ?? 0;
}

// placementOf lists the regions that serve an endpoint: its placement,
// or every region of the view when it has none.
export function placementOf(ep, view) {
  if (ep.regions?.length) return ep.regions;
  return (view?.regions || []).map((r) => r.name);
}

// perRegion returns one row per region serving the endpoint: what that
// region said of it (null when the region could not be read or does not
// know the endpoint yet) and its error.
export function perRegion(ep, view) {
  return placementOf(ep, view).map((name) => {
    const r = (view?.regions || []).find((x) => x.name === name);
    const t = r?.endpoints?.find((e) => e.endpoint === ep.name) || null;
    return { region: name, error: r ? r.error || "" : (view ? "not in the workspace" : ""), traffic: t };
  });
}

// fmtRate shows requests per second with a useful precision.
export function fmtRate(v) {
  if (!v) return "0/s";
  return (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)) + "/s";
}
