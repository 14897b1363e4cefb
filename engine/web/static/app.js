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

// A narrow screen starts with the menu folded (it is open for a wide one and without script).
document.addEventListener("DOMContentLoaded", function () {
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia("(max-width: 700px)").matches) menu.open = false;
});

// After a Search, the keyboard's focus goes to the results (an element marked data-focus-on-load).
document.addEventListener("DOMContentLoaded", function () {
  var results = document.querySelector("[data-focus-on-load]");
  if (results) results.focus();
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
