// The functions list: live (polled every 2 s) name, runtime, replicas, calls, error rate, p95, last call.

import { api, every, fmtAgo, fmtMs, fmtNumber, fmtPercent, h } from "./api.js";

function statusCell(fn) {
  if (!fn.ready) return h("span.status.bad", { title: fn.message || fn.reason }, fn.reason || "Not ready");
  if (fn.replicas.ready > 0) return h("span.status.ok", {}, "Ready");
  return h("span.status.idle", { title: "Scaled to zero: the next call starts it" }, "Idle");
}

function emptyState(info) {
  const how = info.mode === "cluster"
    ? h("p", {}, "Or apply one with ", h("code", {}, "kubectl apply -f function.yaml"), ".")
    : h("p", {}, "Or put a Function YAML file in the folder ", h("code", {}, "wisp dev"), " serves; it appears here.");
  return h("section.empty", { "aria-labelledby": "empty-title" },
    h("h2", { id: "empty-title" }, "No functions yet"),
    h("p", {}, "A function is a handler and a few settings. Write one here, deploy it, and call it with a test event."),
    h("p", {}, h("a.button.primary", { href: "#/new" }, "Create your first function")),
    how);
}

// The gateway's warm pools in a line: "Warm pool: python 2 free, 5 taken (1 missed) · node …".
function poolLine(pools) {
  const parts = Object.entries(pools || {}).sort(([a], [b]) => a.localeCompare(b)).map(([pool, n]) => {
    const taken = n.hit || 0;
    const missed = n.miss ? `, ${n.miss} missed` : "";
    const failed = n.failed ? `, ${n.failed} failed` : "";
    return `${pool} ${n.free || 0} free, ${taken} cold ${taken === 1 ? "start" : "starts"} served${missed}${failed}`;
  });
  return parts.length ? `Warm pool: ${parts.join(" · ")}` : "";
}

export async function listPage(main, _params, { info, signal }) {
  const status = h("p.muted.small", { "aria-live": "off" }, "");
  const pool = h("p.muted.small", { id: "warm-pool", "aria-live": "off" }, "");
  const body = h("div");
  main.append(
    h("div.page-head", {},
      h("h1", {}, "Functions"),
      h("a.button.primary", { href: "#/new" }, "Create function")),
    body, pool, status);

  const table = h("table.data", { id: "functions-table" },
    h("caption.sr-only", {}, "Functions, updated every 2 seconds"),
    h("thead", {}, h("tr", {},
      ...["Name", "Runtime", "Status", "Replicas (ready/desired)", "Invocations", "Error rate", "p95 (5 min)", "Last call"]
        .map((t, i) => h("th", { scope: "col", class: i >= 3 ? "num" : "" }, t)))),
    h("tbody"));
  const tbody = table.querySelector("tbody");

  every(2000, async () => {
    const res = await api("/functions");
    if (!res.ok) { status.textContent = res.data.error || "could not load functions"; return; }
    const fns = res.data.functions;
    if (!fns.length) {
      if (!body.querySelector(".empty")) body.replaceChildren(emptyState(info));
    } else {
      if (!body.contains(table)) body.replaceChildren(table);
      tbody.replaceChildren(...fns.map((fn) => {
        const link = `#/f/${encodeURIComponent(fn.namespace)}/${encodeURIComponent(fn.name)}`;
        const desired = fn.replicas.desired === null ? "–" : fn.replicas.desired;
        return h("tr", { "data-function": fn.name },
          h("th", { scope: "row" }, h("a", { href: link }, fn.name),
            info.namespaces.length > 1 || fn.namespace !== info.namespaces[0] ? h("span.muted.small", {}, ` ${fn.namespace}`) : null),
          h("td", { title: fn.runtimeWarning || "" }, fn.runtime,
            fn.runtimeWarning ? h("span.warn.small", { "data-deprecated": fn.runtime }, " deprecated") : null),
          h("td", {}, statusCell(fn)),
          h("td.num", {}, `${fn.replicas.ready}/${desired}`),
          h("td.num.invocations", {}, fmtNumber(fn.invocations)),
          h("td.num", {}, fmtPercent(fn.errorRate)),
          h("td.num", {}, fmtMs(fn.p95Ms)),
          h("td.num", { title: fn.lastCall ? new Date(fn.lastCall * 1000).toLocaleString() : "" }, fmtAgo(fn.lastCall, res.data.time)));
      }));
    }
    pool.textContent = poolLine(res.data.pool);
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }, signal);
}
