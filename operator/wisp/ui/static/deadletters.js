// The Dead letters tab: this function's async invocations that failed for good (retries
// exhausted, too old, stopped by the recursion guard), from the gateway's /system/dead-letters
// API (the one `wisp dlq` uses). Redrive one or all after a fix, or purge them.

import { authHeaders, every, h, toast } from "./api.js";

async function system(path, body) {
  const init = { method: body === undefined ? "GET" : "POST", headers: authHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(`/system/dead-letters/functions/${path}`, init);
    const type = res.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await res.json() : { error: await res.text() };
    return { ok: res.ok, status: res.status, data };
  } catch (err) {
    return { ok: false, status: 0, data: { error: err.message } };
  }
}

export async function deadLettersPane(pane, { namespace, name }, { signal }) {
  const key = encodeURIComponent(`${name}.${namespace}`);
  const redriveAll = h("button", { type: "button" }, "Redrive all");
  const purgeAll = h("button.danger", { type: "button" }, "Purge all");
  const body = h("div", { id: "dead-letters" });
  pane.append(
    h("p.muted.small", {}, "Async invocations given up on. Fix the function, then redrive: each runs again with its id, attempts starting over."),
    h("div.toolbar", {}, redriveAll, purgeAll), body);

  const draw = async () => {
    const res = await system(key);
    if (!res.ok) {
      const away = res.status === 404 && res.data.error !== "SourceNotFound";
      body.replaceChildren(h("p.notice", {}, away
        ? `Dead letters are not served on this port: use wisp dlq list --function ${name} against the gateway.`
        : res.data.message || res.data.error || `HTTP ${res.status}`));
      return;
    }
    const entries = res.data.entries;
    redriveAll.disabled = purgeAll.disabled = entries.length === 0;
    if (!entries.length) { body.replaceChildren(h("p.muted", {}, "No dead letters.")); return; }
    body.replaceChildren(h("table.data", {},
      h("thead", {}, h("tr", {}, ...["Invocation", "Reason", "Attempts", "Redrives", "Failed at", "Error", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, ...entries.map((e) => h("tr", { "data-id": e.id },
        h("td", {}, h("code", {}, e.invocationId || e.originalId)),
        h("td.reason", {}, e.reason), h("td", {}, e.attempts), h("td.redrives", {}, e.redrives),
        h("td", {}, e.failedAt), h("td.small", { title: e.error }, e.error.slice(0, 80)),
        h("td", {}, h("button", { type: "button", onclick: () => act("redrive", { ids: [e.id] }) }, "Redrive")))))));
  };

  const act = async (verb, selection) => {
    const res = await system(`${key}/${verb}`, selection);
    if (!res.ok) { toast(res.data.message || res.data.error || `${verb} failed (HTTP ${res.status})`); return; }
    toast(verb === "redrive" ? `Redriven ${res.data.redriven}` : `Purged ${res.data.purged}`);
    await draw();
  };
  redriveAll.addEventListener("click", () => act("redrive", { all: true }));
  purgeAll.addEventListener("click", () => {
    if (confirm(`Delete every dead letter of ${name}? They cannot be redriven afterwards.`)) act("purge", { all: true });
  });
  every(2000, draw, signal);
}
