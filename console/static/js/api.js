// The console's one way to the region's API: same origin, the user's own
// credentials (kept in this tab's sessionStorage, never anywhere else).

const KEY = "tandem.console.authorization";

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export function credentials() {
  try { return sessionStorage.getItem(KEY) || ""; } catch { return ""; }
}

export function setCredentials(header) {
  try {
    if (header) sessionStorage.setItem(KEY, header); else sessionStorage.removeItem(KEY);
  } catch { /* storage disabled: credentials last until the page closes */ }
  memory = header;
}

let memory = "";

// basic builds an HTTP basic Authorization value (UTF-8 user:password).
export function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

export function bearer(token) { return "Bearer " + token.trim(); }

// get reads a JSON document; an error answer becomes an APIError with the
// API's own error code and message. authz overrides the stored credentials
// (the sign-in form checks them before keeping them).
export function get(path, authz) { return request("GET", path, undefined, authz); }

// post sends a JSON document and reads the JSON answer, as get does.
export function post(path, body) { return request("POST", path, body); }

async function request(method, path, body, authz) {
  const headers = { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" };
  const a = authz ?? (credentials() || memory);
  if (a) headers["Authorization"] = a;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new APIError(0, "UNREACHABLE", "the region did not answer: " + e.message);
  }
  let doc = null;
  const text = await resp.text();
  try { doc = text ? JSON.parse(text) : null; } catch { doc = null; }
  if (!resp.ok) {
    throw new APIError(resp.status, doc?.error_code, doc?.message || text.slice(0, 200));
  }
  return doc;
}
