// The trigger form (UI.md A.4.1): mod+Enter submits; an inline check marks its field
// (aria-invalid) and recounts the errors of its section; after a submit with errors the
// summary takes the focus. The rest (values, checks, Form ⇄ JSON) is done by the server.

function form() {
  return document.getElementById("trigger-form");
}

function onKey(event) {
  const f = form();
  if (!f || event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
  if (!f.contains(event.target)) return;
  event.preventDefault();
  f.requestSubmit();
}

function sync(f) {
  for (const slot of f.querySelectorAll(".field-error")) {
    const input = f.querySelector(`[aria-describedby~="${slot.id}"]`);
    if (!input) continue;
    if (slot.textContent.trim()) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  for (const section of f.querySelectorAll("details.section")) {
    const count = section.querySelectorAll(".field-error:not(:empty)").length;
    const label = section.querySelector(".error-count");
    if (label) label.textContent = count ? `(${count} error${count === 1 ? "" : "s"})` : "";
  }
}

let submitted = false;

function beforeRequest(event) {
  submitted = event.detail.elt === form();
}

function afterSettle() {
  const f = form();
  if (!f) return;
  sync(f);
  if (!submitted) return;
  submitted = false;
  const summary = document.getElementById("trigger-summary") || document.getElementById("trigger-failure");
  if (summary) summary.focus();
}

document.addEventListener("keydown", onKey);
document.body.addEventListener("htmx:beforeRequest", beforeRequest);
document.body.addEventListener("htmx:afterSettle", afterSettle);
