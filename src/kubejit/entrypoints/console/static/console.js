// kubejit console: checks the request form as you type (the server answers; nothing is stored). Without this
// script the form is checked when it is sent, with the same messages.
"use strict";
(function () {
  const form = document.querySelector("form[data-check]");
  if (!form) return;
  let timer = null;
  let asked = 0;
  const touched = new Set();  // only the fields already typed in get their problems shown
  function show(errors) {
    for (const slot of form.querySelectorAll("[data-error-for]")) {
      const name = slot.dataset.errorFor;
      if (!touched.has(name)) continue;
      const message = errors[name] || "";
      slot.textContent = message;
      const input = form.elements[name];
      if (input) input.setAttribute("aria-invalid", message ? "true" : "false");
    }
  }
  async function check() {
    const query = new URLSearchParams();
    for (const name of ["profile", "namespaces", "duration", "reason"]) query.set(name, form.elements[name].value);
    if (form.elements.break_glass && form.elements.break_glass.checked) query.set("break_glass", "on");
    const mine = ++asked;
    try {
      const answer = await fetch(form.dataset.check + "?" + query.toString(), { credentials: "same-origin" });
      if (!answer.ok || mine !== asked) return;
      const body = await answer.json();
      show(body.errors || {});
    } catch (error) {
      // the server checks the form again when it is sent
    }
  }
  form.addEventListener("input", function (event) {
    if (event.target.name) touched.add(event.target.name);
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
})();

// The live page: new audit events (gateway activity, alerts) arrive over server-sent events and are added at the
// top of the table; the open sessions' list arrives whole (event "sessions") whenever it changes. Every value goes in with textContent, never as markup. Without this script the page shows the
// newest events when it was loaded, and a refresh link.
(function () {
  const holder = document.querySelector("[data-stream]");
  if (!holder || !window.EventSource) return;
  const rows = document.getElementById("live-events");
  const status = document.getElementById("live-status");
  const empty = document.getElementById("live-empty");
  const MAX_ROWS = 200;
  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function add(event) {
    const row = document.createElement("tr");
    row.className = "event event-" + event.tone + " event-new";
    row.dataset.seq = String(event.seq);
    cell(row, String(event.seq));
    cell(row, event.at);
    cell(row, event.actor);
    const grant = cell(row, "");
    if (event.request) {
      const link = document.createElement("a");
      link.href = holder.dataset.timeline + encodeURIComponent(event.request) + "/timeline";
      link.textContent = event.request;
      grant.appendChild(link);
    }
    const what = cell(row, "");
    const kind = document.createElement("code");
    kind.textContent = event.kind;
    what.appendChild(kind);
    what.appendChild(document.createTextNode(" " + event.summary));
    rows.insertBefore(row, rows.firstChild);
    while (rows.rows.length > MAX_ROWS) rows.deleteRow(rows.rows.length - 1);
    if (empty) empty.hidden = true;
  }
  const sessions = document.querySelector("table[data-sessions]");
  const sessionRows = document.getElementById("live-sessions");
  const noSessions = document.getElementById("sessions-empty");
  function revokeForm(grant, kind) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = sessions.dataset.sessions + encodeURIComponent(grant) + "/revoke";
    const csrf = document.createElement("input");
    csrf.type = "hidden";
    csrf.name = "csrf";
    csrf.value = sessions.dataset.csrf;
    form.appendChild(csrf);
    const back = document.createElement("input");
    back.type = "hidden";
    back.name = "back";
    back.value = "live";
    form.appendChild(back);
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "danger";
    button.textContent = "Revoke grant";
    button.setAttribute("aria-label", "Revoke grant " + grant + " (ends this " + kind + " session)");
    form.appendChild(button);
    return form;
  }
  function showSessions(list) {
    // the whole list, as the server read it: rows replaced, every value as text
    while (sessionRows.rows.length) sessionRows.deleteRow(0);
    for (const s of list) {
      const row = sessionRows.insertRow(-1);
      row.className = "session session-" + s.standing;
      const grant = cell(row, "");
      const link = document.createElement("a");
      link.href = sessions.dataset.sessions + encodeURIComponent(s.grant);
      link.textContent = s.grant;
      grant.appendChild(link);
      cell(row, s.user);
      cell(row, s.kind + " in " + s.where);
      const command = cell(row, "");
      const code = document.createElement("code");
      code.textContent = s.command;
      command.appendChild(code);
      cell(row, s.since);
      cell(row, s.gateway);
      const standing = cell(row, s.standing);
      if (s.standing !== "open") {
        const why = document.createElement("span");
        why.className = "hint";
        why.textContent = s.why;
        standing.appendChild(document.createElement("br"));
        standing.appendChild(why);
      }
      if (s.mayRevoke) cell(row, "").appendChild(revokeForm(s.grant, s.kind));
      else cell(row, "not yours to revoke").className = "hint";
    }
    sessions.hidden = list.length === 0;
    noSessions.hidden = list.length !== 0;
  }
  const source = new EventSource(holder.dataset.stream, { withCredentials: true });
  source.addEventListener("sessions", function (message) {
    if (!sessions) return;
    try { showSessions(JSON.parse(message.data)); } catch (error) { /* a malformed message is skipped */ }
  });
  source.addEventListener("open", function () { status.textContent = "Live: new events appear at the top."; });
  source.addEventListener("audit", function (message) {
    try { add(JSON.parse(message.data)); } catch (error) { /* a malformed message is skipped */ }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) status.textContent = "Live updates stopped: refresh the page.";
    else status.textContent = "Reconnecting…";
  });
})();

// Signing out: the identity provider's sign-out form (the console has already dropped its own session) goes at
// once, so the provider ends its session too. Without this script the page shows the form's button.
(function () {
  const form = document.querySelector("form[data-auto-submit]");
  if (form) form.submit();
})();
