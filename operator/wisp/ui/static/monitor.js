// The Monitor tab: per-minute charts of invocations and errors, duration percentiles, replicas,
// and billed GB-seconds, over the last hour (refreshed every 5 s).

import { api, every, fmtMs, fnPath, h } from "./api.js";
import { chart } from "./charts.js";

const BLUE = "#1d4ed8", ORANGE = "#c2410c", GREEN = "#15803d", PURPLE = "#7e22ce";

export async function monitorPane(pane, { namespace, name }, { signal }) {
  const range = h("select", { id: "m-range" },
    h("option", { value: "30" }, "last 30 minutes"),
    h("option", { value: "60", selected: true }, "last hour"),
    h("option", { value: "360" }, "last 6 hours"),
    h("option", { value: "1440" }, "last 24 hours"));
  const grid = h("div.charts");
  pane.append(h("div.toolbar", {}, h("label", { for: "m-range" }, "Show"), range), grid);
  const draw = async () => {
    const res = await api(`${fnPath(namespace, name)}/series?minutes=${range.value}`);
    if (!res.ok) { grid.replaceChildren(h("p.notice.error", {}, res.data.error)); return; }
    const points = res.data.points;
    const int = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
    const gb = (v) => (v >= 1 ? v.toFixed(2) : v === 0 ? "0" : v.toPrecision(2));
    grid.replaceChildren(
      chart({ id: "chart-invocations", title: "Invocations and errors per minute", points, format: int, integer: true,
        series: [{ key: "invocations", label: "invocations", kind: "bar", color: BLUE },
          { key: "errors", label: "errors (5xx)", kind: "bar", color: ORANGE }] }),
      chart({ id: "chart-duration", title: "Duration percentiles", points, format: (v) => fmtMs(v),
        series: [{ key: "p50Ms", label: "p50", kind: "line", color: GREEN },
          { key: "p95Ms", label: "p95", kind: "line", color: BLUE, dash: "6 3" },
          { key: "p99Ms", label: "p99", kind: "line", color: PURPLE, dash: "2 3" }] }),
      chart({ id: "chart-replicas", title: "Replicas", points, format: int, integer: true,
        series: [{ key: "replicasReady", label: "ready", kind: "step", color: GREEN },
          { key: "replicasDesired", label: "desired", kind: "step", color: ORANGE, dash: "6 3" }] }),
      chart({ id: "chart-usage", title: "Billed GB-seconds per minute", points, format: gb,
        series: [{ key: "gbSeconds", label: "GB-seconds", kind: "bar", color: PURPLE }] }));
  };
  range.addEventListener("change", draw);
  every(5000, draw, signal);
}
