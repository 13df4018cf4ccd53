// Compare: the videos of the page play, pause and seek together; the keyboard steps frames.
(function () {
  "use strict";

  function setup(root) {
    var videos = Array.prototype.slice.call(root.querySelectorAll("[data-compare-video]"));
    if (!videos.length) return;
    var play = root.querySelector("[data-compare-play]");
    var seek = root.querySelector("[data-compare-seek]");
    var clock = root.querySelector("[data-compare-clock]");
    var leader = videos[0];
    var fps = parseFloat(leader.dataset.fps) || 24;

    function longest() {
      return videos.reduce(function (most, video) {
        return isFinite(video.duration) ? Math.max(most, video.duration) : most;
      }, 0);
    }
    function show() {
      var total = longest();
      clock.textContent = leader.currentTime.toFixed(2) + " s";
      if (total) seek.value = String(Math.round((leader.currentTime / total) * 1000));
      var playing = !leader.paused;
      play.textContent = playing ? "Pause all" : "Play all";
      play.setAttribute("aria-pressed", playing ? "true" : "false");
    }
    function seekAll(time) {
      videos.forEach(function (video) {
        var end = isFinite(video.duration) ? video.duration : time;
        video.currentTime = Math.max(0, Math.min(time, end));
      });
      show();
    }
    function playAll() {
      seekAll(leader.currentTime);
      videos.forEach(function (video) {
        var started = video.play();
        if (started && started.catch) started.catch(function () {});
      });
    }
    function pauseAll() {
      videos.forEach(function (video) { video.pause(); });
      seekAll(leader.currentTime);
    }
    function toggle() { if (leader.paused) playAll(); else pauseAll(); }
    function step(frames) {
      pauseAll();
      seekAll(leader.currentTime + frames / fps);
    }

    play.addEventListener("click", toggle);
    root.querySelectorAll("[data-compare-step]").forEach(function (button) {
      button.addEventListener("click", function () { step(parseInt(button.dataset.compareStep, 10)); });
    });
    seek.addEventListener("input", function () { seekAll((parseInt(seek.value, 10) / 1000) * longest()); });
    // The others follow the leader while playing, so they do not drift apart.
    leader.addEventListener("timeupdate", function () {
      if (!leader.paused) {
        videos.slice(1).forEach(function (video) {
          if (Math.abs(video.currentTime - leader.currentTime) > 0.08) video.currentTime = leader.currentTime;
        });
      }
      show();
    });
    leader.addEventListener("ended", function () { pauseAll(); });
    videos.forEach(function (video) { video.addEventListener("loadedmetadata", show); });
    root.addEventListener("keydown", function (event) {
      if (event.target.matches("input, select, textarea")) return;
      var handled = true;
      if (event.key === " ") toggle();
      else if (event.key === ".") step(1);
      else if (event.key === ",") step(-1);
      else if (event.key === "ArrowRight") seekAll(leader.currentTime + 1);
      else if (event.key === "ArrowLeft") seekAll(leader.currentTime - 1);
      else handled = false;
      if (handled) event.preventDefault();
    });
    root.tabIndex = -1;
    show();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-compare]").forEach(setup);
  });
})();
