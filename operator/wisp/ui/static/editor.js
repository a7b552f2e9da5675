// Create / edit a Function: runtime and template, the handler in a code editor, memory, timeout,
// scale and env; Deploy sends the manifest, and validation errors appear next to their field.

import { api, fnPath, h, toast } from "./api.js";
import { codeArea, languageOf } from "./codearea.js";

const MEMORY = ["128Mi", "256Mi", "512Mi", "1Gi", "2Gi"];

// field path from the API -> id of the input it belongs to
function fieldId(path) {
  if (path === "metadata.name") return "f-name";
  if (path.startsWith("metadata.namespace")) return "f-namespace";
  if (path.startsWith("spec.code")) return "f-code";
  if (path.startsWith("spec.env")) return "f-env";
  const simple = { "spec.runtime": "f-runtime", "spec.handler": "f-handler", "spec.memory": "f-memory",
    "spec.timeout": "f-timeout", "spec.scale.min": "f-scale-min", "spec.scale.max": "f-scale-max",
    "spec.scale.target": "f-scale-target", "spec.scale.idleTimeout": "f-scale-idle" };
  return simple[path] || null;
}

function field(id, label, control, hint) {
  const hintEl = hint ? h("p.hint", { id: `${id}-hint` }, hint) : null;
  control.id = control.id || id;
  const describedBy = [hint ? `${id}-hint` : "", `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  return h("div.field", { "data-field": id },
    h("label", { for: id }, label), control, hintEl,
    h("p.field-error", { id: `${id}-error`, "aria-live": "polite" }));
}

function envRow(name = "", value = "") {
  const row = h("div.env-row");
  const n = h("input", { type: "text", value: name, "aria-label": "Variable name", placeholder: "NAME", class: "env-name" });
  const v = h("input", { type: "text", value, "aria-label": "Value", placeholder: "value", class: "env-value" });
  const remove = h("button.link", { type: "button", onclick: () => row.remove() }, "Remove");
  remove.setAttribute("aria-label", "Remove variable");
  row.append(n, v, remove);
  return row;
}

export async function editorPage(main, params, ctx) {
  const { info } = ctx;
  const isNew = !!params.isNew;
  let manifest = params.manifest || null;
  const runtimes = info.runtimes || [];
  const spec = manifest ? manifest.spec || {} : {};
  // The runtimes and the default come from the runtime table (the server's /api/info).
  const runtimeName = spec.runtime || (runtimes[0] && runtimes[0].runtime) || "";
  const runtimeInfo = (r) => runtimes.find((x) => x.runtime === r) || { handler: "main.handler", templates: {} };
  const inline = spec.code ? spec.code.inline : undefined;
  const codeKind = spec.code ? Object.keys(spec.code)[0] : "inline";

  if (isNew) {
    main.append(h("nav.crumbs", { "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Functions"), " / New"),
      h("h1", {}, "Create function"));
  }
  const form = h("form.editor", { novalidate: true });
  const general = h("div.notice.error", { role: "alert", hidden: true, id: "form-errors" });

  const name = h("input", { type: "text", value: manifest ? manifest.metadata.name : "", required: true,
    autocomplete: "off", spellcheck: "false", readonly: isNew ? null : true, placeholder: "hello" });
  const namespace = h("select", { disabled: isNew ? null : true },
    ...(isNew ? info.namespaces : [manifest.metadata.namespace || info.namespaces[0]]).map((ns) => h("option", { value: ns }, ns)));
  const runtime = h("select", {}, ...runtimes.map((r) => h("option", { value: r.runtime, selected: r.runtime === runtimeName }, r.runtime)));
  if (!runtimes.some((r) => r.runtime === runtimeName)) runtime.append(h("option", { value: runtimeName, selected: true }, runtimeName));
  const template = h("select", {}, ...Object.keys(runtimeInfo(runtimeName).templates).map((t) => h("option", { value: t }, t)));
  const handler = h("input", { type: "text", value: spec.handler || runtimeInfo(runtimeName).handler, spellcheck: "false" });
  const startCode = inline !== undefined ? inline : (runtimeInfo(runtimeName).templates.hello || "");
  const editor = codeArea({ id: "f-code", value: startCode, language: languageOf(runtimeName), rows: 16 });
  const defaults = info.defaults || {}; // the CRD's, keyed by path under spec (/ui/api/info)
  const memory = h("input", { type: "text", value: spec.memory || defaults.memory || "", list: "memory-sizes", spellcheck: "false" });
  const timeout = h("input", { type: "text", value: spec.timeout || defaults.timeout || "", spellcheck: "false" });
  const scale = spec.scale || {};
  const scaleMin = h("input", { type: "number", min: 0, value: scale.min ?? defaults["scale.min"] });
  const scaleMax = h("input", { type: "number", min: 1, value: scale.max ?? defaults["scale.max"] });
  const scaleTarget = h("input", { type: "number", min: 1, value: scale.target ?? defaults["scale.target"] });
  const scaleIdle = h("input", { type: "text", value: scale.idleTimeout || defaults["scale.idleTimeout"] || "" });
  const envList = h("div.env-list", { id: "f-env", tabindex: "-1" },
    ...(spec.env || []).filter((e) => "value" in e || !e.valueFrom).map((e) => envRow(e.name, e.value ?? "")));
  const keptEnv = (spec.env || []).filter((e) => e.valueFrom);
  let pristine = startCode;

  // A runtime about to be deprecated carries its warning; one missing from the list is past its
  // deprecation date (an existing Function keeps it, a new one cannot use it).
  const runtimeNote = h("p.warn.small", { id: "f-runtime-warning", role: "status" });
  const noteRuntime = (r) => {
    const known = runtimes.find((x) => x.runtime === r);
    runtimeNote.textContent = known ? (known.warning || "") : `runtime ${r} is deprecated: new Functions cannot use it`;
  };
  noteRuntime(runtimeName);
  runtime.addEventListener("change", () => noteRuntime(runtime.value));
  runtime.addEventListener("change", () => {
    const r = runtimeInfo(runtime.value);
    editor.setLanguage(languageOf(runtime.value));
    if (isNew) {
      handler.value = r.handler;
      template.replaceChildren(...Object.keys(r.templates).map((t) => h("option", { value: t }, t)));
      if (editor.value === pristine) { editor.value = r.templates[template.value] || ""; pristine = editor.value; }
    }
  });
  template.addEventListener("change", () => {
    const text = runtimeInfo(runtime.value).templates[template.value] || "";
    if (editor.value === pristine || confirm("Replace the code in the editor with this template?")) {
      editor.value = text;
      pristine = text;
    }
  });

  const codeField = h("div.field.code-field", { "data-field": "f-code" },
    h("label", { for: "f-code" }, "Handler code"),
    codeKind === "inline" ? editor.root
      : h("p.notice", {}, `This function's code comes from ${codeKind}; edit it there. Settings below can still be changed.`),
    h("p.hint", { id: "f-code-hint" }, "Tab indents. Press Esc, then Tab, to move on to the next field."),
    h("p.field-error", { id: "f-code-error", "aria-live": "polite" }));
  editor.textarea.setAttribute("aria-describedby", "f-code-hint f-code-error");

  const deploy = h("button.primary", { type: "submit" }, isNew ? "Deploy" : "Deploy changes");
  const saving = h("span.muted", { "aria-live": "polite" });
  form.append(
    general,
    h("div.grid-2", {},
      field("f-name", "Name", name, isNew ? "Lowercase letters, digits and '-'; it becomes the URL /function/<name>." : null),
      info.namespaces.length > 1 || !isNew ? field("f-namespace", "Namespace", namespace) : h("span")),
    h("div.grid-3", {},
      field("f-runtime", "Runtime", runtime),
      isNew ? field("f-template", "Template", template) : h("span"),
      field("f-handler", "Handler", handler, "module.function for Python, file.export for Node.js")),
    runtimeNote,
    codeField,
    h("fieldset", {}, h("legend", {}, "Resources"),
      h("div.grid-3", {},
        field("f-memory", "Memory", memory, "CPU follows memory; billed as GB-seconds."),
        field("f-timeout", "Timeout", timeout, "Per call, e.g. 30s or 5m (at most 15m)."),
        h("span"))),
    h("fieldset", {}, h("legend", {}, "Scaling"),
      h("div.grid-4", {},
        field("f-scale-min", "Min replicas", scaleMin, "0 scales to zero when idle."),
        field("f-scale-max", "Max replicas", scaleMax),
        field("f-scale-target", "Target in-flight per replica", scaleTarget),
        field("f-scale-idle", "Idle timeout", scaleIdle))),
    h("fieldset", {}, h("legend", {}, "Environment variables"),
      envList,
      keptEnv.length ? h("p.hint", {}, `${keptEnv.length} variable(s) from Secrets or ConfigMaps are kept as they are.`) : null,
      h("button.link", { type: "button", onclick: () => { const row = envRow(); envList.append(row); row.querySelector("input").focus(); } }, "Add variable"),
      h("p.field-error", { id: "f-env-error", "aria-live": "polite" })),
    h("datalist", { id: "memory-sizes" }, ...MEMORY.map((m) => h("option", { value: m }))),
    h("div.actions", {}, deploy, saving));

  function clearErrors() {
    general.hidden = true;
    general.replaceChildren();
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function showErrors(errors, fallback) {
    const unplaced = [];
    let first = null;
    for (const err of errors) {
      const id = fieldId(err.field || "");
      const slot = id && document.getElementById(`${id}-error`);
      if (!slot) { unplaced.push(err); continue; }
      slot.textContent = `${err.field}: ${err.message}`;
      const control = document.getElementById(id);
      if (control) { control.setAttribute("aria-invalid", "true"); first = first || control; }
    }
    if (unplaced.length || !errors.length) {
      general.hidden = false;
      general.append(h("p", {}, "The function was not deployed:"),
        h("ul", {}, ...(unplaced.length ? unplaced : [{ field: "", message: fallback }])
          .map((e) => h("li", {}, e.field ? `${e.field}: ${e.message}` : e.message))));
      first = first || general;
    }
    if (first) { if (first === general) general.setAttribute("tabindex", "-1"); first.focus(); }
  }

  function build() {
    const base = manifest ? JSON.parse(JSON.stringify(manifest)) : { apiVersion: "wisp.dev/v1alpha1", kind: "Function", metadata: {}, spec: {} };
    base.metadata.name = name.value.trim();
    base.metadata.namespace = namespace.value;
    const s = base.spec;
    s.runtime = runtime.value;
    s.handler = handler.value.trim();
    if (codeKind === "inline") s.code = { inline: editor.value };
    s.memory = memory.value.trim();
    s.timeout = timeout.value.trim();
    const int = (input) => (input.value === "" ? undefined : Number(input.value));
    s.scale = { ...(s.scale || {}), min: int(scaleMin), max: int(scaleMax), target: int(scaleTarget), idleTimeout: scaleIdle.value.trim() || undefined };
    const env = [...envList.querySelectorAll(".env-row")]
      .map((row) => ({ name: row.querySelector(".env-name").value.trim(), value: row.querySelector(".env-value").value }))
      .filter((e) => e.name);
    s.env = [...env, ...keptEnv];
    if (!s.env.length) delete s.env;
    return base;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = build();
    if (!body.metadata.name) { showErrors([{ field: "metadata.name", message: "Required value" }]); return; }
    deploy.disabled = true;
    saving.textContent = "Deploying…";
    const res = await api(fnPath(body.metadata.namespace, body.metadata.name), { method: "PUT", body });
    deploy.disabled = false;
    saving.textContent = "";
    if (!res.ok) {
      showErrors(res.data.errors || [], res.data.error || `HTTP ${res.status}`);
      return;
    }
    manifest = res.data.manifest;
    pristine = editor.value;
    toast(`Deployed ${body.metadata.name}${res.data.file ? ` to ${res.data.file}` : ""}`);
    if (isNew) location.hash = `#/f/${encodeURIComponent(body.metadata.namespace)}/${encodeURIComponent(body.metadata.name)}/test`;
    else saving.textContent = "Deployed.";
  });

  main.append(form);
  if (isNew) name.focus();
}
