// The DAG page's grid (UI.md A.2.4): one delegated listener, no per-cell htmx attributes.
// A click (or Enter) on a cell or a run bar fetches only the panel (/_ + the link's path) and
// pushes the link's URL; arrows move a roving tabindex (one Tab stop), Home/End jump to the
// first/last task; `v` toggles grid and graph. Back/forward re-fetch the panel.

const dagBody = () => document.querySelector(".dag-body");

function typing(event) {
  const t = event.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

// The navigable items as a matrix: row 0 holds the run bars, the others the cells.
function matrix(grid) {
  return [...grid.querySelectorAll('[role="row"]')].map((row) => [...row.querySelectorAll(".bar, .gl")]);
}

function position(grid, item) {
  const rows = matrix(grid);
  for (let r = 0; r < rows.length; r++) {
    const c = rows[r].indexOf(item);
    if (c >= 0) return { rows, r, c };
  }
  return null;
}

function rove(grid, item) {
  grid.querySelectorAll('[tabindex="0"]').forEach((el) => el.setAttribute("tabindex", "-1"));
  item.setAttribute("tabindex", "0");
}

function markSelected() {
  const grid = document.querySelector('[role="grid"]');
  if (!grid) return;
  const path = location.pathname;
  let chosen = null;
  grid.querySelectorAll(".gc, .bar").forEach((el) => {
    const link = el.matches(".bar") ? el : el.querySelector("a.gl");
    const on = !!link && new URL(link.href).pathname === path;
    el.classList.toggle("sel", on);
    if (el.matches(".gc")) el.setAttribute("aria-selected", on ? "true" : "false");
    if (on) chosen = el.matches(".bar") ? el : link;
  });
  if (!grid.querySelector('[tabindex="0"]')) {
    const rows = matrix(grid);
    const first = chosen || (rows[1] && rows[1][rows[1].length - 1]) || (rows[0] && rows[0][0]);
    if (first) rove(grid, first);
  }
}

function openPanel(href, push) {
  const url = new URL(href, location.href);
  const target = document.getElementById("panel");
  if (!target || !window.htmx) { location.assign(url.href); return; }
  window.htmx.ajax("GET", "/_" + url.pathname + url.search, { target: "#panel", swap: "innerHTML" });
  if (push) history.pushState({ brisaPanel: true }, "", url.pathname + url.search);
  markSelected();
}

function onClick(event) {
  const link = event.target.closest('[role="grid"] a.gl, [role="grid"] a.bar');
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  rove(link.closest('[role="grid"]'), link);
  openPanel(link.href, true);
}

function onGridKey(event) {
  const grid = event.target.closest && event.target.closest('[role="grid"]');
  if (!grid) return;
  const at = position(grid, event.target);
  if (!at) return;
  let { rows, r, c } = at;
  const key = event.key;
  if (key === "ArrowRight") c += 1;
  else if (key === "ArrowLeft") c -= 1;
  else if (key === "ArrowDown") r += 1;
  else if (key === "ArrowUp") r -= 1;
  else if (key === "Home") r = 1;
  else if (key === "End") r = rows.length - 1;
  else if (key === "Enter" && event.target.tagName !== "A") { event.preventDefault(); return; }
  else return;
  event.preventDefault();
  r = Math.max(0, Math.min(rows.length - 1, r));
  c = Math.max(0, Math.min(rows[r].length - 1, c));
  const next = rows[r][c];
  if (next) { rove(grid, next); next.focus(); }
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event)) return;
  if (event.key === "v") {
    const toggle = document.getElementById("view-toggle");
    if (toggle) { event.preventDefault(); location.assign(toggle.href); }
  } else if (event.key === "p") {
    const pause = document.querySelector('.dag-header button[aria-keyshortcuts="p"]');
    if (pause) { event.preventDefault(); pause.click(); }
  } else if (event.key === "t") {
    const trigger = document.querySelector('.dag-header a[aria-keyshortcuts="t"]');
    if (trigger) { event.preventDefault(); location.assign(trigger.href); }
  }
}

// Hovering a task's name highlights its upstream and downstream rows and dims the others
// (UI.md A.2.4). The edges come from the structure JSON, fetched once on the first hover.
let edges = null;
let hovered = null;

async function loadEdges() {
  if (edges) return edges;
  edges = { up: new Map(), down: new Map() };
  try {
    const response = await fetch(`/_${dagBody().dataset.base}/graph/structure`, { credentials: "same-origin" });
    for (const [a, b] of (await response.json()).edges) {
      if (!edges.down.has(a)) edges.down.set(a, []);
      if (!edges.up.has(b)) edges.up.set(b, []);
      edges.down.get(a).push(b);
      edges.up.get(b).push(a);
    }
  } catch (error) {
    // no highlight without the structure
  }
  return edges;
}

function reach(start, links) {
  const seen = new Set([start]);
  const stack = [start];
  while (stack.length) for (const next of links.get(stack.pop()) || []) if (!seen.has(next)) { seen.add(next); stack.push(next); }
  return seen;
}

async function highlight(event) {
  const header = event.target.closest && event.target.closest('[role="rowheader"]');
  const grid = header && header.closest('[role="grid"]');
  if (!grid) return;
  const task = header.textContent.trim();
  hovered = task;
  const { up, down } = await loadEdges();
  if (hovered !== task) return;
  const near = new Set([...reach(task, up), ...reach(task, down)]);
  grid.querySelectorAll('.gr:not(.gr-head)').forEach((row) => {
    const name = row.querySelector('[role="rowheader"]').textContent.trim();
    row.classList.toggle("dim", !near.has(name));
  });
}

function unhighlight(event) {
  const header = event.target.closest && event.target.closest('[role="rowheader"]');
  if (header) hovered = null;
  if (header) header.closest('[role="grid"]')?.querySelectorAll(".gr.dim").forEach((row) => row.classList.remove("dim"));
}

if (dagBody()) {
  document.addEventListener("mouseover", highlight);
  document.addEventListener("mouseout", unhighlight);
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onGridKey);
  document.addEventListener("keydown", onKey);
  window.addEventListener("popstate", () => {
    const base = dagBody().dataset.base;
    if (location.pathname.startsWith(base)) openPanel(location.href, false);
  });
  document.addEventListener("htmx:afterSettle", markSelected);
  markSelected();
}
