// The pieces of CodeMirror 6 the panel's course editor uses, as one global
// (window.CodeMirrorBundle) so the page script (static/course-editor.js) stays readable and
// unbundled. Rebuilt by scripts/build-editor; the output is committed.
import { basicSetup, EditorView } from "codemirror";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { setDiagnostics, lintGutter } from "@codemirror/lint";

window.CodeMirrorBundle = { basicSetup, EditorView, EditorState, yaml, setDiagnostics, lintGutter };
