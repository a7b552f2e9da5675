// The console's router: #/ (functions), #/new, #/f/<ns>/<name>[/<tab>], #/usage.
// Each page is a function (main, params, ctx) that may register work to stop on ctx.signal.

import { adminToken, api, h, setAdminToken } from "./api.js";
import { listPage } from "./list.js";
import { editorPage } from "./editor.js";
import { functionPage } from "./function.js";
import { usagePage } from "./usage.js";

const main = document.getElementById("main");
let info = null;
let current = null;

async function loadInfo() {
  const res = await api("/info");
  info = res.ok ? res.data : { mode: "unknown", namespaces: ["default"], runtimes: [], pricePerGbSecond: 0 };
  const badge = document.getElementById("mode");
  const signedOut = res.status === 401 || res.status === 403;
  badge.textContent = info.mode === "dev" ? "wisp dev" : info.mode === "cluster" ? "cluster" : signedOut ? "signed out" : "offline";
  badge.dataset.mode = info.mode;
}

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "new") return { page: editorPage, params: { isNew: true }, nav: "functions" };
  if (parts[0] === "usage") return { page: usagePage, params: {}, nav: "usage" };
  if (parts[0] === "f" && parts.length >= 3) {
    return { page: functionPage, params: { namespace: parts[1], name: parts[2], tab: parts[3] || "code" }, nav: "functions" };
  }
  return { page: listPage, params: {}, nav: "functions" };
}

async function render() {
  if (current) current.abort();
  current = new AbortController();
  const { page, params, nav } = route();
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.replaceChildren();
  try {
    await page(main, params, { info, signal: current.signal });
  } catch (err) {
    main.replaceChildren(h("p.notice.error", { role: "alert" }, `This page failed to load: ${err.message}`));
  }
}

// Sign-in: the API answered 401/403 for the admin credential.
let signingIn = false;
window.addEventListener("wisp:auth", (event) => {
  if (signingIn) return;
  signingIn = true;
  if (current) current.abort();
  const { status, message } = event.detail;
  const disabled = /disabled/.test(message || "");
  const input = h("input", { type: "password", id: "admin-token", autocomplete: "current-password", required: true });
  const error = h("p.field-error", { id: "admin-token-error", "aria-live": "polite" },
    status === 403 && adminToken() && !disabled ? "That token was not accepted." : "");
  input.setAttribute("aria-describedby", "admin-token-hint admin-token-error");
  const form = h("form.editor", {},
    h("div.field", {}, h("label", { for: "admin-token" }, "Token"), input,
      h("p.hint", { id: "admin-token-hint" }, "The gateway's admin token (WISP_ADMIN_TOKEN), or your own Kubernetes bearer token (a ServiceAccount's: kubectl create token NAME -n NAMESPACE), which shows the namespaces your RBAC lets you read. It is kept for this tab only."),
      error),
    h("div.actions", {}, h("button.primary", { type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    setAdminToken(input.value.trim());
    signingIn = false;
    await loadInfo();
    if (!signingIn) render();
  });
  main.replaceChildren(h("h1", {}, "Sign in to the wisp console"),
    disabled
      ? h("p.notice.error", { role: "alert" }, "The console is disabled on this gateway: set WISP_ADMIN_TOKEN in its environment to enable it.")
      : h("p.lead", {}, "This console manages functions in a cluster, so it asks who you are."),
    disabled ? null : form);
  if (!disabled) input.focus();
});

window.addEventListener("hashchange", () => {
  render().then(() => {
    const heading = main.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
  });
});

loadInfo().then(() => { if (!signingIn) render(); });
