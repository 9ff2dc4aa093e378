// The console's only script: the live current invoice. It long-polls the
// console's live endpoint with `min_position` one past what it shows, so
// the server answers as soon as a newer event has been folded (any
// organization's: the position is global), and it updates the total in
// place (announced politely to screen readers).
(function () {
  "use strict";
  var box = document.querySelector("[data-live-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-live-url");
  var position = parseInt(box.getAttribute("data-position") || "0", 10);
  var total = document.getElementById("live-total");
  var lines = document.getElementById("live-lines");
  var stamp = document.getElementById("live-position");
  function later() { window.setTimeout(poll, 1000); }
  function poll() {
    var request = new XMLHttpRequest();
    request.open("GET", url + "?min_position=" + (position + 1));
    request.setRequestHeader("Accept", "application/json");
    request.onload = function () {
      if (request.status !== 200) { later(); return; }
      try {
        var body = JSON.parse(request.responseText);
        position = body.position;
        if (total) { total.textContent = body.total; }
        if (lines) { lines.textContent = String(body.lines); }
        if (stamp) { stamp.textContent = String(body.position); }
        box.setAttribute("data-position", String(body.position));
      } catch (e) { /* keep what is shown */ }
      // At most two requests a second, however busy the ledger is.
      window.setTimeout(poll, 500);
    };
    request.onerror = later;
    request.send();
  }
  poll();
})();
