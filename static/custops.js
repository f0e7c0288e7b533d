/* Behaviour every page shares, kept out of the templates so the Content-Security-Policy can forbid inline script
   and inline style (config/settings/base.py, CONTENT_SECURITY_POLICY):
   - <select data-autosubmit> / <input data-autosubmit> sends its form when changed;
   - <form data-confirm="question"> asks before it is sent;
   - <input type="checkbox" data-check-all="selector"> ticks or clears every box the selector finds;
   - data-style-width / data-style-left (percent) and data-heat (0..1, the --heat custom property) size bars and
     shade heatmap cells, set through the CSS object model, which the policy allows;
   - htmx error responses show in #htmx-error instead of leaving a silent button. */
(function () {
  "use strict";

  function applyDataStyles(root) {
    root.querySelectorAll("[data-style-width]").forEach(function (el) { el.style.width = el.dataset.styleWidth + "%"; });
    root.querySelectorAll("[data-style-left]").forEach(function (el) { el.style.left = el.dataset.styleLeft + "%"; });
    root.querySelectorAll("[data-heat]").forEach(function (el) { el.style.setProperty("--heat", el.dataset.heat); });
  }

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) {
      if (field.form.requestSubmit) { field.form.requestSubmit(); } else { field.form.submit(); }
    }
    if (field.matches && field.matches("input[data-check-all]")) {
      document.querySelectorAll(field.dataset.checkAll).forEach(function (box) { box.checked = field.checked; });
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  var box = document.getElementById("htmx-error");
  function show(text) { box.textContent = text; box.hidden = false; box.scrollIntoView({block: "nearest"}); }
  if (box) {
    document.addEventListener("htmx:responseError", function (event) {
      show(event.detail.xhr.status === 403 ? box.dataset.forbidden : box.dataset.failed);
    });
    document.addEventListener("htmx:sendError", function () { show(box.dataset.offline); });
    document.addEventListener("htmx:beforeRequest", function () { box.hidden = true; });
  }

  applyDataStyles(document);
  document.addEventListener("htmx:load", function (event) { applyDataStyles(event.detail.elt.parentNode || document); });
})();
