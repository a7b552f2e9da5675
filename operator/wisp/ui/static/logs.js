// The Logs tab: the tail of all the function's pods, merged by time, filterable by request id
// and by level (the records at or above it).

import { api, every, fnPath, h } from "./api.js";

export async function logsPane(pane, { namespace, name }, { signal }) {
  const filter = h("input", { type: "search", id: "l-request", placeholder: "request id", spellcheck: "false" });
  const level = h("select", { id: "l-level" },
    h("option", { value: "" }, "All levels"),
    ...["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].map((l) => h("option", { value: l }, `${l} and above`)));
  const follow = h("input", { type: "checkbox", id: "l-follow", checked: true });
  const tbody = h("tbody");
  const table = h("table.data.logs-table", {},
    h("caption.sr-only", {}, "Log lines, oldest first"),
    h("thead", {}, h("tr", {}, ...["Time", "Pod", "Level", "Request id", "Message"].map((t) => h("th", { scope: "col" }, t)))),
    tbody);
  const empty = h("p.muted", {}, "No log lines yet. Call the function (the Test tab) and its output appears here.");
  const box = h("div", {}, empty);
  pane.append(
    h("div.toolbar", {},
      h("label", { for: "l-request" }, "Filter by request id"), filter,
      h("label", { for: "l-level" }, "Level"), level,
      h("label.check", { for: "l-follow" }, follow, " Follow")),
    box);
  const load = async () => {
    const id = filter.value.trim();
    const query = `tail=500${id ? `&requestId=${encodeURIComponent(id)}` : ""}${level.value ? `&level=${level.value}` : ""}`;
    const res = await api(`${fnPath(namespace, name)}/logs?${query}`);
    if (!res.ok) { box.replaceChildren(h("p.notice.error", {}, res.data.error)); return; }
    const lines = res.data.lines;
    if (!lines.length) {
      const which = [id && `request ${id}`, level.value && `level ${level.value} and above`].filter(Boolean).join(" at ");
      box.replaceChildren(which ? h("p.muted", {}, `No lines for ${which}.`) : empty);
      return;
    }
    const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    tbody.replaceChildren(...lines.map((l) => h("tr", {},
      h("td.mono.small", {}, l.time.replace("T", " ").replace(/\.\d+Z$|Z$/, "")),
      h("td.small", {}, l.pod),
      h("td", {}, h("span.level", { "data-level": l.level }, l.level)),
      h("td.mono.small", {}, l.requestId
        ? h("button.link.mono", { type: "button", title: "Show only this request", onclick: () => { filter.value = l.requestId; load(); } }, l.requestId.slice(0, 12))
        : ""),
      h("td.message", {}, l.message))));
    if (!box.contains(table)) box.replaceChildren(table);
    if (follow.checked && atBottom) window.scrollTo(0, document.body.scrollHeight);
  };
  filter.addEventListener("input", () => { clearTimeout(load.timer); load.timer = setTimeout(load, 250); });
  level.addEventListener("change", load);
  every(2000, async () => { if (follow.checked) await load(); }, signal);
  if (!follow.checked) await load();
}
