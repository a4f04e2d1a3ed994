// Clear / mark / cancel (UI.md A.4.2-A.4.3): a button with data-action opens the dialog fetched
// from that URL; focus goes to Cancel; Esc or Cancel closes it and focus returns to the button.
// A successful confirm closes the dialog; its toast lands in #toasts and leaves after 8 s
// (not while hovered or focused), or when dismissed.

let invoker = null;

function openDialog() {
  const dialog = document.getElementById("action-dialog");
  if (!dialog) return;
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (invoker && invoker.isConnected) invoker.focus();
  });
  dialog.showModal();
  document.getElementById("ad-cancel")?.focus();
}

function expire(toast) {
  setTimeout(() => {
    if (toast.matches(":hover, :focus-within")) expire(toast);
    else toast.remove();
  }, 8000);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && window.htmx) {
    event.preventDefault();
    invoker = button;
    window.htmx.ajax("GET", actionUrl(button), { target: "#action-host", swap: "innerHTML" }).then(openDialog);
    return;
  }
  if (event.target.closest("#ad-cancel")) document.getElementById("action-dialog")?.close();
  const close = event.target.closest(".toast-close");
  if (close) close.closest(".toast")?.remove();
});

document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (form instanceof HTMLFormElement && form.matches(".action-form") && event.detail.successful) {
    document.getElementById("action-dialog")?.close();
  }
});

// A refused confirm (e.g. the run finished meanwhile) answers inside the dialog, not behind it.
document.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.elt;
  const preview = document.getElementById("ad-preview");
  if (event.detail.isError && form instanceof HTMLFormElement && form.matches(".action-form") && preview) {
    event.detail.target = preview;
    event.detail.swapOverride = "afterbegin";
  }
});

document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target && event.detail.target.id === "toasts") {
    const last = event.detail.target.lastElementChild;
    if (last) expire(last);
  }
});

// A bulk action (data-picks = the selector of the row checkboxes) sends the ticked rows.
function actionUrl(button) {
  if (!button.dataset.picks) return button.dataset.action;
  const url = new URL(button.dataset.action, location.href);
  for (const box of document.querySelectorAll(`${button.dataset.picks}:checked`)) url.searchParams.append("ti", box.value);
  return url.pathname + url.search;
}

function countPicks() {
  for (const button of document.querySelectorAll("[data-picks]")) {
    const n = document.querySelectorAll(`${button.dataset.picks}:checked`).length;
    button.disabled = n === 0;
    const count = document.getElementById(button.dataset.count || "");
    if (count) count.textContent = `${n} selected`;
  }
}

document.addEventListener("change", (event) => {
  if (event.target.matches?.(".ti-pick")) countPicks();
  if (event.target.matches?.("#ti-pick-all")) {
    for (const box of document.querySelectorAll(".ti-pick")) box.checked = event.target.checked;
    countPicks();
  }
});
countPicks();
