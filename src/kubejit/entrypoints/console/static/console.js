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
