// proctor's web UI: live updates of the status page and of a process's logs, and the filter as
// you type. Every action works without this file; it only saves reloading. Served by the
// daemon itself (Content-Security-Policy: script-src 'self'), nothing inline.
"use strict";

// The status page: rows follow state changes, buttons act without leaving the page.
(function () {
  var table = document.querySelector("table[data-live]");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  var filter = document.getElementById("filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      rows.forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }
  // What the daemon said about an action appears above the table.
  var form = table.closest("form");
  if (form && window.fetch) {
    form.addEventListener("submit", function (ev) {
      var button = ev.submitter;
      if (!button || button.name !== "act") return;
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      body.set("act", button.value);
      fetch("/action", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var said = new DOMParser().parseFromString(html, "text/html").querySelector(".flash");
          var here = document.querySelector("p.flash");
          if (!here) {
            here = document.createElement("p");
            here.className = "flash";
            here.setAttribute("role", "status");
            document.querySelector("h1").after(here);
          }
          here.textContent = said ? said.textContent : "sent";
        });
    });
  }
  if (!window.EventSource) return;
  // A row is its process's: the name in its link. Cells by position (the page of a thousand
  // processes stays small without a class on each): 2 state, 3 pid, 4 uptime.
  var byName = {};
  rows.forEach(function (tr) {
    var a = tr.cells[1].querySelector("a");
    if (a) byName[new URLSearchParams(a.search).get("name")] = tr;
  });
  var events = new EventSource("/events");
  events.addEventListener("reload", function () { window.location.reload(); });
  events.onmessage = function (m) {
    var e = JSON.parse(m.data);
    var tr = byName[e.name];
    if (!tr) return;
    tr.cells[2].textContent = e.state;
    tr.cells[2].className = e.class;
    tr.cells[3].textContent = e.pid;
    tr.cells[4].textContent = e.state === "RUNNING" ? "0:00:00" : "";
  };
})();

// A process's page: its logs grow as the process writes (the newest 256 KiB kept).
(function () {
  if (!window.EventSource) return;
  document.querySelectorAll("pre[data-follow]").forEach(function (pre) {
    var log = new EventSource(pre.getAttribute("data-follow"));
    log.onmessage = function (m) {
      var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      // The event's data is the chunk exactly (its lines joined back with newlines).
      var text = pre.textContent + m.data;
      pre.textContent = text.length > 262144 ? text.slice(-262144) : text;
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    };
  });
})();
