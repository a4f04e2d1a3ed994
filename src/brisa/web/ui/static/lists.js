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
