// Brisa's page module: theme toggle, the display zone on first visit, global shortcuts.
// No inline scripts anywhere (strict CSP); page areas add their own modules.

const root = document.documentElement;

// First visit: no zone chosen yet → take the browser's and render again, once.
function adoptBrowserZone() {
  if (root.dataset.tzChosen === "yes") return;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone || sessionStorage.getItem("brisa-tz-tried") === zone) return;
  sessionStorage.setItem("brisa-tz-tried", zone);
  document.cookie = `brisa_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; samesite=lax`;
  if (zone !== root.dataset.tz) location.reload();
}

const THEMES = ["system", "light", "dark"];

function toggleTheme() {
  const next = THEMES[(THEMES.indexOf(root.dataset.theme) + 1) % THEMES.length];
  root.dataset.theme = next;
  document.cookie = `brisa_theme=${next}; path=/; max-age=31536000; samesite=lax`;
  const button = document.getElementById("theme-toggle");
  if (button) {
    button.textContent = `Theme: ${next}`;
    button.setAttribute("aria-label", `Switch theme (now ${next})`);
  }
}

function typing(event) {
  const t = event.target;
  return t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

const GO = { o: "/", d: "/dags", r: "/runs", i: "/task-instances", e: "/import-errors" };
let pendingG = 0;

function onKey(event) {
  if (event.defaultPrevented || event.altKey || typing(event)) return;
  if ((event.key === "k" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && !event.ctrlKey && !event.metaKey)) {
    const jump = document.getElementById("jump");
    if (jump) { event.preventDefault(); jump.focus(); }
    return;
  }
  if (event.ctrlKey || event.metaKey) return;
  if (event.key === "?") {
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
    return;
  }
  if (pendingG && Date.now() - pendingG < 1500 && GO[event.key]) {
    pendingG = 0;
    location.assign(GO[event.key]);
    return;
  }
  pendingG = event.key === "g" ? Date.now() : 0;
}

adoptBrowserZone();
document.getElementById("theme-toggle")?.addEventListener("click", toggleTheme);
document.addEventListener("keydown", onKey);

// A fragment that fails answers in its own place, with a retry and the request id (UI.md
// A.2.14), whatever answered: Brisa's own error, a proxy's 502 or a dropped connection. The rest
// of the page stays as it was. Only reads (GET) are retried; a refused write answers where
// its form says (actions.js, trigger.js).
function isLive(element) {
  return (element?.getAttribute?.("hx-trigger") || "").includes("brisa:tick");
}

function showFailure(detail, message) {
  const config = detail.requestConfig || {};
  const target = detail.target;
  if (!target || !target.isConnected || (config.verb || "get") !== "get") return false;
  const box = document.createElement("div");
  box.className = "inline-error fragment-failed";
  box.setAttribute("role", "alert");
  const text = document.createElement("p");
  text.textContent = message;
  const id = detail.xhr?.getResponseHeader?.("X-Request-Id");
  if (id) {
    const code = document.createElement("code");
    code.textContent = id;
    const muted = document.createElement("span");
    muted.className = "muted request-id";
    muted.append(" (request id ", code, ")");
    text.append(muted);
  }
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "retry";
  retry.textContent = "Retry";
  const source = detail.elt && detail.elt.isConnected ? detail.elt : target;
  retry.addEventListener("click", () => htmx.ajax("GET", config.path, { source, target }));
  box.append(text, retry);
  target.replaceChildren(box);
  return true;
}

document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status < 500) return;
  // Brisa's own error fragment says what failed and has its retry: shown as it came.
  const own = event.detail.xhr.responseText.includes('class="inline-error"');
  if (own && !event.detail.elt?.getAttribute?.("hx-select")) return;
  if (showFailure(event.detail, `This part of the page failed to load (HTTP ${status}); the rest works.`)) {
    event.detail.shouldSwap = false;
  }
});

document.addEventListener("htmx:sendError", (event) => {
  // A live refresh that cannot reach the server keeps what it shows: the stream reconnects and
  // re-fetches it (live.js).
  if (isLive(event.detail.elt)) return;
  showFailure(event.detail, "This part of the page could not reach the server; the rest works.");
});
