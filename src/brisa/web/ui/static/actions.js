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
  const name = button.dataset.pickName || "ti"; // "run" on the runs list
  for (const box of document.querySelectorAll(`${button.dataset.picks}:checked`)) url.searchParams.append(name, box.value);
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
  if (event.target.matches?.("[data-pick]")) countPicks();
  if (event.target.matches?.("[data-pick-all]")) {
    for (const box of document.querySelectorAll(event.target.dataset.pickAll)) box.checked = event.target.checked;
    countPicks();
  }
});
countPicks();

// Selecting rows for a bulk action (UI.md A.2.9, A.4.4): `j` / `k` (or ↓ / ↑) move the row
// focus, `x` ticks or unticks the focused row, and a shift-click ticks (or unticks) every row
// between the last box clicked and this one. A row's box is `[data-pick]` inside its <tr>.
const PICK = "input[type=checkbox][data-pick]";
let anchor = null;

function rowOf(element) {
  return element instanceof Element ? element.closest("tbody tr") : null;
}

function pickRows() {
  return [...document.querySelectorAll(PICK)].map(rowOf).filter(Boolean);
}

function focusRow(row) {
  for (const other of document.querySelectorAll("tr.row-focus")) other.classList.remove("row-focus");
  row.classList.add("row-focus");
  row.querySelector(PICK)?.focus();
}

document.addEventListener("click", (event) => {
  const box = event.target instanceof Element ? event.target.closest(PICK) : null;
  if (!box) return;
  const boxes = [...document.querySelectorAll(PICK)];
  if (event.shiftKey && anchor && anchor.isConnected && anchor !== box) {
    const [from, to] = [boxes.indexOf(anchor), boxes.indexOf(box)].sort((a, b) => a - b);
    for (const other of boxes.slice(from, to + 1)) other.checked = box.checked;
    countPicks();
  }
  anchor = box;
  focusRow(rowOf(box));
});

document.addEventListener("keydown", (event) => {
  const t = event.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT"
    || (t.tagName === "INPUT" && t.type !== "checkbox"));
  if (typing || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const rows = pickRows();
  if (!rows.length) return;
  const current = rowOf(document.activeElement) || document.querySelector("tr.row-focus");
  const at = rows.indexOf(current);
  if (["j", "ArrowDown", "k", "ArrowUp"].includes(event.key)) {
    const step = event.key === "j" || event.key === "ArrowDown" ? 1 : -1;
    const next = rows[at < 0 ? 0 : Math.min(Math.max(at + step, 0), rows.length - 1)];
    event.preventDefault();
    focusRow(next);
  } else if (event.key === "x" && at >= 0) {
    event.preventDefault();
    const box = rows[at].querySelector(PICK);
    box.checked = !box.checked;
    anchor = box;
    focusRow(rows[at]);
    countPicks();
  }
});
