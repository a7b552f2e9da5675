// One function's page: a header with live status and Delete, and tabs Code / Test / Monitor / Logs
// / Versions / Dead letters.

import { api, every, fmtAgo, fmtMs, fmtNumber, fmtPercent, fnPath, h, toast } from "./api.js";
import { deadLettersPane } from "./deadletters.js";
import { editorPage } from "./editor.js";
import { logsPane } from "./logs.js";
import { monitorPane } from "./monitor.js";
import { testPane } from "./test.js";
import { versionsPane } from "./versions.js";

const TABS = [["code", "Code"], ["test", "Test"], ["monitor", "Monitor"], ["logs", "Logs"], ["versions", "Versions"], ["dead-letters", "Dead letters"]];

export async function functionPage(main, params, ctx) {
  const { namespace, name, tab } = params;
  const base = `#/f/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  const summary = h("dl.summary", { "aria-live": "off" });
  const remove = h("button.danger", { type: "button" }, "Delete");
  main.append(
    h("nav.crumbs", { "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Functions"), ` / ${name}`),
    h("div.page-head", {}, h("h1", {}, name), remove),
    summary,
    h("nav.tabs", { "aria-label": "Function sections" },
      ...TABS.map(([key, label]) => h("a", { href: `${base}/${key}`, "aria-current": key === tab ? "page" : null }, label))));
  const pane = h("section.pane", { "aria-label": TABS.find(([k]) => k === tab)?.[1] || "Code" });
  main.append(pane);

  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the function ${name}? Its replicas stop and its URL stops answering.`)) return;
    const res = await api(fnPath(namespace, name), { method: "DELETE" });
    if (!res.ok) { toast(res.data.error || `Delete failed (HTTP ${res.status})`); return; }
    toast(`Deleted ${name}`);
    location.hash = "#/";
  });

  const refresh = async () => {
    const res = await api("/functions");
    if (!res.ok) return;
    const fn = res.data.functions.find((f) => f.name === name && f.namespace === namespace);
    if (!fn) {
      summary.replaceChildren(h("div", {}, h("dt", {}, "Status"), h("dd", {}, "Not served yet (deploying, or not found)")));
      return;
    }
    const items = [
      ["Status", fn.ready ? (fn.replicas.ready ? "Ready" : "Idle (scaled to zero)") : `${fn.reason}: ${fn.message}`],
      ["Runtime", fn.runtimeWarning ? `${fn.runtime} (${fn.runtimeWarning})` : fn.runtime], ["Memory", fn.memory],
      ["Replicas", `${fn.replicas.ready} ready / ${fn.replicas.desired ?? "–"} desired`],
      ["Invocations", fmtNumber(fn.invocations)], ["Error rate", fmtPercent(fn.errorRate)],
      ["p95 (5 min)", fmtMs(fn.p95Ms)], ["Last call", fmtAgo(fn.lastCall, res.data.time)],
      ["Cold starts", fn.coldStarts ? `${fmtNumber(fn.coldStarts)} (${fmtNumber(fn.poolStarts)} from the warm pool)` : "none"],
      ["URL", `/function/${name}${namespace === ctx.info.namespaces[0] ? "" : "." + namespace}`],
    ];
    if (fn.oomKills) {
      const times = fn.oomKills === 1 ? "once" : `${fn.oomKills} times`;
      items.splice(1, 0, ["Out of memory", h("span.status.bad", {}, `killed ${times} for using more than ${fn.memory}: raise its memory`)]);
    }
    summary.replaceChildren(...items.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
  };
  every(2000, refresh, ctx.signal);
  // The Test tab asks for a refresh right after a call, so the numbers follow at once.
  window.addEventListener("wisp:called", refresh, { signal: ctx.signal });

  if (tab === "test") return testPane(pane, params, ctx);
  if (tab === "monitor") return monitorPane(pane, params, ctx);
  if (tab === "logs") return logsPane(pane, params, ctx);
  if (tab === "versions") return versionsPane(pane, params, ctx);
  if (tab === "dead-letters") return deadLettersPane(pane, params, ctx);
  const res = await api(fnPath(namespace, name));
  if (!res.ok) {
    pane.append(h("p.notice", {}, res.status === 404
      ? "This function's manifest is not available here (it may have been deleted)."
      : res.data.error));
    return undefined;
  }
  if (res.data.file) pane.append(h("p.muted.small", {}, `Saved in ${res.data.file}`));
  return editorPage(pane, { manifest: res.data.manifest }, ctx);
}
