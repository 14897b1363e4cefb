// cardflow console: the little the pages do in the browser (no inline script: the CSP forbids it).
"use strict";

// A check box with data-select-all="NAME" ticks or clears every check box NAME of its form.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.matches || !box.matches("input[data-select-all]")) return;
  var name = box.getAttribute("data-select-all");
  box.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (each) {
    each.checked = box.checked;
  });
});

// The process graph: Mermaid draws every <pre class="mermaid"> once the page is loaded.
window.addEventListener("load", function () {
  if (window.mermaid) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    window.mermaid.run({ querySelector: "pre.mermaid" }).then(function () {
      document.body.setAttribute("data-graph", "drawn");
    });
  }
});
