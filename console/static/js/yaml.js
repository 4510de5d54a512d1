// A YAML rendering of a JSON value, for showing assets as their YAML form.

const PLAIN = /^[A-Za-z0-9_./@:${}+-][A-Za-z0-9 _./@:${}+,-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~|[-+]?[0-9][0-9_.:eE+-]*)$/i;

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const s = String(v);
  if (s !== "" && PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(" ") && !s.includes(": ") && !s.includes(" #")) return s;
  return JSON.stringify(s);
}

function isEmpty(v) {
  return v === null || typeof v !== "object" || (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);
}

function lines(v, indent, out) {
  const pad = "  ".repeat(indent);
  if (Array.isArray(v)) {
    for (const item of v) {
      if (isEmpty(item)) { out.push(`${pad}- ${emptyOr(item)}`); continue; }
      const sub = [];
      lines(item, indent + 1, sub);
      out.push(`${pad}- ${sub[0].trimStart()}`, ...sub.slice(1));
    }
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    const key = scalar(k);
    if (typeof val === "string" && val.includes("\n")) {
      out.push(`${pad}${key}: |${val.endsWith("\n") ? "" : "-"}`);
      for (const l of val.replace(/\n$/, "").split("\n")) out.push(`${pad}  ${l}`);
      continue;
    }
    if (isEmpty(val)) { out.push(`${pad}${key}: ${emptyOr(val)}`); continue; }
    out.push(`${pad}${key}:`);
    lines(val, indent + 1, out);
  }
}

function emptyOr(v) {
  if (Array.isArray(v)) return "[]";
  if (v !== null && typeof v === "object") return "{}";
  return scalar(v);
}

export function toYAML(v) {
  if (isEmpty(v)) return emptyOr(v) + "\n";
  const out = [];
  lines(v, 0, out);
  return out.join("\n") + "\n";
}
