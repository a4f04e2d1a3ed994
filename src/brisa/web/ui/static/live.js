// Live updates (UI.md A.1-3/4, docs/ui.md "Live updates"): the page's one event stream, the
// live indicator, reconnects with back-off, the polling fallback and hidden-tab pausing.
//
// This module owns the page's stream (<body sse-connect>): it alone decides WHEN it is open.
// connect() sets sse-connect once htmx has processed the page, and htmx's SSE extension
// creates the EventSource through `tracked` and routes its events to elements
// (hx-trigger="sse:…", sse-swap="…"). The extension would also retry a failed stream on a
// timer of its own (its `onerror`); `tracked` never lets it install that handler, so the only
// reconnects are connect()'s: back-off, polling, the page shown again. Every (re)connection
// resumes from the last event id seen (?last_id=). Other elements' streams (the log view's
// sse-connect) are left to the extension, retries included.
// Polling mode emits `brisa:tick` (5 s) and `brisa:tick-slow` (30 s) on <body>, only while the
// page is visible; `resync` from the server becomes `brisa:resync` on <body>. No eval, no
// inline script: CSP stays strict.

const body = document.body;
const indicator = document.getElementById("live-indicator");
const HIDDEN_CLOSE_MS = 60_000;
const FAILURES_BEFORE_POLLING = 3;
const RETRY_SSE_WHILE_POLLING_MS = 60_000;
const TICK_MS = 5_000;
const SLOW_TICK_MS = 30_000;
const LABELS = { live: "Live", reconnecting: "Reconnecting…", polling: "Polling", paused: "Paused" };

const baseUrl = body.dataset.liveUrl || "";
let lastId = new URL(baseUrl || "/", location.href).searchParams.get("last_id") || "";
let failures = 0;
let backoff = 2_000;
let reconnectTimer = 0;
let hiddenTimer = 0;
let polling = false;
let ticks = [];
let generation = 0;
let current = null;
let missed = false; // a refresh was held back while the page was hidden

function show(state) {
  if (!indicator) return;
  indicator.dataset.state = state;
  indicator.textContent = LABELS[state];
}

function streamUrl() {
  const url = new URL(baseUrl, location.href);
  if (lastId) url.searchParams.set("last_id", lastId);
  return url.pathname + url.search;
}

// The page's stream: every listener the extension adds records the id of the events it sees;
// open and error go to onOpen / onError directly, and the extension's own error handler (its
// retry timer) is dropped. Another element's stream is the extension's alone.
function tracked(url) {
  const source = new EventSource(url, { withCredentials: true });
  if (url !== body.getAttribute("sse-connect")) return source;
  const add = source.addEventListener.bind(source);
  source.addEventListener = (type, listener, options) =>
    add(type, (event) => { if (event.lastEventId) lastId = event.lastEventId; listener(event); }, options);
  Object.defineProperty(source, "onerror", { configurable: true, get: () => null, set: () => {} });
  add("open", () => { if (source === current) onOpen(); });
  add("error", () => { if (source === current) onError(); });
  // through the wrapper: their ids count as seen too
  source.addEventListener("resync", () => htmx.trigger(body, "brisa:resync"));
  source.addEventListener("end", () => {});
  current = source;
  return source;
}

function liveElements() {
  return document.querySelectorAll("[sse-swap], [hx-trigger*='sse:']");
}

// (Re)open the stream: new sse-connect URL, and every live element re-registered with the new
// EventSource (htmx re-initialises an element whose attributes changed).
function connect() {
  if (!baseUrl || document.visibilityState === "hidden") return;
  clearTimeout(reconnectTimer);
  generation += 1;
  body.setAttribute("sse-connect", streamUrl());
  for (const element of [body, ...liveElements()]) element.dataset.liveGen = String(generation);
  htmx.process(body);
}

function disconnect() {
  body.removeAttribute("sse-connect");
  if (current) current.close();
  current = null;
}

function onOpen() {
  failures = 0;
  backoff = 2_000;
  stopPolling();
  show("live");
}

function onError() {
  disconnect();
  failures += 1;
  if (failures >= FAILURES_BEFORE_POLLING) {
    startPolling();
    reconnectTimer = setTimeout(connect, RETRY_SSE_WHILE_POLLING_MS);
    return;
  }
  show("reconnecting");
  reconnectTimer = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 60_000);
}

function startPolling() {
  show("polling");
  if (polling) return;
  polling = true;
  ticks = [
    setInterval(() => tick("brisa:tick"), TICK_MS),
    setInterval(() => tick("brisa:tick-slow"), SLOW_TICK_MS),
  ];
}

function stopPolling() {
  polling = false;
  ticks.forEach(clearInterval);
  ticks = [];
}

function tick(name) {
  if (document.visibilityState === "visible") htmx.trigger(body, name);
}

function onVisibility() {
  if (document.visibilityState === "hidden") {
    if (current) hiddenTimer = setTimeout(() => { disconnect(); show("paused"); }, HIDDEN_CLOSE_MS);
    return;
  }
  clearTimeout(hiddenTimer);
  if (missed) {
    missed = false;
    htmx.trigger(body, "brisa:resync");
  }
  if (polling) {
    tick("brisa:tick");
    tick("brisa:tick-slow");
  }
  if (!current && !polling && baseUrl) connect();
}

function isLive(element) {
  return (element.getAttribute("hx-trigger") || "").includes("brisa:tick");
}

// A hidden page makes no requests: a live refresh waits until the page is shown again.
function onBeforeRequest(event) {
  if (document.visibilityState !== "hidden" || !isLive(event.detail.elt)) return;
  event.preventDefault();
  missed = true;
}

// A live fragment answered 403 or 404: it stops refreshing and says why (UI.md A.1-4).
function onBeforeSwap(event) {
  const status = event.detail.xhr.status;
  const element = event.detail.elt;
  if ((status !== 403 && status !== 404) || !isLive(element)) return;
  event.detail.shouldSwap = false;
  const notice = document.createElement("p");
  notice.className = "inline-error live-stopped";
  notice.setAttribute("role", "alert");
  notice.textContent = status === 403
    ? "You no longer have access to this; it is no longer refreshed."
    : "This no longer exists; it is no longer refreshed.";
  element.replaceWith(notice);
}

if (window.htmx) {
  htmx.createEventSource = tracked;
  body.addEventListener("htmx:beforeSwap", onBeforeSwap);
  body.addEventListener("htmx:beforeRequest", onBeforeRequest);
  document.addEventListener("visibilitychange", onVisibility);
  if (body.dataset.liveMode === "poll") startPolling();
  else if (baseUrl && document.visibilityState === "hidden") show("paused");
  // After htmx's own first pass over the page (its ready handler was registered first).
  else if (baseUrl) document.addEventListener("DOMContentLoaded", connect);
}
