// The log viewer (UI.md A.3): stick-to-bottom while following, "Following paused — N new
// lines" when scrolled up (End resumes), the DOM bound (far end trimmed, a sentinel put back),
// position gauge, wrap (w), time stamps (t), search match navigation (n / N), context around a
// filtered line, copy without line numbers, and [ / ] between tries. No per-line JS.

const view = document.getElementById("logview");
const scroller = document.getElementById("log-scroll");
const lines = document.getElementById("log-lines");
const BOTTOM_SLACK = 4;
let following = view?.dataset.follow === "true";
let detached = false; // the bottom was trimmed: live lines are not appended any more
let fresh = 0;

function atBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= BOTTOM_SLACK;
}

function toBottom() { scroller.scrollTop = scroller.scrollHeight; }

function setUrl(key, value) {
  const url = new URL(location.href);
  if (value === null) url.searchParams.delete(key); else url.searchParams.set(key, value);
  history.replaceState(history.state, "", url);
}

function showPaused() {
  const chip = document.getElementById("log-paused");
  document.getElementById("log-new").textContent = String(fresh);
  chip.hidden = following || fresh === 0;
}

function resume() {
  if (detached) { location.assign(tailUrl()); return; }
  following = true;
  fresh = 0;
  showPaused();
  toBottom();
}

function tailUrl() {
  const url = new URL(location.href);
  for (const key of ["at", "line", "q", "regex", "level"]) url.searchParams.delete(key);
  url.hash = "";
  return url.toString();
}

function sentinel(direction, offset) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `more more-${direction}`;
  button.textContent = direction === "before" ? "Load earlier lines" : "Load later lines";
  button.setAttribute("hx-get", `${view.dataset.pageUrl}offset=${offset}&dir=${direction}`);
  button.setAttribute("hx-trigger", "intersect once, click");
  button.setAttribute("hx-swap", "outerHTML");
  return button;
}

// Keep at most data-dom-lines lines: drop the far end and put a sentinel in its place.
function trim(keepEnd) {
  const bound = Number(view.dataset.domLines || 5000);
  const all = lines.querySelectorAll(".ll");
  const extra = all.length - bound;
  if (extra <= 0) return;
  const doomed = keepEnd ? Array.from(all).slice(0, extra) : Array.from(all).slice(bound);
  const edge = keepEnd ? all[extra] : doomed[0];
  for (const line of doomed) line.remove();
  if (keepEnd) {
    scroller.querySelector(".more-before")?.remove();
    const button = sentinel("before", edge.dataset.o);
    scroller.insertBefore(button, lines);
    window.htmx?.process(button);
  } else {
    scroller.querySelector(".more-after")?.remove();
    const button = sentinel("after", edge.dataset.o);
    scroller.appendChild(button);
    window.htmx?.process(button);
    detached = true;
  }
}

function onLiveBefore(event) {
  if (event.target !== lines) return;
  const count = (event.detail.data.match(/class="ll"/g) || []).length;
  if (detached) { event.preventDefault(); fresh += count; following = false; showPaused(); return; }
  following = following && atBottom();
  if (!following) fresh += count;
}

function onLiveAfter(event) {
  if (event.target !== lines) return;
  const missing = document.getElementById("log-missing");
  if (missing) missing.hidden = true;
  // The event id is the byte offset after its lines: the log has grown to at least that.
  const size = Math.max(Number(view.dataset.size), Number(event.detail.lastEventId || 0));
  view.dataset.size = String(size);
  // A stream the SSE extension has to re-create (after a refused reconnect) starts where
  // this one is, not where the page began: no line twice.
  const connect = view.getAttribute("sse-connect");
  if (connect && event.detail.lastEventId) {
    view.setAttribute("sse-connect", connect.replace(/offset=\d*/, `offset=${event.detail.lastEventId}`));
  }
  document.getElementById("log-gauge")?.setAttribute("max", String(size));
  if (following) { trim(true); toBottom(); } else showPaused();
  updateGauge();
}

// A page swapped in by a sentinel: the DOM bound is kept by trimming the other end.
function onPage(event) {
  const button = event.detail.requestConfig?.elt;
  if (!button || !button.classList?.contains("more")) return;
  const earlier = button.classList.contains("more-before");
  // The page arrived beside the lines, not inside them: move its lines in.
  const moved = [];
  let node = earlier ? lines.previousElementSibling : lines.nextElementSibling;
  while (node && node.classList.contains("ll")) {
    moved.push(node);
    node = earlier ? node.previousElementSibling : node.nextElementSibling;
  }
  if (earlier) lines.prepend(...moved.reverse()); else lines.append(...moved);
  if (earlier) following = false;
  trim(!earlier);
}

let ticking = false;
function updateGauge() {
  const gauge = document.getElementById("log-gauge");
  const out = document.getElementById("log-pos");
  if (!gauge || !out) return;
  const box = scroller.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + 40, box.top + 6)?.closest(".ll");
  const offset = hit ? hit.dataset.o : gauge.value;
  gauge.value = offset;
  gauge.setAttribute("aria-valuetext", `byte ${offset} of ${view.dataset.size}`);
  out.textContent = `${offset} / ${Math.max(Number(view.dataset.size), Number(offset))} bytes`;
}

function onScroll() {
  if (atBottom() && !detached) { following = view.dataset.follow === "true"; fresh = 0; showPaused(); }
  else if (view.dataset.follow === "true") { following = false; }
  if (!ticking) { ticking = true; requestAnimationFrame(() => { ticking = false; updateGauge(); }); }
}

function jumpTo(offset) {
  const url = new URL(location.href);
  url.searchParams.set("at", String(offset));
  url.searchParams.delete("line");
  url.hash = "";
  location.assign(url.toString());
}

function show(line) {
  for (const old of lines.querySelectorAll(".ll.hit")) old.classList.remove("hit");
  line.classList.add("hit");
  // Only the log scrolls (not the page): the line in the middle of the log's viewport.
  scroller.scrollTop = line.offsetTop - (scroller.clientHeight - line.offsetHeight) / 2;
}

const MATCHES = (view?.dataset.matches || "").split(",").filter(Boolean).map((pair) => pair.split(":").map(Number));
let matchIndex = 0;

function firstShownMatch() {
  const first = Number(view.dataset.highlight || 0);
  const index = MATCHES.findIndex(([number]) => number >= first);
  return index < 0 ? 0 : index;
}

function step(delta) {
  if (!MATCHES.length) return;
  matchIndex = (matchIndex + delta + MATCHES.length) % MATCHES.length;
  const [number, offset] = MATCHES[matchIndex];
  const target = document.getElementById(`L${number}`);
  document.getElementById("match-n").textContent = String(matchIndex + 1);
  if (target) show(target); else jumpTo(offset);
}

const TS = ["local", "utc", "off"];
const TS_WORDS = { local: "local", utc: "UTC", off: "off" };
function cycleTimes() {
  const button = document.getElementById("log-ts");
  const next = TS[(TS.indexOf(button.dataset.ts) + 1) % TS.length];
  view.classList.remove(`ts-${button.dataset.ts}`);
  view.classList.add(`ts-${next}`);
  button.dataset.ts = next;
  button.firstChild.textContent = `Times: ${TS_WORDS[next]} `;
  setUrl("ts", next === "local" ? null : next);
}

function toggleWrap() {
  const on = view.classList.toggle("wrap");
  document.getElementById("log-wrap").setAttribute("aria-pressed", String(on));
  setUrl("wrap", on ? "true" : null);
}

function visibleText() {
  const box = scroller.getBoundingClientRect();
  const shown = Array.from(lines.querySelectorAll(".ll")).filter((line) => {
    const r = line.getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom;
  });
  return shown.map((line) => line.innerText).join("\n");
}

function typing(event) {
  const t = event.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

function otherTry(delta) {
  const chips = Array.from(document.querySelectorAll("#att-strip .chip"));
  const here = chips.findIndex((chip) => chip.getAttribute("aria-current") === "page");
  const next = chips[here + delta];
  if (next) location.assign(next.href);
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typing(event)) return;
  if (event.key === "[" || event.key === "]") { otherTry(event.key === "]" ? 1 : -1); return; }
  if (!view) return;
  const keys = { w: toggleWrap, t: cycleTimes, n: () => step(1), N: () => step(-1) };
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); return; }
  if (event.key === "End" && view.dataset.follow === "true") { event.preventDefault(); resume(); }
}

// A click on a line: in a filtered view, its context; otherwise it becomes the URL's #L<n>
// (the link to that line, in the address bar to copy).
function onContext(event) {
  const line = event.target.closest?.(".ll");
  if (!line || window.getSelection()?.toString()) return;
  if (!line.closest(".filtered")) {
    for (const old of lines.querySelectorAll(".ll.hit")) old.classList.remove("hit");
    line.classList.add("hit");
    history.replaceState(history.state, "", `#L${line.dataset.n}`);
    return;
  }
  const url = view.dataset.pageUrl.replace(/\/page\?.*$/, `/context?offset=${line.dataset.o}`);
  const number = line.dataset.n;
  window.htmx?.ajax("GET", url, { target: line, swap: "outerHTML" }).then(() => {
    dedupe();
    document.getElementById(`L${number}`)?.classList.add("hit");
  });
}

// Lines of a context block that the filtered view already showed: keep one of each.
function dedupe() {
  const shown = new Set(Array.from(lines.querySelectorAll(".ctx .ll"), (l) => l.dataset.n));
  for (const line of lines.querySelectorAll(".ll")) {
    if (!line.closest(".ctx") && shown.has(line.dataset.n)) line.remove();
  }
}

function start() {
  const hash = /^#L(\d+)$/.exec(location.hash);
  const highlight = view.dataset.highlight;
  if (hash) {
    const target = document.getElementById(`L${hash[1]}`);
    if (target) show(target);
    else { const url = new URL(location.href); url.searchParams.set("line", hash[1]); url.searchParams.delete("at"); location.replace(url.toString()); return; }
  } else if (highlight && document.getElementById(`L${highlight}`)) {
    show(document.getElementById(`L${highlight}`));
  } else toBottom();
  matchIndex = firstShownMatch();
  const counter = document.getElementById("match-n");
  if (counter && MATCHES.length) counter.textContent = String(matchIndex + 1);
  updateGauge();
  scroller.addEventListener("scroll", onScroll, { passive: true });
  view.addEventListener("htmx:sseBeforeMessage", onLiveBefore);
  view.addEventListener("htmx:sseMessage", onLiveAfter);
  view.addEventListener("htmx:sseError", () => { document.getElementById("log-notice").hidden = false; });
  view.addEventListener("htmx:sseOpen", () => { document.getElementById("log-notice").hidden = true; });
  view.addEventListener("htmx:sseClose", () => {
    view.dataset.follow = "false";
    // The header (state, end time, outcome) refreshes once, now that the attempt has ended.
    document.body.dispatchEvent(new CustomEvent("brisa-log-ended"));
  });
  document.body.addEventListener("htmx:afterSwap", onPage);
  lines.addEventListener("click", onContext);
  document.getElementById("log-paused").addEventListener("click", resume);
  document.getElementById("log-wrap")?.addEventListener("click", toggleWrap);
  document.getElementById("log-ts")?.addEventListener("click", cycleTimes);
  document.getElementById("match-next")?.addEventListener("click", () => step(1));
  document.getElementById("match-prev")?.addEventListener("click", () => step(-1));
  document.getElementById("log-gauge")?.addEventListener("change", (event) => jumpTo(event.target.value));
  document.getElementById("log-copy")?.addEventListener("click", () => navigator.clipboard?.writeText(visibleText()));
}

if (view && scroller && lines) start();
document.addEventListener("keydown", onKey);
