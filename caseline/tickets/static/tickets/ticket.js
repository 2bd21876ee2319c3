/* The agent's ticket page: composer modes, ETA presets, the typing state that the
   presence heartbeat reports (docs/ticket-page.md). Plain ES2017, no build step. */
(function () {
  "use strict";
  var lastKey = 0;
  var TYPING_MS = 6000;

  function form() { return document.getElementById("composer-form"); }

  function sync() {
    var f = form();
    if (!f) return;
    var kind = f.querySelector("input[name=kind]:checked");
    var note = kind && kind.value === "internal";
    f.classList.toggle("is-note", !!note);
    var mode = f.querySelector("input[name=mode]:checked");
    var inline = !note && mode && mode.value === "inline";
    var normal = f.querySelector(".mode-normal");
    var inl = f.querySelector(".mode-inline");
    if (normal) normal.classList.toggle("hidden", !!inline);
    if (inl) inl.classList.toggle("hidden", !inline);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  // Wall-clock arithmetic in the agent's time zone (User.time_zone, which the server uses
  // to read the field): the server renders its wall-clock "now" in data-now; the browser's
  // own zone plays no part.
  var loadedAt = Date.now();
  function wallValue(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  document.addEventListener("change", function (ev) {
    if (ev.target.closest && ev.target.closest("#composer-form")) sync();
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-eta-preset]");
    if (!b) return;
    var input = document.getElementById("eta-input");
    if (!input || !input.dataset.now) return;
    var preset = b.getAttribute("data-eta-preset");
    var wall = new Date(Date.parse(input.dataset.now + ":00Z") + (Date.now() - loadedAt));
    if (preset === "tomorrow") {
      wall = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate() + 1, 10, 0));
    } else {
      wall = new Date(wall.getTime() + parseInt(preset, 10) * 60000);
    }
    input.value = wallValue(wall);
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("keyup", function (ev) {
    if (ev.target.closest && ev.target.closest("#composer-form")) {
      var was = Date.now() - lastKey < TYPING_MS;
      lastKey = Date.now();
      if (!was) document.body.dispatchEvent(new CustomEvent("caseline:typing"));
    }
  });
  // Leaving the page: tell the others at once (the heartbeat would expire anyway). A
  // beacon cannot set headers, so the CSRF token goes as the form field.
  window.addEventListener("pagehide", function () {
    var bar = document.getElementById("presence");
    if (!bar || !navigator.sendBeacon) return;
    var token = "";
    try { token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return; }
    var data = new FormData();
    data.append("state", "gone");
    data.append("csrfmiddlewaretoken", token);
    navigator.sendBeacon(bar.getAttribute("hx-post"), data);
  });
  document.addEventListener("DOMContentLoaded", sync);
  document.addEventListener("htmx:afterSettle", sync);

  window.CaselineTicket = {
    state: function () { return Date.now() - lastKey < TYPING_MS ? "typing" : "viewing"; },
    sync: sync
  };
})();
