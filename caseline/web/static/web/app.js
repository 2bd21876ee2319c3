/* Caseline workspace behaviour: live SLA countdowns and keyboard navigation.
   No build step; plain ES2017. Re-applied after every htmx swap.

   Countdown: <time class="countdown" datetime="ISO-8601" [data-warn="seconds"]>
     ticks each second; .cd-amber when under the warn threshold (default: body's
     data-countdown-warn, 3600 s), .cd-red once past due (shows "-1h 02m").
   Keyboard (ignored while typing in a field, or with Ctrl/Alt/Meta):
     j / k   move the cursor over [data-kbd-row] rows of the [data-kbd-list] table
     Enter   open the current row (its data-href)
     x       toggle the current row's checkbox (selection for bulk actions)
     r       reply: the row's data-reply-href, else focus [data-kbd-reply] on the page
     /       focus #global-search (or [data-kbd-search])
     ?       toggle [data-kbd-help] */
(function () {
  "use strict";

  function fmt(seconds) {
    var neg = seconds < 0;
    var s = Math.abs(Math.round(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var text;
    if (d > 0) text = d + "d " + pad(h) + "h";
    else if (h > 0) text = h + "h " + pad(m) + "m";
    else text = m + "m " + pad(sec) + "s";
    return (neg ? "-" : "") + text;
  }

  function tick() {
    var now = Date.now();
    var defWarn = parseInt(document.body.dataset.countdownWarn || "3600", 10);
    var nodes = document.querySelectorAll("time.countdown[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var due = Date.parse(el.getAttribute("datetime"));
      if (isNaN(due)) continue;
      var left = (due - now) / 1000;
      var warn = el.dataset.warn ? parseInt(el.dataset.warn, 10) : defWarn;
      el.textContent = fmt(left);
      el.classList.toggle("cd-red", left < 0);
      el.classList.toggle("cd-amber", left >= 0 && left < warn);
      el.title = (left < 0 ? "breached " : "due ") + new Date(due).toLocaleString();
    }
  }

  function rows() {
    var list = document.querySelector("[data-kbd-list]");
    return list ? Array.prototype.slice.call(list.querySelectorAll("[data-kbd-row]")) : [];
  }
  function current() { return document.querySelector("[data-kbd-row].is-current"); }
  function setCurrent(row) {
    var old = current();
    if (old) old.classList.remove("is-current");
    if (row) {
      row.classList.add("is-current");
      row.scrollIntoView({ block: "nearest" });
    }
  }
  function move(delta) {
    var all = rows();
    if (!all.length) return;
    var idx = all.indexOf(current());
    idx = idx < 0 ? (delta > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, idx + delta));
    setCurrent(all[idx]);
  }
  function syncSelected(box) {
    var row = box.closest("[data-kbd-row]");
    if (row) row.classList.toggle("is-selected", box.checked);
    document.dispatchEvent(new CustomEvent("caseline:selection"));
  }

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (typing(ev.target)) {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    var row = current();
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter":
        if (row && row.dataset.href) window.location.href = row.dataset.href;
        else return;
        break;
      case "x":
        if (!row) return;
        var box = row.querySelector("input[type=checkbox]");
        if (box) { box.checked = !box.checked; syncSelected(box); }
        break;
      case "r":
        if (row && row.dataset.replyHref) { window.location.href = row.dataset.replyHref; break; }
        var composer = document.querySelector("[data-kbd-reply]");
        if (composer) composer.focus(); else return;
        break;
      case "/":
        var search = document.querySelector("[data-kbd-search]") || document.getElementById("global-search");
        if (search) { search.focus(); search.select && search.select(); } else return;
        break;
      case "?":
        var help = document.querySelector("[data-kbd-help]");
        if (help) help.classList.toggle("hidden"); else return;
        break;
      default: return;
    }
    ev.preventDefault();
  });

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("[data-kbd-row] input[type=checkbox]")) syncSelected(t);
    if (t && t.matches && t.matches("[data-select-all]")) {
      rows().forEach(function (r) {
        var b = r.querySelector("input[type=checkbox]");
        if (b) { b.checked = t.checked; r.classList.toggle("is-selected", t.checked); }
      });
      document.dispatchEvent(new CustomEvent("caseline:selection"));
    }
  });
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest && ev.target.closest("[data-kbd-row]");
    if (row) setCurrent(row);
  });

  // A refused htmx request (4xx JSON {"error": {message, fields}}) shows its reason.
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr, text = "Request failed (" + xhr.status + ")";
    try {
      var err = JSON.parse(xhr.responseText).error;
      var fields = Object.keys(err.fields || {}).map(function (k) { return k + ": " + err.fields[k]; });
      text = err.message + (fields.length ? " — " + fields.join("; ") : "");
    } catch (e) { /* not JSON */ }
    var box = document.getElementById("live-error");
    if (box) { box.textContent = text; box.classList.remove("hidden"); }
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("live-error");
    if (box) box.classList.add("hidden");
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    // "r" on a queue row opens the ticket at #reply: focus its composer
    if (window.location.hash === "#reply") {
      var composer = document.querySelector("[data-kbd-reply]");
      if (composer) composer.focus();
    }
  });
  document.addEventListener("htmx:afterSettle", tick);
  setInterval(tick, 1000);
  window.Caseline = { tick: tick, formatCountdown: fmt, moveCursor: move };
})();
