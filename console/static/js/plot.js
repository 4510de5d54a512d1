// Lag over time, drawn as SVG from the samples the page keeps (the API
// gives only the current lag; the page remembers what it saw).

const NS = "http://www.w3.org/2000/svg";
export const MAX_SAMPLES = 300; // 10 minutes at one sample every 2 s

export class Samples {
  constructor() { this.series = new Map(); }
  add(name, t, v) {
    let s = this.series.get(name);
    if (!s) { s = []; this.series.set(name, s); }
    s.push({ t, v });
    if (s.length > MAX_SAMPLES) s.splice(0, s.length - MAX_SAMPLES);
  }
  count() { let n = 0; for (const s of this.series.values()) n += s.length; return n; }
}

function el(tag, attrs) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// draw returns an <svg> of every series in samples (value against time).
export function draw(samples, { unit = "" } = {}) {
  const W = 800, H = 220, L = 56, R = 12, T = 12, B = 28;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "replication lag over time" });
  let t0 = Infinity, t1 = -Infinity, vmax = 0;
  for (const s of samples.series.values()) for (const p of s) {
    t0 = Math.min(t0, p.t); t1 = Math.max(t1, p.t); vmax = Math.max(vmax, p.v);
  }
  if (!isFinite(t0)) { t0 = Date.now() - 60000; t1 = Date.now(); }
  if (t1 - t0 < 60000) t0 = t1 - 60000;
  const ymax = Math.max(4, niceMax(vmax)); // lag counts whole entries: integer grid lines
  const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / ymax);
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4;
    svg.append(el("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const lbl = el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" });
    lbl.textContent = (Number.isInteger(v) ? v : v.toFixed(1)) + unit;
    svg.append(lbl);
  }
  svg.append(el("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(el("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
    const lbl = el("text", { x: x(t), y: H - 8, "text-anchor": anchor });
    lbl.textContent = new Date(t).toLocaleTimeString();
    svg.append(lbl);
  }
  let i = 0;
  for (const [name, s] of samples.series) {
    const pts = s.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const line = el("polyline", { class: `series s${i % 4}`, points: pts, "data-series": name });
    svg.append(line);
    if (s.length === 1) svg.append(el("circle", { class: `series s${i % 4}`, cx: x(s[0].t), cy: y(s[0].v), r: 3 }));
    i++;
  }
  return svg;
}
