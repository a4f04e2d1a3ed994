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
