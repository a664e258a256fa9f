// Progressive enhancement only: every page works without this file.
// Served by the log itself ('script-src self'); no inline script anywhere.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Confirm destructive actions (buttons with data-confirm).
  document.querySelectorAll("button[data-confirm]").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm(b.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });
  // "Copy command" buttons, shown only when the clipboard is available.
  document.querySelectorAll("button.copy[data-copy]").forEach(function (b) {
    var target = document.getElementById(b.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) { return; }
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(target.textContent).then(function () { b.textContent = "Copied"; });
    });
  });
});
