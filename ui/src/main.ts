// The window: a sidebar of sections and the current screen.
import { api, onEvent, onNavigate } from "./api.js";
import type { DaemonView } from "./bindings.js";
import { errorOf, errorText, h, icon, modal, toast } from "./dom.js";
import { destinationsScreen } from "./destinations.js";
import { firstRunScreen } from "./first-run.js";
import { jobsScreen } from "./jobs.js";
import { overviewScreen } from "./overview.js";
import { restoreScreen } from "./restore.js";
import { showScheduler } from "./scheduler.js";
import { dispatch } from "./events.js";
import { openScreen } from "./screens.js";
import { settingsScreen } from "./settings.js";

/** What a screen needs from the shell. */
export interface Shell {
  main: HTMLElement;
  go: (section: Section, arg?: string) => void;
}

export type Section = "overview" | "setup" | "destinations" | "jobs" | "restore" | "settings";

const SECTIONS: [Section, string, Parameters<typeof icon>[0]][] = [
  ["overview", "Overview", "home"],
  ["destinations", "Destinations", "destinations"],
  ["jobs", "Jobs", "jobs"],
  ["restore", "Restore", "restore"],
  ["settings", "Settings", "settings"],
];

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
let current: Section = "overview";

const shell: Shell = { main, go };

function go(section: Section, arg?: string): void {
  current = section;
  for (const b of nav.querySelectorAll("button")) {
    if (b.dataset.section === section) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  main.replaceChildren();
  main.scrollTop = 0;
  const screens = { overview: overviewScreen, setup: firstRunScreen, destinations: destinationsScreen, jobs: jobsScreen, restore: restoreScreen, settings: settingsScreen };
  void screens[section](shell, arg);
  main.focus({ preventScroll: true });
}

for (const [section, label, ic] of SECTIONS) {
  nav.append(h("li", {}, h("button", { "data-section": section, id: `nav-${section}`, onclick: () => go(section) }, icon(ic), label)));
}
// Alt+1..5 switch sections from anywhere.
document.addEventListener("keydown", (e) => {
  if (e.altKey && e.key >= "1" && e.key <= String(SECTIONS.length)) {
    e.preventDefault();
    go(SECTIONS[Number(e.key) - 1][0]);
  }
});

onEvent(dispatch);
onNavigate((screen) => openScreen(shell, screen));

async function daemonStatus(): Promise<DaemonView | null> {
  try {
    const d = await api.daemon();
    showScheduler(d);
    return d;
  } catch {
    document.getElementById("daemon-status")!.textContent = "";
    return null;
  }
}

/** Asked once, on the first start: may backups run in the background? */
function askBackground(): void {
  const answer = async (allowed: boolean, close: () => void) => {
    close();
    try {
      const d = await api.allowBackground(allowed);
      showScheduler(d);
      // A scheduler just started shows as running from its first check, a moment later.
      if (allowed && !d.running) setTimeout(() => void daemonStatus(), 1500);
      if (d.problem) toast(`The scheduler did not start: ${d.problem}`, "bad");
      else toast(allowed ? "Backups will run in the background" : "Backups run only when you press Run", "ok");
    } catch (e) {
      toast(errorText(errorOf(e)), "bad");
    }
  };
  modal("Back up in the background?", [
    h("p", {}, "Cairn can run your scheduled backups by itself, even when this window is closed: a small scheduler starts with your session."),
    h("p", { class: "muted" }, "You can change this later in Settings."),
  ], (close) => [
    h("button", { class: "btn", id: "background-no", onclick: () => void answer(false, close) }, "Not now"),
    h("button", { class: "btn primary", id: "background-yes", onclick: () => void answer(true, close) }, "Allow background backups"),
  ]);
}

async function start(): Promise<void> {
  const info = await api.appInfo().catch(() => null);
  if (info?.startScreen) openScreen(shell, info.startScreen);
  else go(current);
  const d = await daemonStatus();
  if (d?.background === "unasked") askBackground();
  setInterval(() => void daemonStatus(), 30_000);
}

void start();
