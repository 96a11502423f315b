// The scheduler's state in the sidebar, kept current by the shell and by Settings.
import { api } from "./api.js";
import type { DaemonView } from "./bindings.js";
import { ago, errorOf, errorText, h, icon, toast, when } from "./dom.js";

/** The scheduler in the sidebar: its real state, with Start when it should run and does not. */
export function showScheduler(d: DaemonView): void {
  const box = document.getElementById("daemon-status")!;
  const text = d.pausedUntil ? `Backups paused until ${when(d.pausedUntil)}`
    : d.running ? `Scheduler running${d.lastTick ? `, checked ${ago(d.lastTick)}` : ""}`
    : d.background === "declined" ? "Background backups are off" : "Scheduler not running";
  box.replaceChildren(h("span", { class: `dot${d.running ? " on" : ""}`, "aria-hidden": "true" }), h("span", { id: "scheduler-state" }, text));
  if (!d.running && d.background === "allowed") {
    box.append(h("div", {}, h("button", { class: "btn small", id: "scheduler-start", onclick: async () => {
      try { showScheduler(await api.restartScheduler()); } catch (e) { toast(errorText(errorOf(e)), "bad"); }
    } }, icon("play"), "Start")));
  }
  if (d.problem) box.append(h("div", { class: "inline-error", style: "margin:6px 0 0" }, d.problem));
}

