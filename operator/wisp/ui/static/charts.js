// Hand-written SVG charts over per-minute points: bars for counts, lines for levels.
// Each chart is a <figure> with a caption, a legend, and an SVG whose <title>/<desc> summarise
// it for screen readers.

const NS = "http://www.w3.org/2000/svg";
const W = 600, H = 170, PAD = { left: 48, right: 12, top: 10, bottom: 24 };

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function clock(t) {
  const d = new Date(t * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

// chart({title, points, series: [{key, label, kind: "bar"|"line"|"step", color, dash}], format})
export function chart({ title, points, series, format = (v) => String(v), id, integer = false }) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  if (id) figure.id = id;
  const caption = document.createElement("figcaption");
  const heading = document.createElement("span");
  heading.className = "chart-title";
  heading.textContent = title;
  caption.append(heading);
  const legend = document.createElement("span");
  legend.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    item.innerHTML = `<svg width="18" height="10" aria-hidden="true"><line x1="0" y1="5" x2="18" y2="5" stroke="${s.color}" stroke-width="${s.kind === "bar" ? 8 : 2.5}" ${s.dash ? `stroke-dasharray="${s.dash}"` : ""}/></svg>`;
    item.append(s.label);
    legend.append(item);
  }
  caption.append(legend);

  const values = series.flatMap((s) => points.map((p) => p[s.key]).filter((v) => v !== null && v !== undefined));
  const highest = Math.max(0, ...values);
  // Integer series (counts) get whole-number gridlines: 0..4 at least.
  const top = integer ? 4 * Math.max(1, niceMax(highest / 4)) : niceMax(highest);
  const innerW = W - PAD.left - PAD.right, innerH = H - PAD.top - PAD.bottom;
  const n = Math.max(points.length, 1);
  const x = (i) => PAD.left + (i + 0.5) * (innerW / n);
  const y = (v) => PAD.top + innerH - (v / top) * innerH;

  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "chart-svg" });
  const titleEl = svg("title");
  titleEl.textContent = title;
  const latest = series.map((s) => {
    const last = [...points].reverse().find((p) => p[s.key] !== null && p[s.key] !== undefined);
    const total = points.reduce((acc, p) => acc + (p[s.key] || 0), 0);
    return s.kind === "bar" ? `${s.label}: ${format(total)} in the last ${points.length} minutes`
      : `${s.label}: latest ${last ? format(last[s.key]) : "no data"}`;
  }).join("; ");
  const desc = svg("desc");
  desc.textContent = latest;
  root.append(titleEl, desc);

  for (let k = 0; k <= 4; k += 1) {
    const v = (top * k) / 4;
    const gy = y(v);
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: gy, y2: gy, class: "grid" }));
    const label = svg("text", { x: PAD.left - 6, y: gy + 4, "text-anchor": "end", class: "axis" });
    label.textContent = format(v);
    root.append(label);
  }
  const every = Math.max(1, Math.ceil(n / 6));
  points.forEach((p, i) => {
    if ((n - 1 - i) % every !== 0) return;
    const label = svg("text", { x: x(i), y: H - 6, "text-anchor": "middle", class: "axis" });
    label.textContent = clock(p.t);
    root.append(label);
  });

  const bars = series.filter((s) => s.kind === "bar");
  const slot = innerW / n;
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, bars.length));
  bars.forEach((s, b) => {
    points.forEach((p, i) => {
      const v = p[s.key];
      if (!v) return;
      const bx = PAD.left + i * slot + slot * 0.1 + b * barW;
      const rect = svg("rect", { x: bx, y: y(v), width: barW, height: PAD.top + innerH - y(v), fill: s.color });
      const tip = svg("title");
      tip.textContent = `${clock(p.t)} ${s.label}: ${format(v)}`;
      rect.append(tip);
      root.append(rect);
    });
  });
  for (const s of series.filter((s) => s.kind !== "bar")) {
    let d = "";
    let pen = false;
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v === null || v === undefined) { pen = false; return; }
      if (s.kind === "step" && pen) d += `H${x(i)}V${y(v)}`;
      else d += `${pen ? "L" : "M"}${x(i)},${y(v)}`;
      pen = true;
    });
    if (d) root.append(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2.5, "stroke-dasharray": s.dash || "none", class: `series-${s.key}` }));
    points.forEach((p, i) => {  // a marker per value, so a lone minute is visible too
      const v = p[s.key];
      if (v === null || v === undefined) return;
      const previous = i > 0 ? points[i - 1][s.key] : null;
      if (s.kind === "step" && previous === v) return;
      const dot = svg("circle", { cx: x(i), cy: y(v), r: 3, fill: s.color });
      const tip = svg("title");
      tip.textContent = `${clock(p.t)} ${s.label}: ${format(v)}`;
      dot.append(tip);
      root.append(dot);
    });
  }
  figure.append(caption, root);
  return figure;
}
