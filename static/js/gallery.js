// Gallery behaviour: muted preview on hover or focus, and the selection bar. The gallery works
// without this file (posters, links, a plain form for bulk actions).
(function () {
  "use strict";

  // With this file running, the selection bar can hide its buttons until something is ticked.
  document.documentElement.classList.add("gallery-js");

  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");

  function cardOf(node) {
    return node && node.closest ? node.closest("[data-card]") : null;
  }

  function start(card) {
    var video = card.querySelector("video.card-video");
    if (!video || (reduceMotion && reduceMotion.matches)) return;
    video.muted = true; // autoplay policies allow muted playback only
    var playing = video.play();
    if (playing && playing.catch) playing.catch(function () {});
  }

  function stop(card) {
    var video = card.querySelector("video.card-video");
    if (!video) return;
    video.pause();
    card.classList.remove("is-playing");
  }

  document.addEventListener("mouseover", function (event) {
    var card = cardOf(event.target);
    if (card && !card.contains(event.relatedTarget)) start(card);
  });
  document.addEventListener("mouseout", function (event) {
    var card = cardOf(event.target);
    if (card && !card.contains(event.relatedTarget)) stop(card);
  });
  document.addEventListener("focusin", function (event) {
    var card = cardOf(event.target);
    if (card && !card.contains(event.relatedTarget)) start(card);
  });
  document.addEventListener("focusout", function (event) {
    var card = cardOf(event.target);
    if (card && !card.contains(event.relatedTarget)) stop(card);
  });
  // "playing" does not bubble: listen in the capture phase.
  document.addEventListener("playing", function (event) {
    var card = cardOf(event.target);
    if (card) card.classList.add("is-playing");
  }, true);

  function updateSelection() {
    var bar = document.querySelector("[data-bulk]");
    if (!bar) return;
    var count = document.querySelectorAll("[data-select]:checked").length;
    var label = bar.querySelector("[data-bulk-count]");
    if (label) {
      label.textContent = count
        ? count + (count === 1 ? " video selected" : " videos selected")
        : "Tick videos to act on several at once.";
    }
    bar.classList.toggle("has-selection", count > 0);
    bar.querySelectorAll("[data-bulk-action]").forEach(function (button) {
      button.disabled = count === 0;
    });
    document.querySelectorAll("[data-card]").forEach(function (card) {
      var box = card.querySelector("[data-select]");
      card.classList.toggle("is-selected", !!(box && box.checked));
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-select]")) updateSelection();
  });
  document.addEventListener("DOMContentLoaded", updateSelection);
  document.addEventListener("htmx:afterSettle", updateSelection);
})();
