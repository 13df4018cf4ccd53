// Studio: progressive enhancements. Every page works without this file; no inline script is
// needed anywhere (a strict Content-Security-Policy holds), so behaviour hangs on data-* hooks.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var MB = 1024 * 1024;

  // --- Character counters: code points, as the server counts them ----------------------------

  function codePoints(text) {
    // Array.from splits by code point (an emoji is one); browsers give textareas LF line breaks,
    // and the server turns the CRLF they send back into LF before counting.
    return Array.from((text || "").replace(/\r\n?/g, "\n")).length;
  }

  function updateCounter(counter) {
    var input = document.getElementById(counter.dataset.counterFor);
    if (!input) return;
    var limit = parseInt(counter.dataset.limit, 10);
    var used = codePoints(input.value);
    var count = counter.querySelector("[data-count]");
    if (count) count.textContent = String(used);
    var over = used > limit;
    counter.classList.toggle("over-limit", over);
    input.setAttribute("aria-invalid", over ? "true" : "false");
  }

  // --- Fields that depend on another: disabled, with their hint, while the condition is off ---

  function controllerValue(form, name) {
    var inputs = form.querySelectorAll('[name="' + CSS.escape(name) + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (input.type === "checkbox") return input.checked ? "true" : "false";
      if (input.type === "radio") {
        if (input.checked) return input.value;
        continue;
      }
      return input.value;
    }
    return "";
  }

  function applyConditions() {
    document.querySelectorAll("[data-condition-field]").forEach(function (field) {
      var owner = field.closest("form") || document;
      var on = controllerValue(owner, field.dataset.conditionField) === field.dataset.conditionEquals;
      field.classList.toggle("is-disabled", !on);
      field.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !on;
      });
    });
  }

  // --- Seed: a "random" button drawing from the field's own range ----------------------------

  function randomBetween(low, high) {
    var span = high - low + 1;
    var buffer = new Uint32Array(1);
    window.crypto.getRandomValues(buffer);
    return low + Math.floor((buffer[0] / 4294967296) * span);
  }

  function enhanceSeed(button) {
    button.hidden = false;
  }

  // --- References: drop or pick a file, see it at once, upload and validate it at once -------

  function csrfToken() {
    var input = document.querySelector("#create-form [name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function humanSize(bytes) {
    if (bytes >= MB) return (bytes / MB).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function pendingUploads(delta) {
    var form = document.getElementById("create-form");
    if (!form) return;
    var count = (parseInt(form.dataset.pendingUploads || "0", 10) || 0) + delta;
    form.dataset.pendingUploads = String(Math.max(0, count));
    form.querySelectorAll("[data-submit]").forEach(function (button) {
      button.disabled = count > 0;
    });
  }

  function showLocalPreview(status, file, kind) {
    status.textContent = "";
    var url = URL.createObjectURL(file);
    var facts = document.createElement("p");
    facts.className = "reference-facts";
    facts.textContent = file.name + " · " + humanSize(file.size);
    var media;
    if (kind === "image") {
      media = document.createElement("img");
      media.className = "reference-preview";
      media.alt = "Preview of the chosen image";
      media.addEventListener("load", function () {
        facts.textContent += " · " + media.naturalWidth + "×" + media.naturalHeight + " px";
      });
    } else {
      media = document.createElement("audio");
      media.controls = true;
      media.preload = "metadata";
      media.addEventListener("loadedmetadata", function () {
        if (isFinite(media.duration)) facts.textContent += " · " + media.duration.toFixed(1) + " s";
      });
    }
    media.src = url;
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = "Checking the file…";
    status.append(media, facts, progress, note);
    return { url: url, progress: progress, note: note };
  }

  function showError(status, message) {
    status.textContent = "";
    var error = document.createElement("p");
    error.className = "field-error";
    error.textContent = message;
    status.append(error);
  }

  function upload(zone, file) {
    var input = zone.querySelector("input[type=file]");
    var status = zone.querySelector("[data-upload-status]");
    var kind = zone.dataset.kind;
    var limit = parseInt(zone.dataset.maxBytes, 10);
    var form = document.getElementById("create-form");
    if (!form || !zone.dataset.uploadUrl) return;
    // The file goes up now; the form then carries a reference to it, not the bytes again.
    input.value = "";
    if (limit && file.size > limit) {
      showError(status, "The " + (kind === "image" ? "image" : "audio file") + " is larger than " +
        Math.round(limit / MB) + " MB (" + (file.size / MB).toFixed(1) + " MB).");
      return;
    }
    var local = showLocalPreview(status, file, kind);
    var data = new FormData();
    data.append("model", form.querySelector("[name=current_model]").value);
    data.append("field", zone.dataset.fieldName);
    data.append(zone.dataset.fieldName, file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", zone.dataset.uploadUrl);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("HX-Request", "true");
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) local.progress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", function () {
      pendingUploads(-1);
      URL.revokeObjectURL(local.url);
      var block = zone.closest(".field");
      if (request.status !== 200 && request.status !== 400 || !block) {
        showError(status, "The upload failed (" + request.status + "). Try again.");
        return;
      }
      var holder = document.createElement("div");
      holder.innerHTML = request.responseText;
      var fresh = holder.querySelector(".field");
      if (!fresh) {
        showError(status, "The upload failed. Try again.");
        return;
      }
      block.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
      enhance(fresh);
      fresh.dispatchEvent(new Event("change", { bubbles: true }));
    });
    request.addEventListener("error", function () {
      pendingUploads(-1);
      URL.revokeObjectURL(local.url);
      showError(status, "The upload failed: the studio could not be reached. Try again.");
    });
    pendingUploads(1);
    request.send(data);
  }

  function enhanceDropzone(zone) {
    if (zone.dataset.enhanced) return;
    zone.dataset.enhanced = "true";
    var input = zone.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      if (input.files && input.files.length) upload(zone, input.files[0]);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("is-dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (files && files.length) upload(zone, files[0]);
    });
  }

  // --- Wiring ---------------------------------------------------------------------------------

  function enhance(root) {
    root.querySelectorAll("[data-counter-for]").forEach(updateCounter);
    root.querySelectorAll("[data-seed-random]").forEach(enhanceSeed);
    root.querySelectorAll("[data-dropzone]").forEach(enhanceDropzone);
    applyConditions();
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.id) return;
    var counter = document.querySelector('[data-counter-for="' + CSS.escape(target.id) + '"]');
    if (counter) updateCounter(counter);
  });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("form")) applyConditions();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-seed-random]");
    if (!button) return;
    var input = document.getElementById(button.dataset.seedRandom);
    if (!input) return;
    input.value = String(randomBetween(parseInt(button.dataset.min, 10), parseInt(button.dataset.max, 10)));
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
