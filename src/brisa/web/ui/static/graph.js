// The graph view (UI.md A.2.5): structure JSON (immutable per commit) + the run's state overlay,
// laid out by dagre (in a worker above 50 nodes), drawn as SVG with pan and zoom. The List
// toggle shows the server-rendered table of the same nodes (also the no-JS view).

const SVG = "http://www.w3.org/2000/svg";
const WORKER_ABOVE = 50;
const GLYPHS = { none: "○", pending: "◌", queued: "◔", running: "▶", up_for_retry: "↻", success: "✓",
  failed: "✕", upstream_failed: "⊘", skipped: "⤼", cancelled: "■" };

const pane = document.getElementById("graph");
const canvas = document.getElementById("graph-canvas");

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function showList(on, notice) {
  pane.classList.toggle("show-list", on);
  document.getElementById("graph-list-toggle")?.setAttribute("aria-pressed", on ? "true" : "false");
  if (notice) {
    const p = document.createElement("p");
    p.className = "banner";
    p.setAttribute("role", "status");
    p.textContent = notice;
    canvas.replaceChildren(p);
  }
}

function layoutHere(input) {
  const g = new window.dagre.graphlib.Graph();
  g.setGraph({ rankdir: input.rankdir, nodesep: 16, ranksep: 48, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of input.nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const [a, b] of input.edges) g.setEdge(a, b);
  window.dagre.layout(g);
  return {
    width: g.graph().width, height: g.graph().height,
    nodes: Object.fromEntries(input.nodes.map((n) => [n.id, { x: g.node(n.id).x, y: g.node(n.id).y }])),
    edges: input.edges.map(([a, b]) => g.edge(a, b).points),
  };
}

function layoutInWorker(input) {
  return new Promise((resolve, reject) => {
    const url = `${pane.dataset.worker}?dagre=${encodeURIComponent(pane.dataset.dagre)}`;
    const worker = new Worker(url);
    pane.dataset.worker_used = "1";
    worker.onmessage = (event) => {
      worker.terminate();
      if (event.data.ok) resolve(event.data.layout);
      else reject(new Error(event.data.error));
    };
    worker.onerror = (event) => { worker.terminate(); reject(new Error(event.message)); };
    worker.postMessage(input);
  });
}

function draw(input, layout, overlay) {
  const states = overlay ? overlay.tasks : {};
  const failed = Object.values(states).filter((t) => t.state === "failed").length;
  const svg = el("svg", { width: "100%", height: Math.min(layout.height + 24, 640), role: "group",
    "aria-label": `${input.nodes.length} tasks, ${failed} failed` });
  const world = el("g", { class: "world" }, svg);
  for (const points of layout.edges) {
    el("path", { class: "edge", d: "M" + points.map((p) => `${p.x},${p.y}`).join(" L") }, world);
  }
  for (const n of input.nodes) {
    const at = layout.nodes[n.id];
    const state = (states[n.id] && states[n.id].state) || "none";
    const link = el("a", { href: pane.dataset.run ? pane.dataset.link + encodeURIComponent(n.id) : "#",
      class: `node s-${state}`, "data-task": n.id,
      "aria-label": `${n.id}, ${state.replace(/_/g, " ")}` }, world);
    el("rect", { x: at.x - n.width / 2, y: at.y - n.height / 2, width: n.width, height: n.height, rx: 6 }, link);
    const glyph = el("text", { x: at.x - n.width / 2 + 10, y: at.y + 5, class: "glyph", "aria-hidden": "true" }, link);
    glyph.textContent = GLYPHS[state] || "?";
    const label = el("text", { x: at.x - n.width / 2 + 26, y: at.y + 5, class: "label" }, link);
    label.textContent = n.id;
  }
  canvas.replaceChildren(svg);
  panZoom(svg, world, layout);
}

// Pan and zoom: one transform on the drawing's group, kept across redraws of the overlay; the
// page-wide listeners are installed once. A drawing larger than the pane starts fitted to it.
const view = { scale: 1, x: 0, y: 0, svg: null, world: null, layout: null };
const MIN_SCALE = 0.05;

function apply() {
  if (!view.world) return;
  view.world.setAttribute("transform", `translate(${view.x} ${view.y}) scale(${view.scale})`);
  view.svg.classList.toggle("simple", view.scale < 0.5);
}

function fit() {
  if (!view.layout) return;
  const width = canvas.clientWidth || 600;
  const height = Math.min(view.layout.height + 24, 640);
  view.scale = Math.max(MIN_SCALE, Math.min(1, width / (view.layout.width + 24), height / (view.layout.height + 24)));
  view.x = 0; view.y = 0;
  apply();
}

function panZoom(svg, world, layout) {
  const first = view.layout === null;
  Object.assign(view, { svg, world, layout });
  if (first) fit(); else apply();
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    view.scale = Math.min(3, Math.max(MIN_SCALE, view.scale * (event.deltaY < 0 ? 1.1 : 0.9)));
    apply();
  }, { passive: false });
  svg.addEventListener("pointerdown", (event) => { drag = { sx: event.clientX - view.x, sy: event.clientY - view.y }; });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.x = event.clientX - drag.sx; view.y = event.clientY - drag.sy; apply();
  });
}

let drag = null;
window.addEventListener("pointerup", () => { drag = null; });
document.getElementById("graph-fit")?.addEventListener("click", fit);
document.addEventListener("keydown", (event) => {
  if (!view.world || event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement) return;
  if (event.key === "+" || event.key === "=") view.scale = Math.min(3, view.scale * 1.2);
  else if (event.key === "-") view.scale = Math.max(MIN_SCALE, view.scale / 1.2);
  else if (event.key === "0") { fit(); return; }
  else if (event.key === "r") { document.getElementById("rankdir")?.click(); return; }
  else return;
  apply();
});

// Layouts cached in IndexedDB by (structure hash, direction, nodes shown): a revisit paints
// without laying out again. Any IndexedDB failure just means laying out.
const DB = "brisa-graph";
const STORE = "layouts";

function idb() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function cachedLayout(key) {
  try {
    const db = await idb();
    return await new Promise((resolve) => {
      const get = db.transaction(STORE).objectStore(STORE).get(key);
      get.onsuccess = () => resolve(get.result || null);
      get.onerror = () => resolve(null);
    });
  } catch (error) {
    return null;
  }
}

async function rememberLayout(key, layout) {
  try {
    const db = await idb();
    db.transaction(STORE, "readwrite").objectStore(STORE).put(layout, key);
  } catch (error) {
    // not cached: the next visit lays out again
  }
}

async function fetchJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function render() {
  const shown = new Set([...pane.querySelectorAll("tr[data-task]")].map((row) => row.dataset.task));
  const structure = await fetchJson(pane.dataset.structure);
  const overlay = pane.dataset.overlay ? await fetchJson(pane.dataset.overlay) : null;
  const nodes = structure.nodes.filter((n) => shown.has(n.id))
    .map((n) => ({ id: n.id, width: 40 + 7.5 * n.id.length, height: 32 }));
  const edges = structure.edges.filter(([a, b]) => shown.has(a) && shown.has(b));
  const input = { nodes, edges, rankdir: pane.dataset.rankdir };
  const key = [structure.hash, input.rankdir, nodes.map((n) => n.id).join(",")].join("|");
  let layout = await cachedLayout(key);
  if (layout) pane.dataset.cached = "1";
  else {
    layout = nodes.length > WORKER_ABOVE ? await layoutInWorker(input) : layoutHere(input);
    await rememberLayout(key, layout);
  }
  draw(input, layout, overlay);
  pane.dataset.drawn = String(nodes.length);
  // Only the overlay refreshes, never the structure: #graph-live (graph.html) re-fetches it on
  // the run's live events and on the polling tick; the answer is drawn over the same layout.
  const live = document.getElementById("graph-live");
  if (live && !(overlay && overlay.finished)) {
    live.addEventListener("htmx:afterRequest", (event) => {
      if (!event.detail.successful || event.detail.xhr.status !== 200) return;
      const next = JSON.parse(event.detail.xhr.responseText);
      draw(input, layout, next);
      if (next.finished) live.remove();
    });
  } else live?.remove();
}

if (pane && canvas) {
  document.getElementById("graph-list-toggle")?.addEventListener("click", () => {
    showList(!pane.classList.contains("show-list"));
  });
  const drawAll = () => {
    delete canvas.dataset.guard;
    document.getElementById("graph-guard")?.remove();
    showList(false);
    render().catch((error) => showList(true, `The graph could not be drawn (${error.message}); the list shows every task.`));
  };
  document.getElementById("graph-render-anyway")?.addEventListener("click", drawAll);
  if (canvas.dataset.guard) showList(true);
  else render().catch((error) => showList(true, `The graph could not be drawn (${error.message}); the list shows every task.`));
}
