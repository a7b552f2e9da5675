// A small code editor: a <textarea> (so typing, selection, undo, screen readers and mobile work as
// in any form field) over a <pre> that shows the same text with syntax highlighting.
// Tab indents; Escape then Tab leaves the editor (the keyboard is never trapped).

const KEYWORDS = {
  python: "and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield match case",
  javascript: "async await break case catch class const continue debugger default delete do else export extends false finally for function if import in instanceof let new null of return static super switch this throw true try typeof undefined var void while with yield",
  json: "true false null",
};
const BUILTINS = {
  python: "print len dict list str int float bool range enumerate isinstance open sorted sum min max map filter zip json time os self",
  javascript: "console JSON Math Promise Object Array String Number Date exports module require process",
  json: "",
};

function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function rules(language) {
  if (language === "python") {
    return [
      ["comment", /#[^\n]*/y],
      ["string", /[rbfuRBFU]{0,2}("""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)/y],
      ["decorator", /@[A-Za-z_][\w.]*/y],
      ["number", /\b(?:0[xob][\da-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?)\b/y],
      ["word", /[A-Za-z_]\w*/y],
    ];
  }
  if (language === "json") {
    return [
      ["key", /"(?:\\.|[^"\\\n])*"(?=\s*:)/y],
      ["string", /"(?:\\.|[^"\\\n])*"?/y],
      ["number", /-?\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/y],
      ["word", /[A-Za-z_]\w*/y],
    ];
  }
  return [
    ["comment", /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
    ["string", /`(?:\\[\s\S]|[^`\\])*`?|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?/y],
    ["number", /\b(?:0[xob][\da-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?)\b/y],
    ["word", /[A-Za-z_$][\w$]*/y],
  ];
}

export function highlight(text, language) {
  const keywords = new Set((KEYWORDS[language] || "").split(" "));
  const builtins = new Set((BUILTINS[language] || "").split(" "));
  const table = rules(language);
  let out = "";
  let i = 0;
  let plain = "";
  let previousWord = "";
  const flush = () => { if (plain) { out += escapeHtml(plain); plain = ""; } };
  while (i < text.length) {
    let matched = false;
    for (const [kind, re] of table) {
      re.lastIndex = i;
      const m = re.exec(text);
      if (!m || m[0].length === 0) continue;
      flush();
      let cls = kind;
      if (kind === "word") {
        if (keywords.has(m[0])) cls = "keyword";
        else if (builtins.has(m[0])) cls = "builtin";
        else if (previousWord === "def" || previousWord === "function" || previousWord === "class") cls = "def";
        else cls = "";
        previousWord = m[0];
      }
      out += cls ? `<span class="tok-${cls}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
      i += m[0].length;
      matched = true;
      break;
    }
    if (!matched) {
      if (!/\s/.test(text[i])) previousWord = "";
      plain += text[i];
      i += 1;
    }
  }
  flush();
  return out + "\n"; // keeps the last empty line's height
}

export function languageOf(runtime) {
  if (!runtime) return "python";
  if (runtime.startsWith("node")) return "javascript";
  if (runtime === "json") return "json";
  return "python";
}

function insert(textarea, text) {
  textarea.focus();
  // execCommand keeps the browser's undo history; setRangeText is the fallback.
  if (!document.execCommand || !document.execCommand("insertText", false, text)) {
    textarea.setRangeText(text, textarea.selectionStart, textarea.selectionEnd, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }
}

// codeArea({id, label, value, language, rows, describedBy}) -> {root, textarea, value, setLanguage}
export function codeArea({ id, value = "", language = "python", rows = 16, describedBy = "" }) {
  const root = document.createElement("div");
  root.className = "codearea";
  root.style.setProperty("--rows", rows);
  const pre = document.createElement("pre");
  pre.setAttribute("aria-hidden", "true");
  const code = document.createElement("code");
  pre.append(code);
  const textarea = document.createElement("textarea");
  textarea.id = id;
  textarea.spellcheck = false;
  textarea.setAttribute("autocapitalize", "off");
  textarea.setAttribute("autocomplete", "off");
  textarea.setAttribute("wrap", "off");
  if (describedBy) textarea.setAttribute("aria-describedby", describedBy);
  textarea.value = value;
  root.append(pre, textarea);

  let lang = language;
  let escaped = false;
  const render = () => {
    code.innerHTML = highlight(textarea.value, lang);
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  };
  textarea.addEventListener("input", render);
  textarea.addEventListener("scroll", () => {
    pre.scrollTop = textarea.scrollTop;
    pre.scrollLeft = textarea.scrollLeft;
  });
  textarea.addEventListener("keydown", (event) => {
    const indent = lang === "python" ? "    " : "  ";
    if (event.key === "Escape") { escaped = true; return; }
    if (event.key === "Tab" && !escaped && !event.ctrlKey && !event.altKey && !event.metaKey) {
      event.preventDefault();
      if (event.shiftKey) {
        const start = textarea.value.lastIndexOf("\n", textarea.selectionStart - 1) + 1;
        if (textarea.value.startsWith(indent, start)) {
          textarea.setSelectionRange(start, start + indent.length);
          insert(textarea, "");
        }
      } else {
        insert(textarea, indent);
      }
    } else if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey) {
      const before = textarea.value.slice(0, textarea.selectionStart);
      const line = before.slice(before.lastIndexOf("\n") + 1);
      let lead = line.match(/^[ \t]*/)[0];
      if (/[:{[(]\s*$/.test(line)) lead += indent;
      event.preventDefault();
      insert(textarea, "\n" + lead);
    }
    if (event.key !== "Escape") escaped = false;
  });
  render();
  return {
    root,
    textarea,
    get value() { return textarea.value; },
    set value(text) { textarea.value = text; render(); },
    setLanguage(next) { lang = next; render(); },
  };
}
