// Studio: progressive enhancements. Every page works without this file; no inline script is
// needed anywhere (a strict Content-Security-Policy holds), so behaviour hangs on data-* hooks.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var MB = 1024 * 1024;

  // --- Announcements: one polite status region in the layout reads out what changed ----------

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    region.textContent = "";
    // Set after a tick, so a message equal to the last one is still read out.
    window.setTimeout(function () { region.textContent = text; }, 60);
  }

  // The generation page's status swaps itself every second; say something only when its state
  // changes (queued → running → ready), not on every progress step.
  var lastState = null;

  function watchStatus(root) {
    var status = root.id === "generation-status" ? root
      : (root.querySelector ? root.querySelector("#generation-status") : null);
    if (!status) return;
    var state = status.dataset.state;
    if (lastState !== null && state !== lastState) announce(status.dataset.announce);
    lastState = state;
  }

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
    // A new file: what was said about the last one no longer holds.
    var field = zone.closest(".field");
    if (field) {
      field.classList.remove("has-error");
      field.querySelectorAll(".field-error").forEach(function (old) {
        if (!status.contains(old)) old.remove();
      });
    }
    if (limit && file.size > limit) {
      showError(status, "The " + (kind === "image" ? "image" : "audio file") + " is " +
        (file.size / MB).toFixed(1) + " MB; the limit is " + Math.round(limit / MB) +
        " MB. Choose a smaller file.");
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
        showError(status, "The upload failed (" + request.status + "). Choose the file again.");
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
      var problem = fresh.querySelector(".field-error");
      var facts = fresh.querySelector(".reference-chosen .reference-facts");
      if (problem) announce(problem.textContent);
      else if (facts) announce("Uploaded and checked: " + facts.textContent.replace(/\s+/g, " ").trim());
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
    // The whole zone is a target: a click anywhere on it opens the chooser. The file input
    // itself stays the keyboard's way in (Tab to it; Enter or Space opens the chooser).
    zone.addEventListener("click", function (event) {
      if (event.target === input || event.target.closest("a, button, input, label, audio, video")) return;
      input.click();
    });
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

  // --- Numbers out of range are marked as they are typed, in the server's own words ---------

  function checkRange(input) {
    var message = input.dataset.rangeMessage;
    var field = input.closest(".field");
    if (!message || !field) return;
    var value = input.value.trim();
    var number = Number(value);
    var out = value !== "" && !isNaN(number) &&
      ((input.min !== "" && number < Number(input.min)) || (input.max !== "" && number > Number(input.max)));
    var note = field.querySelector(".field-error[data-live-range]");
    if (out) {
      if (!note) {
        note = document.createElement("p");
        note.className = "field-error";
        note.dataset.liveRange = "";
        note.id = input.id + "_range";
        input.insertAdjacentElement("afterend", note);
      }
      note.textContent = message;
      field.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "").replace(note.id, "") + " " + note.id).trim());
    } else if (note) {
      note.remove();
      if (!field.querySelector(".field-error")) field.classList.remove("has-error");
      input.removeAttribute("aria-invalid");
      var described = (input.getAttribute("aria-describedby") || "").replace(input.id + "_range", "").trim();
      if (described) input.setAttribute("aria-describedby", described); else input.removeAttribute("aria-describedby");
    }
  }

  // --- Copy buttons: [data-copy="<id>"] copies that element's value or text ------------------

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http on a LAN address has no Clipboard API: copy through a selected textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (error) { done = false; }
      document.body.removeChild(area);
      if (done) resolve(); else reject(new Error("copy refused"));
    });
  }

  function copyFrom(button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = "value" in source && source.tagName !== "PRE" ? source.value : source.textContent;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(text.trim()).then(function () {
      button.textContent = "Copied";
      announce("Copied to the clipboard.");
    }, function () {
      button.textContent = "Select and copy by hand";
      if (source.select) source.select();
    });
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  // --- Toasts ---------------------------------------------------------------------------------
  // Each toast leaves by itself (a CSS animation); here they are removed once gone, kept to the
  // newest three, and the stack moves to another corner when it would cover a primary action.

  var TOASTS_SHOWN = 3;
  var TOAST_SPOTS = [[], ["at-left"], ["at-top"], ["at-top", "at-left"]];

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  function placeToasts() {
    var region = document.getElementById("generation-notices");
    if (!region) return;
    var toasts = region.querySelectorAll("[data-toast]");
    for (var i = 0; i < toasts.length - TOASTS_SHOWN; i++) toasts[i].remove();
    if (!region.querySelector("[data-toast]")) return;
    var actions = Array.prototype.filter.call(
      document.querySelectorAll("[data-submit], [data-primary-action]"),
      function (element) { return element.offsetParent !== null; }
    ).map(function (element) { return element.getBoundingClientRect(); });
    for (var s = 0; s < TOAST_SPOTS.length; s++) {
      region.classList.remove("at-left", "at-top");
      TOAST_SPOTS[s].forEach(function (name) { region.classList.add(name); });
      var box = region.getBoundingClientRect();
      if (!actions.some(function (rect) { return overlaps(box, rect); })) return;
    }
    region.classList.remove("at-left", "at-top");
  }

  var placing = false;
  function placeToastsSoon() {
    if (placing) return;
    placing = true;
    window.requestAnimationFrame(function () { placing = false; placeToasts(); });
  }

  // --- Keyboard and clipboard -----------------------------------------------------------------
  // Ctrl/Cmd+Enter submits the create form (as its Generate button would); a pasted picture goes
  // into the reference image box; on a generation page the arrow keys step through the gallery.

  function typing(target) {
    return target && target.closest && target.closest("input, textarea, select, [contenteditable], video, audio");
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = document.getElementById("create-form");
      var submit = form && form.querySelector("[data-submit]");
      if (submit && !submit.disabled) {
        event.preventDefault();
        form.requestSubmit(submit);
      }
      return;
    }
    if ((event.key === "ArrowLeft" || event.key === "ArrowRight") && !event.altKey &&
        !event.ctrlKey && !event.metaKey && !event.shiftKey && !typing(event.target)) {
      var step = document.querySelector(
        event.key === "ArrowLeft" ? "[data-step=previous]" : "[data-step=next]"
      );
      if (step) {
        event.preventDefault();
        window.location.assign(step.href);
      }
    }
  });

  document.addEventListener("paste", function (event) {
    var zone = document.querySelector('#create-form [data-dropzone][data-kind="image"]');
    var items = event.clipboardData && event.clipboardData.files;
    if (!zone || !items || !items.length) return;
    var picture = Array.prototype.find.call(items, function (file) { return /^image\//.test(file.type); });
    if (!picture) return;
    event.preventDefault();
    upload(zone, picture);
  });

  // --- Wiring ---------------------------------------------------------------------------------

  function enhance(root) {
    root.querySelectorAll("[data-counter-for]").forEach(updateCounter);
    root.querySelectorAll("[data-seed-random]").forEach(enhanceSeed);
    root.querySelectorAll("[data-dropzone]").forEach(enhanceDropzone);
    applyConditions();
    watchStatus(root);
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (!target.id) return;
    if (target.dataset && target.dataset.rangeMessage !== undefined) checkRange(target);
    var counter = document.querySelector('[data-counter-for="' + CSS.escape(target.id) + '"]');
    if (counter) updateCounter(counter);
  });
  document.addEventListener("change", function (event) {
    if (!event.target.closest || !event.target.closest("form")) return;
    applyConditions();
    // A value the person picks themselves replaces the one a model switch chose.
    var field = event.target.closest(".field");
    var note = field && field.querySelector("[data-switch-note]");
    if (note) note.remove();
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-toast-close]");
    if (close) {
      // Showing it already counted as seeing it: without JavaScript the form says so again.
      event.preventDefault();
      close.closest("[data-toast]").remove();
      placeToastsSoon();
      return;
    }
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy) { copyFrom(copy); return; }
    var button = event.target.closest && event.target.closest("[data-seed-random]");
    if (!button) return;
    var input = document.getElementById(button.dataset.seedRandom);
    if (!input) return;
    input.value = String(randomBetween(parseInt(button.dataset.min, 10), parseInt(button.dataset.max, 10)));
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("animationend", function (event) {
    if (event.animationName === "toast-leave" && event.target.matches("[data-toast]")) {
      event.target.remove();
    }
  });
  document.addEventListener("DOMContentLoaded", function () { enhance(document); placeToasts(); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
  document.addEventListener("htmx:afterSettle", placeToastsSoon);
  window.addEventListener("scroll", placeToastsSoon, { passive: true });
  window.addEventListener("resize", placeToastsSoon);
})();
