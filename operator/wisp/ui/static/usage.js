// Usage: billed GB-seconds (call duration x memory) per function per hour or day, priced per
// GB-second, with a CSV export of the same rows.

import { API, api, authHeaders, fmtNumber, h, toast } from "./api.js";

export async function usagePage(main, _params, { info }) {
  const period = h("select", { id: "u-period" }, h("option", { value: "hour" }, "per hour"), h("option", { value: "day" }, "per day"));
  const fnFilter = h("select", { id: "u-function" }, h("option", { value: "" }, "all functions"));
  const csv = h("button", { type: "button", id: "u-csv" }, "Download CSV");
  const body = h("div");
  main.append(
    h("div.page-head", {}, h("h1", {}, "Usage")),
    h("p.lead", {}, "Billed usage is each call's duration times the function's memory, in GB-seconds (as Lambda bills), over the last 24 hours. ",
      `Price: $${info.pricePerGbSecond} per GB-second (set WISP_PRICE_PER_GB_SECOND to change it).`),
    h("div.toolbar", {}, h("label", { for: "u-period" }, "Group"), period, h("label", { for: "u-function" }, "Function"), fnFilter, csv),
    body);
  const fns = await api("/functions");
  if (fns.ok) for (const f of fns.data.functions) fnFilter.append(h("option", { value: f.name }, f.name));
  const money = (v) => `$${v < 0.01 && v > 0 ? v.toFixed(6) : v.toFixed(4)}`;
  const load = async () => {
    const q = `period=${period.value}${fnFilter.value ? `&function=${encodeURIComponent(fnFilter.value)}` : ""}`;
    csv.dataset.query = q;
    const res = await api(`/usage?${q}`);
    if (!res.ok) { body.replaceChildren(h("p.notice.error", {}, res.data.error)); return; }
    const { rows, totals } = res.data;
    if (!rows.length) {
      body.replaceChildren(h("section.empty", {}, h("h2", {}, "No usage yet"),
        h("p", {}, "Usage appears once functions are called. Open a function and send a test event, or call it at /function/<name>.")));
      return;
    }
    const when = (iso) => {
      const d = new Date(iso);
      return period.value === "day" ? d.toISOString().slice(0, 10) : `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
    };
    body.replaceChildren(h("table.data", { id: "usage-table" },
      h("caption.sr-only", {}, `Usage per ${period.value}`),
      h("thead", {}, h("tr", {}, ...["Function", "Namespace", period.value === "day" ? "Day" : "Hour", "Invocations", "GB-seconds", "Cost (USD)"]
        .map((t, i) => h("th", { scope: "col", class: i >= 3 ? "num" : "" }, t)))),
      h("tbody", {}, ...rows.map((r) => h("tr", {},
        h("th", { scope: "row" }, r.function), h("td", {}, r.namespace), h("td", {}, when(r.periodStart)),
        h("td.num", {}, fmtNumber(r.invocations)), h("td.num", {}, r.gbSeconds.toFixed(3)), h("td.num", {}, money(r.cost))))),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: 3 }, "Total"),
        h("td.num", {}, fmtNumber(totals.invocations)), h("td.num", {}, totals.gbSeconds.toFixed(3)), h("td.num", {}, money(totals.cost))))));
  };
  // Fetched (not a plain link) so the admin token goes with it in a cluster.
  csv.addEventListener("click", async () => {
    const response = await fetch(`${API}/usage?${csv.dataset.query}&format=csv`, { headers: authHeaders() });
    if (!response.ok) { toast(`Export failed (HTTP ${response.status})`); return; }
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = disposition.match(/filename="([^"]+)"/);
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: match ? match[1] : "wisp-usage.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });
  period.addEventListener("change", load);
  fnFilter.addEventListener("change", load);
  await load();
}
