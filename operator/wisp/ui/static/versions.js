// The Versions tab: the function's published versions (newest first) with the share of each
// alias's calls they get, and per alias a traffic slider. Moving the slider (or choosing the
// alias's version or its canary) writes the alias through the console's API, which patches the
// Function's spec.aliases with the gateway's credentials: the API server checks the versions and
// RBAC decides whether the patch is allowed. Its answer, refusal included, is shown at once.

import { api, every, fnPath, h, toast } from "./api.js";

function trafficText(traffic) {
  const parts = Object.entries(traffic).map(([alias, percent]) => `${alias} ${percent}%`);
  return parts.length ? parts.join(", ") : "–";
}

function versionsTable(doc) {
  return h("table.data", { id: "versions" },
    h("caption.sr-only", {}, "Published versions"),
    h("thead", {}, h("tr", {}, ...["Version", "Traffic", "Ready", "Replicas", "Referenced", "Created"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...doc.versions.map((v) => h("tr", { "data-version": v.version },
      h("td", {}, String(v.version)), h("td.traffic", {}, trafficText(v.traffic)),
      h("td", {}, h(`span.status.${v.ready === "True" ? "ok" : "idle"}`, {}, v.ready)),
      h("td.num", {}, String(v.replicas)), h("td", {}, v.referenced ? "yes" : "no"), h("td.small", {}, v.created)))));
}

function options(numbers, selected, none) {
  const out = none ? [h("option", { value: "" }, none)] : [];
  for (const n of numbers) out.push(h("option", { value: String(n), selected: n === selected }, `version ${n}`));
  return out;
}

// One alias: its version, an optional canary version and the slider giving the canary its share.
function aliasForm(name, alias, numbers, save) {
  const id = `alias-${name}`;
  const version = h("select", { id: `${id}-version` }, ...options(numbers, alias.version));
  const canary = h("select", { id: `${id}-canary` }, ...options(numbers, alias.additionalVersion, "none"));
  const slider = h("input", { type: "range", id: `${id}-weight`, min: 0, max: 100, step: 1, value: alias.weight });
  const split = h("output", { id: `${id}-split`, for: `${id}-weight`, "aria-live": "polite" });
  const error = h("p.field-error", { id: `${id}-error`, "aria-live": "polite" });
  slider.setAttribute("aria-describedby", `${id}-split ${id}-error`);

  // The canary is another version than the alias's own.
  const syncCanary = () => {
    if (canary.value === version.value) canary.value = "";
    for (const option of canary.options) option.disabled = option.value === version.value;
  };
  const describe = () => {
    syncCanary();
    const other = canary.value;
    slider.disabled = !other;
    const weight = other ? Number(slider.value) : 0;
    split.textContent = other
      ? `${100 - weight}% to version ${version.value}, ${weight}% to version ${other}`
      : `100% to version ${version.value}`;
    slider.setAttribute("aria-valuetext", split.textContent);
  };
  // One write at a time, in the order the user made the changes: a change made while a write is
  // on its way is sent once that write is answered, with the form as it is then (two writes in
  // flight could land in either order and leave the older one in place).
  let writing = false;
  let again = false;
  const send = async () => {
    describe();
    if (writing) { again = true; return; }
    writing = true;
    try {
      do {
        again = false;
        const other = canary.value ? Number(canary.value) : null;
        const body = { version: Number(version.value), additionalVersion: other, weight: other ? Number(slider.value) : 0 };
        error.textContent = "";
        const res = await save(name, body);
        if (!res.ok) {
          const fields = (res.data.errors || []).map((e) => `${e.field}: ${e.message}`);
          error.textContent = fields.length ? fields.join("; ") : res.data.error || `HTTP ${res.status}`;
        }
      } while (again);
    } finally {
      writing = false;
    }
  };
  version.addEventListener("change", send);
  canary.addEventListener("change", send);
  slider.addEventListener("input", describe);
  slider.addEventListener("change", send); // on release (or each arrow key): one patch, not one per pixel
  describe();
  return h("fieldset.alias", { "data-alias": name },
    h("legend", {}, `Alias ${name}`),
    h("div.field", {}, h("label", { for: version.id }, `${name}: version`), version),
    h("div.field", {}, h("label", { for: canary.id }, `${name}: canary version`), canary),
    h("div.field", {}, h("label", { for: slider.id }, `${name}: traffic to the canary`), slider, split),
    error);
}

export async function versionsPane(pane, { namespace, name }, { signal }) {
  const body = h("div", { id: "releases" });
  pane.append(
    h("p.muted.small", {}, "Published versions are immutable. An alias sends its calls to a version, or splits them with a canary version: move the slider to shift traffic, back to 0 to roll back. Changes apply to the next call."),
    body);
  const url = `${fnPath(namespace, name)}/versions`;

  const save = async (alias, payload) => {
    const res = await api(`${fnPath(namespace, name)}/aliases/${encodeURIComponent(alias)}`, { method: "PUT", body: payload });
    if (res.ok) {
      toast(`Alias ${alias} saved`);
      draw(res.data, false);
    }
    return res;
  };

  const draw = (doc, forms = true) => {
    if (!doc.supported) { body.replaceChildren(h("p.notice", {}, doc.reason)); return; }
    if (!doc.versions.length) {
      body.replaceChildren(h("p.notice", {}, `No versions yet: publish one (wisp publish ${name}, or spec.publish: true).`));
      return;
    }
    const table = versionsTable(doc);
    const old = body.querySelector("#versions");
    if (old && !forms) { old.replaceWith(table); return; } // keep the forms (and focus) as they are
    const numbers = doc.versions.map((v) => v.version);
    const aliases = Object.entries(doc.aliases);
    body.replaceChildren(h("h2", {}, "Versions"), table, h("h2", {}, "Aliases"),
      aliases.length
        ? h("div", {}, ...aliases.map(([alias, spec]) => aliasForm(alias, spec, numbers, save)))
        : h("p.muted", {}, `No aliases: add one with wisp alias ${name} prod VERSION.`));
  };

  const res = await api(url);
  if (signal.aborted) return;
  if (!res.ok) { body.replaceChildren(h("p.notice.error", { role: "alert" }, res.data.error || `HTTP ${res.status}`)); return; }
  draw(res.data);
  // Replicas and readiness follow; the forms stay as the user left them.
  every(3000, async () => {
    const fresh = await api(url);
    if (fresh.ok && !signal.aborted && body.querySelector("#versions")) draw(fresh.data, false);
  }, signal);
}
