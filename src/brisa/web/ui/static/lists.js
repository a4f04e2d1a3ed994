// The list pages' module: toasts that leave after their time (paused while hovered or
// focused, dismissible, gone once their Undo is used). No inline script (strict CSP).

const timers = new WeakMap();

function arm(toast) {
  const ttl = Number(toast.dataset.ttl || 0);
  if (!ttl || timers.has(toast)) return;
  let left = ttl;
  let started = Date.now();
  let timer = setTimeout(() => toast.remove(), left);
  timers.set(toast, true);
  const pause = () => { clearTimeout(timer); left -= Date.now() - started; };
  const resume = () => { started = Date.now(); timer = setTimeout(() => toast.remove(), Math.max(left, 1000)); };
  toast.addEventListener("mouseenter", pause);
  toast.addEventListener("mouseleave", resume);
  toast.addEventListener("focusin", pause);
  toast.addEventListener("focusout", resume);
}

function onClick(event) {
  const target = event.target;
  if (!(target instanceof Element)) return;
  const toast = target.closest(".toast");
  if (!toast) return;
  if (target.closest(".dismiss")) toast.remove();
  // Undo: its request is under way (htmx has the element); the toast has done its job.
  if (target.closest(".undo")) toast.hidden = true;
}

const toasts = document.getElementById("toasts");
if (toasts) {
  new MutationObserver(() => toasts.querySelectorAll(".toast").forEach(arm))
    .observe(toasts, { childList: true, subtree: true });
  toasts.addEventListener("click", onClick);
}

// Relative times ("3 m ago", "in 2 h 05 m") drawn in the browser from <time class="rel">, so
// that the server's HTML of a row stays the same from one second to the next (a re-fetch of an
// unchanged row is a 204) and the absolute time stays on hover.
function span(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
  return `${Math.floor(s / 86400)} d ${String(Math.floor((s % 86400) / 3600)).padStart(2, "0")} h`;
}

function relabel(root) {
  const now = Date.now();
  root.querySelectorAll("time.rel[datetime]").forEach((el) => {
    const at = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(at)) return;
    const delta = (now - at) / 1000;
    el.textContent = delta >= 0 ? `${span(delta)} ago` : `in ${span(-delta)}`;
  });
}

relabel(document);
document.body.addEventListener("htmx:afterSettle", (event) => relabel(event.target instanceof Element ? event.target : document));
