// Live updates of the pending list (the only script of the console; every page works
// without it). The server pushes a "promises" event when a promise is created or
// completed anywhere; the list is then fetched again, server-rendered.
(function () {
  "use strict";
  if (!document.getElementById("pending-list") || !window.EventSource) return;
  var status = document.getElementById("live-status");
  // The set of promises the page was rendered with: the stream tells at once if the
  // set has changed since then (while the page loaded), then at every change.
  var seen = document.getElementById("pending-list").dataset.seen || "";
  var source = new EventSource("/ui/events?seen=" + encodeURIComponent(seen));
  function busy() {
    // Do not replace a form a person is typing into; the next event will.
    var active = document.activeElement;
    var list = document.getElementById("pending-list");
    return active && list && list.contains(active) && active.tagName === "TEXTAREA" && active.value;
  }
  function refresh() {
    if (busy()) return;
    fetch("/ui/fragments/pending", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var list = document.getElementById("pending-list");
        if (html === null || !list) return;
        list.outerHTML = html;
        document.body.dataset.liveVersion = String((Number(document.body.dataset.liveVersion) || 0) + 1);
      });
  }
  var opened = false;
  source.addEventListener("open", function () {
    if (status) status.textContent = "Updates live.";
    document.body.dataset.live = "on";
    if (opened) refresh(); // reconnected: something may have changed meanwhile
    opened = true;
  });
  source.addEventListener("error", function () {
    if (status) status.textContent = "Live updates paused; reconnecting.";
  });
  source.addEventListener("promises", refresh);
})();
