// coursebot panel: the course editor. Turns the page's textarea into CodeMirror (vendored in
// static/vendor/codemirror.js, built by scripts/build-editor), checks the text a moment after
// typing stops (the server's .../edit/check, the same checks as an upload), marks problems
// in the gutter and lists them with links to their lines, and keeps a draft in this browser
// so an unsaved text survives a closed tab. Without scripts the textarea posts as it is.
"use strict";

(() => {
  const form = document.getElementById("course-editor");
  const CM = window.CodeMirrorBundle;
  if (!form || !CM) return;
  const textarea = form.elements.source;
  const status = document.getElementById("editor-status");
  const list = document.getElementById("editor-diagnostics");
  const draftBox = document.getElementById("editor-draft");
  const draftKey = form.dataset.draftKey;
  const CHECK_DELAY_MS = 700;

  // The editor lives in a shadow root: CodeMirror styles itself with a <style> element in a
  // document, which the panel's CSP (style-src 'self', no inline styles) refuses, and with a
  // constructed style sheet in a shadow root, which it allows.
  const host = document.createElement("div");
  host.className = "code-editor";
  textarea.after(host);
  textarea.hidden = true; // still the form's field: filled from the editor before posting
  const root = host.attachShadow({ mode: "open" });
  const look = CM.EditorView.theme({
    "&": { height: "60vh", minHeight: "240px", backgroundColor: "#fff" },
    ".cm-scroller": { fontFamily: "ui-monospace, Menlo, Consolas, monospace", fontSize: "13px" },
  });

  let timer = null;
  const view = new CM.EditorView({
    parent: root,
    root,
    state: CM.EditorState.create({
      doc: textarea.value,
      extensions: [
        CM.basicSetup,
        CM.yaml(),
        CM.lintGutter(),
        CM.EditorView.lineWrapping,
        look,
        CM.EditorView.contentAttributes.of({ "aria-label": form.querySelector("label[for=editor-source]").textContent }),
        CM.EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          saveDraft();
          window.clearTimeout(timer);
          timer = window.setTimeout(check, CHECK_DELAY_MS);
        }),
      ],
    }),
  });

  const text = () => view.state.doc.toString();

  function saveDraft() {
    try {
      window.localStorage.setItem(draftKey, text());
    } catch (error) {
      // storage full or disabled: the page still posts the text
    }
  }

  function jumpTo(number) {
    const doc = view.state.doc;
    const line = doc.line(Math.min(Math.max(number, 1), doc.lines));
    view.dispatch({ selection: { anchor: line.from, head: line.to }, scrollIntoView: true });
    view.focus();
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
  }

  function show(diagnostics) {
    const doc = view.state.doc;
    const marks = [];
    list.replaceChildren();
    for (const d of diagnostics) {
      const item = document.createElement("li");
      item.className = `diag ${d.severity}`;
      item.dataset.severity = d.severity;
      item.append(`${form.dataset[d.severity] || d.severity}: `);
      if (d.line && d.line <= doc.lines) {
        const line = doc.line(d.line);
        marks.push({ from: line.from, to: line.to, severity: d.severity === "error" ? "error" : "warning", message: d.text || d.message });
        const link = document.createElement("a");
        link.href = `#L${d.line}`;
        link.className = "line";
        link.dataset.line = d.line;
        link.textContent = fill(form.dataset.line, { line: d.line });
        item.append(link, " ");
      }
      if (d.element_id) item.append(`${d.element_id}: `);
      item.append(d.text || d.message);
      list.append(item);
    }
    view.dispatch(CM.setDiagnostics(view.state, marks));
  }

  let asked = 0;
  async function check() {
    const number = ++asked;
    status.textContent = form.dataset.checking;
    const body = new FormData();
    body.append("csrf_token", form.elements.csrf_token.value);
    body.append("source", text());
    try {
      const response = await fetch(form.dataset.checkUrl, { method: "POST", body, credentials: "same-origin" });
      if (!response.ok && response.status !== 422) throw new Error(`check: ${response.status}`);
      const result = await response.json();
      if (number !== asked) return; // a newer check is on its way
      const diagnostics = result.diagnostics || [];
      show(diagnostics);
      const errors = diagnostics.filter((d) => d.severity === "error").length;
      const warnings = diagnostics.length - errors;
      if (result.message) status.textContent = result.message;
      else status.textContent = diagnostics.length ? fill(form.dataset.problems, { errors, warnings }) : form.dataset.ok;
    } catch (error) {
      if (number === asked) status.textContent = form.dataset.checkFailed;
    }
  }

  // Line links, in the live list and in the listing of a failed save, move the editor there.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#L']");
    if (!link) return;
    const number = parseInt(link.getAttribute("href").slice(2), 10);
    if (!Number.isFinite(number)) return;
    event.preventDefault();
    jumpTo(number);
  });

  form.addEventListener("submit", () => {
    textarea.value = text();
  });

  // A draft left from before that differs from the text shown: offer it, never force it.
  let draft = null;
  try {
    draft = window.localStorage.getItem(draftKey);
  } catch (error) {
    draft = null;
  }
  if (form.dataset.failed) {
    saveDraft(); // the page shows the text that failed: that is the newest draft
  } else if (draft !== null && draft !== textarea.value) {
    draftBox.textContent = `${form.dataset.draftFound} `;
    const restore = document.createElement("button");
    restore.type = "button";
    restore.textContent = form.dataset.restore;
    restore.addEventListener("click", () => {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: draft } });
      draftBox.hidden = true;
    });
    draftBox.append(restore);
    draftBox.hidden = false;
  } else if (draft !== null) {
    window.localStorage.removeItem(draftKey); // saved: nothing to keep
  }
  if (text().trim()) check();
})();
