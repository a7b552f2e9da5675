// The Test tab: saved test events, send one, see status, headers, body, duration, cold start and
// the function's log lines for that request id.

import { api, fmtMs, fnPath, h, toast } from "./api.js";
import { codeArea } from "./codearea.js";

const DEFAULT_EVENT = '{\n  "name": "wisp"\n}\n';

export async function testPane(pane, { namespace, name }, { signal }) {
  const path = fnPath(namespace, name);
  const saved = h("select", { id: "t-saved" }, h("option", { value: "" }, "(new event)"));
  const eventName = h("input", { type: "text", id: "t-name", value: "", placeholder: "my-event", spellcheck: "false" });
  const event = codeArea({ id: "t-event", value: DEFAULT_EVENT, language: "json", rows: 10, describedBy: "t-event-error" });
  const error = h("p.field-error", { id: "t-event-error", "aria-live": "polite" });
  const send = h("button.primary", { type: "submit" }, "Test");
  const save = h("button", { type: "button" }, "Save event");
  const drop = h("button.link", { type: "button" }, "Delete saved event");
  const result = h("section.result", { "aria-labelledby": "result-title", "aria-live": "polite" },
    h("h2", { id: "result-title" }, "Result"),
    h("p.muted", {}, "Send an event to see what the function returns and the lines it logs."));
  let events = {};

  async function loadEvents(select) {
    const res = await api(`${path}/events`);
    events = res.ok ? res.data.events : {};
    saved.replaceChildren(h("option", { value: "" }, "(new event)"),
      ...Object.keys(events).sort().map((k) => h("option", { value: k, selected: k === select }, k)));
  }
  saved.addEventListener("change", () => {
    if (!saved.value) return;
    eventName.value = saved.value;
    event.value = JSON.stringify(events[saved.value], null, 2) + "\n";
  });

  function parsed() {
    error.textContent = "";
    event.textarea.removeAttribute("aria-invalid");
    try { return { ok: true, value: JSON.parse(event.value || "{}") }; } catch (err) {
      error.textContent = `The event must be JSON: ${err.message}`;
      event.textarea.setAttribute("aria-invalid", "true");
      event.textarea.focus();
      return { ok: false };
    }
  }

  save.addEventListener("click", async () => {
    const p = parsed();
    if (!p.ok) return;
    const key = eventName.value.trim();
    if (!key) { eventName.setAttribute("aria-invalid", "true"); eventName.focus(); toast("Name the event to save it"); return; }
    eventName.removeAttribute("aria-invalid");
    const res = await api(`${path}/events/${encodeURIComponent(key)}`, { method: "PUT", body: p.value });
    if (!res.ok) { toast(res.data.error || "could not save"); return; }
    toast(`Saved event ${key}`);
    await loadEvents(key);
  });
  drop.addEventListener("click", async () => {
    if (!saved.value) { toast("Choose a saved event first"); return; }
    const res = await api(`${path}/events/${encodeURIComponent(saved.value)}`, { method: "DELETE" });
    toast(res.ok ? `Deleted event ${saved.value}` : res.data.error);
    await loadEvents("");
  });

  async function showLogs(box, requestId) {
    for (let attempt = 0; attempt < 10 && !signal.aborted; attempt += 1) {
      const res = await api(`${path}/logs?requestId=${encodeURIComponent(requestId)}&tail=200`);
      const lines = res.ok ? res.data.lines : [];
      if (lines.length) {
        box.replaceChildren(...lines.map((l) => h("div.logline", {},
          h("span.level", { "data-level": l.level }, l.level), " ", l.message)));
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    box.replaceChildren(h("p.muted", {}, "No log lines for this request."));
  }

  const form = h("form.test", { novalidate: true },
    h("div.grid-2", {},
      h("div.field", {}, h("label", { for: "t-saved" }, "Saved events"), saved),
      h("div.field", {}, h("label", { for: "t-name" }, "Event name"), eventName)),
    h("div.field", {}, h("label", { for: "t-event" }, "Event (JSON)"), event.root, error),
    h("div.actions", {}, send, save, drop));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = parsed();
    if (!p.ok) return;
    send.disabled = true;
    result.replaceChildren(h("h2", { id: "result-title" }, "Result"), h("p.muted", {}, "Calling… (a function at zero replicas starts first)"));
    const res = await api(`${path}/invoke`, { method: "POST", body: { event: p.value } });
    send.disabled = false;
    if (!res.ok) {
      result.replaceChildren(h("h2", { id: "result-title" }, "Result"), h("p.notice.error", {}, res.data.error || `HTTP ${res.status}`));
      return;
    }
    const r = res.data;
    window.dispatchEvent(new CustomEvent("wisp:called"));
    let body = r.body;
    try { body = JSON.stringify(JSON.parse(r.body), null, 2); } catch { /* not JSON: show as is */ }
    const ok = r.status < 400;
    const logs = h("div.logs", { id: "result-logs" }, h("p.muted", {}, "Reading log lines…"));
    result.replaceChildren(
      h("h2", { id: "result-title" }, "Result"),
      h("dl.summary", {},
        h("div", {}, h("dt", {}, "Status"), h("dd", {}, h("span", { class: `status ${ok ? "ok" : "bad"}`, id: "result-status" }, String(r.status)))),
        h("div", {}, h("dt", {}, "Duration"), h("dd", { id: "result-duration" }, fmtMs(r.durationMs))),
        h("div", {}, h("dt", {}, "Handler time"), h("dd", {}, fmtMs(r.handlerMs))),
        h("div", {}, h("dt", {}, "Cold start"), h("dd", { id: "result-cold" }, r.coldStart ? `yes (${fmtMs(r.coldStartMs)} to start)` : "no")),
        h("div", {}, h("dt", {}, "Request id"), h("dd", {}, h("code", { id: "result-request-id" }, r.requestId)))),
      h("h3", {}, "Response body"),
      h("pre.output", { id: "result-body", tabindex: "0" }, body),
      h("details", {}, h("summary", {}, `Response headers (${Object.keys(r.headers).length})`),
        h("table.data.compact", {}, h("tbody", {}, ...Object.entries(r.headers).map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))))),
      h("h3", {}, "Log lines for this request"),
      logs);
    showLogs(logs, r.requestId);
  });

  pane.append(h("div.split", {}, h("div", {}, h("h2", {}, "Event"), form), result));
  await loadEvents("");
}
