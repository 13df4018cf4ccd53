// Studio: small progressive enhancements. The pages work without this file.
(function () {
  "use strict";

  function codePoints(text) {
    return Array.from(text || "").length; // the server counts code points too
  }

  function updateCounter(counter) {
    var input = document.getElementById(counter.dataset.counterFor);
    if (!input) return;
    var limit = parseInt(counter.dataset.limit, 10);
    var used = codePoints(input.value);
    counter.textContent = used + " / " + limit;
    counter.classList.toggle("over-limit", used > limit);
  }

  function applyConditions(root) {
    root.querySelectorAll("[data-condition-field]").forEach(function (field) {
      var controller = root.querySelector('[name="' + field.dataset.conditionField + '"]');
      if (!controller) return;
      var on = controller.type === "checkbox" ? controller.checked : controller.value === field.dataset.conditionEquals;
      var wanted = field.dataset.conditionEquals === "true" ? on : !on;
      field.classList.toggle("is-disabled", !wanted);
      field.querySelectorAll("input, select, textarea").forEach(function (input) { input.disabled = !wanted; });
    });
  }

  function enhance(root) {
    root.querySelectorAll("[data-counter-for]").forEach(updateCounter);
    applyConditions(root);
  }

  document.addEventListener("input", function (event) {
    var counter = document.querySelector('[data-counter-for="' + event.target.id + '"]');
    if (counter) updateCounter(counter);
  });
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form");
    if (form) applyConditions(form);
  });
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
