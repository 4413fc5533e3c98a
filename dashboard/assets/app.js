// orchestra dashboard: live updates. Never writes HTML: only textContent,
// class names and attributes the page already has (task output is untrusted).
"use strict";
(function () {
  const body = document.body;
  const page = body.dataset.page;
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const STATES = ["pending", "running", "succeeded", "failed", "timed_out", "violation", "skipped", "cancelled", "paused"];

  function setState(el, state) {
    if (!el) return;
    for (const s of STATES) el.classList.remove("s-" + s);
    el.classList.add("s-" + state);
  }

  function wsUrl(path) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + path;
  }

  // A feed that reconnects from where it stopped: the last seq and log offset.
  function follow(params, onEvents, onLog) {
    let since = Number(body.dataset.since || 0);
    let offset = Number(body.dataset.offset || 0);
    let delay = 250;
    function open() {
      let q = "?since=" + since;
      if (params.log !== undefined) q += "&log=" + encodeURIComponent(params.log) + "&offset=" + offset;
      const ws = new WebSocket(wsUrl("/api/runs/" + encodeURIComponent(params.run) + "/live" + q));
      window.__orchestraFeed = ws;
      ws.onopen = function () { delay = 250; body.dataset.live = "open"; };
      ws.onmessage = function (m) {
        let msg;
        try { msg = JSON.parse(m.data); } catch (e) { return; }
        if (msg.type === "events") {
          for (const e of msg.entries) {
            if (e.seq <= since) continue; // never twice
            since = e.seq;
            onEvents(e);
          }
          body.dataset.since = String(since);
        } else if (msg.type === "log" && onLog) {
          if (msg.offset !== offset) return; // never a gap or an overlap
          offset = msg.next;
          body.dataset.offset = String(offset);
          onLog(msg.text);
        } else if (msg.type === "error") {
          body.dataset.live = "error";
          const note = document.getElementById("control-msg") || document.getElementById("log-size");
          if (note) note.textContent = msg.message;
          ws.onclose = null;
        }
      };
      ws.onclose = function () {
        body.dataset.live = "closed";
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 5000);
      };
    }
    open();
  }

  function runPage() {
    const run = body.dataset.run;
    const nodes = new Map();
    for (const g of document.querySelectorAll("svg g.node[data-task]")) nodes.set(g.dataset.task, g);
    const rows = new Map();
    for (const tr of document.querySelectorAll("tr[data-task]")) rows.set(tr.dataset.task, tr);
    const list = document.getElementById("events");
    // A node opens its task's page (one handler for the whole graph).
    const svg = document.getElementById("dag");
    if (svg) {
      svg.addEventListener("click", function (ev) {
        const g = ev.target.closest("g.node[data-task]");
        if (g) location.href = "/runs/" + encodeURIComponent(run) + "/tasks/" + encodeURIComponent(g.dataset.task);
      });
    }
    const status = document.getElementById("run-status");
    // The counts by state follow the nodes (each node knows its task's state).
    const counts = document.getElementById("counts");
    const known = new Map();
    for (const [t, g] of nodes) {
      const s = STATES.find(function (x) { return g.classList.contains("s-" + x); });
      if (s) known.set(t, s);
    }
    function count(state, delta) {
      if (!counts) return;
      let span = null;
      for (const x of counts.children) if (x.dataset.count === state) span = x;
      if (!span) {
        span = document.createElement("span");
        span.className = "badge s-" + state;
        span.dataset.count = state;
        span.textContent = state + " 0";
        counts.appendChild(span);
        counts.appendChild(document.createTextNode(" "));
      }
      const n = Number(span.textContent.split(" ").pop()) + delta;
      span.textContent = state + " " + n;
      span.hidden = n <= 0;
    }
    function show(task, state) {
      const was = known.get(task);
      if (was !== undefined && was !== state) {
        known.set(task, state);
        count(was, -1);
        count(state, 1);
      }
      setState(nodes.get(task), state);
      const tr = rows.get(task);
      if (tr) {
        const badge = tr.querySelector(".badge");
        if (badge) { setState(badge, state); badge.textContent = state; }
      }
    }
    function line(text) {
      if (!list) return;
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
      while (list.childElementCount > 500) list.removeChild(list.firstChild);
    }
    const audit = document.getElementById("audit");
    if (audit) {
      fetch("/api/runs/" + encodeURIComponent(run) + "/audit", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (a) {
          if (!a || typeof a.line !== "string") return;
          audit.textContent = a.line;
          setState(audit, a.ok ? "succeeded" : "violation");
        })
        .catch(function () {});
    }
    follow({ run: run }, function (e) {
      switch (e.type) {
        case "task_started": show(e.task, "running"); line(e.task + " started"); break;
        case "task_finished": show(e.task, e.state); line(e.task + " " + e.state + (e.detail ? " (" + e.detail + ")" : "")); break;
        case "task_not_run": show(e.task, e.state); line(e.task + " " + e.state + ": " + e.reason); break;
        case "task_reused": show(e.task, "succeeded"); break;
        case "message": line(e.line); break;
        case "control":
          line(e.action + " by " + e.by);
          if (status) {
            const st = e.action === "pause" ? "paused" : e.action === "cancel" ? "cancelled" : "running";
            setState(status, st); status.textContent = st;
          }
          break;
        case "run_started":
          if (status) { setState(status, "running"); status.textContent = "running"; }
          break;
        case "run_finished":
          if (status) { setState(status, e.status); status.textContent = e.status; }
          line("run " + e.status + ": " + e.summary);
          break;
      }
    });
    for (const b of document.querySelectorAll(".controls button[data-action]")) {
      b.addEventListener("click", function () {
        const msg = document.getElementById("control-msg");
        fetch("/api/runs/" + encodeURIComponent(run) + "/control", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Orchestra-CSRF": csrf },
          body: JSON.stringify({ action: b.dataset.action }),
          credentials: "same-origin",
        }).then(function (r) {
          return r.json().then(function (j) {
            if (msg) msg.textContent = r.ok ? b.dataset.action + " requested" : (j.error || "refused");
          });
        }).catch(function (e) { if (msg) msg.textContent = String(e); });
      });
    }
  }

  function taskPage() {
    const run = body.dataset.run;
    const task = body.dataset.task;
    const pre = document.getElementById("log");
    const search = document.getElementById("search");
    const followBox = document.getElementById("follow");
    const size = document.getElementById("log-size");
    const status = document.getElementById("task-status");
    function applySearch() {
      const q = search ? search.value : "";
      for (const span of pre.querySelectorAll("span.hit")) span.classList.remove("hit");
      pre.classList.toggle("searching", q.length > 0);
      if (!q) return;
      // Split the text into line spans on the first search, then mark matches.
      if (!pre.dataset.split) {
        const text = pre.textContent;
        pre.textContent = "";
        for (const l of text.split("\n")) {
          const s = document.createElement("span");
          s.textContent = l + "\n";
          pre.appendChild(s);
        }
        pre.dataset.split = "1";
      }
      for (const s of pre.children) if (s.textContent.includes(q)) s.classList.add("hit");
    }
    if (search) search.addEventListener("input", applySearch);
    follow({ run: run, log: task }, function (e) {
      if (e.task !== task || !status) return;
      const st = e.type === "task_started" ? "running" : (e.type === "task_finished" || e.type === "task_not_run") ? e.state : null;
      if (st) { setState(status, st); status.textContent = st; }
    }, function (text) {
      if (pre.dataset.split) {
        for (const l of text.split(/(?<=\n)/)) {
          const s = document.createElement("span");
          s.textContent = l;
          if (search && search.value && l.includes(search.value)) s.classList.add("hit");
          pre.appendChild(s);
        }
      } else {
        pre.appendChild(document.createTextNode(text));
      }
      if (size) size.textContent = body.dataset.offset + " bytes";
      if (followBox && followBox.checked) pre.scrollTop = pre.scrollHeight;
    });
  }

  if (page === "run") runPage();
  if (page === "task") taskPage();
})();
