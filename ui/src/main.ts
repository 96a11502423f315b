// The window: a sidebar of sections and the current screen.
import { api, onEvent } from "./api.js";
import { ago, h, icon } from "./dom.js";
import { destinationsScreen } from "./destinations.js";
import { jobsScreen } from "./jobs.js";
import { restoreScreen } from "./restore.js";
import { dispatch } from "./events.js";
import { settingsScreen } from "./settings.js";

/** What a screen needs from the shell. */
export interface Shell {
  main: HTMLElement;
  go: (section: Section, arg?: string) => void;
}

export type Section = "destinations" | "jobs" | "restore" | "settings";

const SECTIONS: [Section, string, Parameters<typeof icon>[0]][] = [
  ["destinations", "Destinations", "destinations"],
  ["jobs", "Jobs", "jobs"],
  ["restore", "Restore", "restore"],
  ["settings", "Settings", "settings"],
];

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
let current: Section = "destinations";

const shell: Shell = { main, go };

function go(section: Section, arg?: string): void {
  current = section;
  for (const b of nav.querySelectorAll("button")) {
    if (b.dataset.section === section) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  main.replaceChildren();
  main.scrollTop = 0;
  const screens = { destinations: destinationsScreen, jobs: jobsScreen, restore: restoreScreen, settings: settingsScreen };
  void screens[section](shell, arg);
  main.focus({ preventScroll: true });
}

for (const [section, label, ic] of SECTIONS) {
  nav.append(h("li", {}, h("button", { "data-section": section, id: `nav-${section}`, onclick: () => go(section) }, icon(ic), label)));
}
// Alt+1..4 switch sections from anywhere.
document.addEventListener("keydown", (e) => {
  if (e.altKey && e.key >= "1" && e.key <= "4") {
    e.preventDefault();
    go(SECTIONS[Number(e.key) - 1][0]);
  }
});

onEvent(dispatch);

async function daemonStatus(): Promise<void> {
  const box = document.getElementById("daemon-status")!;
  try {
    const d = await api.daemon();
    box.replaceChildren(
      h("span", { class: `dot${d.running ? " on" : ""}`, "aria-hidden": "true" }),
      d.running ? `Scheduler running${d.lastTick ? `, checked ${ago(d.lastTick)}` : ""}` : "Scheduler not running",
    );
  } catch {
    box.textContent = "";
  }
}

go(current);
void daemonStatus();
setInterval(() => void daemonStatus(), 30_000);
