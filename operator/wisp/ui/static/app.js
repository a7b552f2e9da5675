// The console's router: #/ (functions), #/new, #/f/<ns>/<name>[/<tab>], #/usage.
// Each page is a function (main, params, ctx) that may register work to stop on ctx.signal.

import { api, h } from "./api.js";
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
  badge.textContent = info.mode === "dev" ? "wisp dev" : info.mode === "cluster" ? "cluster" : "offline";
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

window.addEventListener("hashchange", () => {
  render().then(() => {
    const heading = main.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
  });
});

loadInfo().then(render);
