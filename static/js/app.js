// The few behaviours pages need besides htmx. The Content-Security-Policy (config/security.py)
// runs no inline script or onclick attribute, so pages mark elements with data- attributes
// and this file, loaded from our own origin, acts on them.
(function () {
  "use strict";

  // <input type="checkbox" data-select-all="cases">: ticks or clears every box of that name
  // in its table (the review queue's batch decisions).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-select-all]")) return;
    var scope = box.closest("table") || document;
    var name = box.getAttribute("data-select-all");
    scope.querySelectorAll("input[type=checkbox]").forEach(function (other) {
      if (other.name === name) other.checked = box.checked;
    });
  });

  // <button type="button" data-print>: the browser's print dialog (公示名单).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (button) window.print();
  });
})();
