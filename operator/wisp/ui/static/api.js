// The console's JSON API (/ui/api/...) and small DOM helpers shared by the pages.

export const API = "/ui/api";
const TOKEN_KEY = "wisp-admin-token";

// In a cluster the console's API needs the admin token (WISP_ADMIN_TOKEN); it is kept for this
// browser tab only and sent as a bearer token.
export function adminToken() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setAdminToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const token = adminToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (err) {
    return { ok: false, status: 0, data: { error: `the console server is unreachable (${err.message})` } };
  }
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) data = await response.json();
  else data = { error: await response.text() };
  if (data && !data.error && data.errorMessage) data.error = data.errorMessage;
  if (response.status === 401 || (response.status === 403 && data && data.errorType === "Forbidden")) {
    window.dispatchEvent(new CustomEvent("wisp:auth", { detail: { status: response.status, message: data.error } }));
  }
  return { ok: response.ok, status: response.status, data };
}

export function fnPath(ns, name) {
  return `/functions/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
}

// h("tag.class", {attr: value, onclick: fn}, ...children): a tiny element builder.
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (key === "html") el.innerHTML = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 4000);
}

export function fmtNumber(n) {
  if (n === null || n === undefined) return "–";
  return Number(n).toLocaleString("en-US");
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)} ms`;
}

export function fmtPercent(rate) {
  if (rate === null || rate === undefined) return "–";
  return `${(rate * 100).toFixed(rate > 0 && rate < 0.01 ? 2 : 1)}%`;
}

export function fmtAgo(epochSeconds, now = Date.now() / 1000) {
  if (!epochSeconds) return "never";
  const s = Math.max(0, Math.round(now - epochSeconds));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// A poller that stops when the page it belongs to is left.
export function every(ms, fn, signal) {
  let timer = null;
  const run = async () => {
    if (signal.aborted) return;
    try { await fn(); } finally { if (!signal.aborted) timer = setTimeout(run, ms); }
  };
  signal.addEventListener("abort", () => clearTimeout(timer));
  run();
}
