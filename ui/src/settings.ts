// Settings: the recovery kit, notifications, the scheduler, about.
import { api } from "./api.js";
import type { DaemonView } from "./bindings.js";
import { ago, errorOf, errorText, h, icon, toast, when } from "./dom.js";
import { pickFolder } from "./folder-picker.js";
import type { Shell } from "./main.js";
import { showScheduler } from "./scheduler.js";

export async function settingsScreen(shell: Shell): Promise<void> {
  const { main } = shell;
  const info = await api.appInfo();
  const kitDir = h("input", { type: "text", id: "kit-dir", value: info.home, spellcheck: "false" });
  const kitName = h("input", { type: "text", id: "kit-name", value: "cairn-recovery-kit.txt", spellcheck: "false" });
  const kitResult = h("div", { role: "status", "aria-live": "polite" });
  const notifList = h("div", { id: "notification-list" });
  const kind = h("select", { id: "notif-kind", "aria-label": "Kind" }, h("option", { value: "webhook" }, "Webhook (HTTP POST)"), h("option", { value: "command" }, "Command (event on stdin)"));
  const target = h("input", { type: "text", id: "notif-target", placeholder: "https://hooks.example.com/cairn", "aria-label": "URL or command", spellcheck: "false" });
  const notifError = h("div", { class: "error", role: "alert", style: "color:var(--bad);font-size:12px" });
  const daemonBox = h("div", { id: "daemon-box" }, h("span", { class: "spinner" }));
  const desktopNow = await api.desktopNotifications().catch(() => "failures");
  const desktopSelect = h("select", { id: "desktop-notifications", onchange: async () => {
    try { await api.setDesktopNotifications(desktopSelect.value); toast("Saved", "ok"); } catch (e) { toast(errorText(errorOf(e)), "bad"); }
  } }, [["failures", "Failed backups, overdue jobs, failing destinations"], ["all", "Those, and every successful backup"], ["off", "Nothing"]]
    .map(([v, l]) => h("option", { value: v, selected: desktopNow === v }, l)));

  main.append(
    h("div", { class: "page-head" }, h("div", { style: "flex:1" }, h("h1", {}, "Settings"), h("p", {}, `Cairn ${info.version} · catalog ${info.catalog}`))),
    h("section", { class: "card", "aria-labelledby": "kit-title" },
      h("div", { class: "form" },
        h("div", { class: "full" }, h("h2", { id: "kit-title", style: "margin:0" }, icon("key"), " Recovery kit"),
          h("p", { class: "muted" }, "The recovery kit opens every password Cairn keeps. With it and a destination that holds a configuration copy, `cairn recover` rebuilds everything on a new computer. Save it somewhere offline (a USB stick in a drawer, a printout).")),
        h("div", { class: "field" }, h("label", { for: "kit-dir" }, "Folder"), h("div", { style: "display:flex;gap:8px" }, kitDir,
          h("button", { class: "btn small", type: "button", onclick: async () => { const p = await pickFolder("Save the kit into", kitDir.value); if (p) kitDir.value = p; } }, icon("folder"), "Choose…"))),
        h("div", { class: "field" }, h("label", { for: "kit-name" }, "File name"), kitName),
        h("div", { class: "full" }, kitResult)),
      h("div", { class: "form-actions" }, h("button", { class: "btn primary", id: "export-kit", onclick: async () => {
        try {
          const p = await api.exportRecoveryKit(`${kitDir.value.replace(/\/+$/, "")}/${kitName.value.trim()}`);
          kitResult.replaceChildren(h("p", { class: "muted" }, `Saved to ${p}. Move it offline and delete it from this computer's disk.`));
          toast("Recovery kit saved", "ok");
        } catch (e) {
          kitResult.replaceChildren(h("div", { class: "inline-error", style: "margin:0" }, errorText(errorOf(e))));
        }
      } }, "Save the recovery kit"))),
    h("section", { class: "card", "aria-labelledby": "notif-title", style: "margin-top:16px" },
      h("div", { class: "form" },
        h("div", { class: "full" }, h("h2", { id: "notif-title", style: "margin:0" }, icon("bell"), " Notifications"),
          h("p", { class: "muted" }, "Failed backups, overdue jobs and failing destinations show on your desktop. Here you can also send every event as JSON to a webhook or a command.")),
        h("div", { class: "field full" }, h("label", { for: "desktop-notifications" }, "On the desktop"), desktopSelect),
        h("div", { class: "full" }, notifList),
        h("div", { class: "field" }, h("label", { for: "notif-kind" }, "Kind"), kind),
        h("div", { class: "field" }, h("label", { for: "notif-target" }, "URL or command"), target, notifError)),
      h("div", { class: "form-actions" },
        h("button", { class: "btn", id: "test-notifications", onclick: async () => {
          try {
            const failures = await api.testNotifications();
            toast(failures.length ? `Test event: ${failures.join("; ")}` : "Test event sent", failures.length ? "bad" : "ok");
          } catch (e) { toast(errorText(errorOf(e)), "bad"); }
        } }, "Send a test event"),
        h("button", { class: "btn primary", id: "add-notification", onclick: async () => {
          notifError.textContent = "";
          try { await api.addNotification(kind.value, target.value); target.value = ""; await loadNotifications(); }
          catch (e) { notifError.textContent = errorText(errorOf(e)); }
        } }, "Add"))),
    h("section", { class: "card", "aria-labelledby": "daemon-title", style: "margin-top:16px" },
      h("div", { class: "form" }, h("div", { class: "full" }, h("h2", { id: "daemon-title", style: "margin:0" }, icon("jobs"), " Scheduler"), daemonBox))));

  async function loadNotifications(): Promise<void> {
    try {
      const ns = await api.notifications();
      notifList.replaceChildren(ns.length
        ? h("table", { class: "plain" }, h("tbody", {}, ns.map((n) => h("tr", {}, h("td", {}, n.kind), h("td", { class: "mono" }, n.target),
            h("td", { style: "text-align:right" }, h("button", { class: "btn small danger", onclick: async () => { await api.removeNotification(n.id); await loadNotifications(); } }, "Remove"))))))
        : h("p", { class: "muted" }, "No notification yet."));
    } catch (e) {
      notifList.replaceChildren(h("div", { class: "inline-error" }, errorText(errorOf(e))));
    }
  }

  async function loadDaemon(given?: DaemonView): Promise<void> {
    try {
      const d = given ?? await api.daemon();
      showScheduler(d);
      const act = (f: () => Promise<DaemonView>) => async () => {
        try { await loadDaemon(await f()); } catch (e) { toast(errorText(errorOf(e)), "bad"); }
      };
      const how = d.manager === "systemd" ? "the systemd user service cairn-daemon" : "Cairn, when you log in";
      daemonBox.replaceChildren(
        h("p", {}, h("span", { class: `badge ${d.running ? "ok" : "warn"}`, id: "settings-scheduler-state" }, d.running ? "Running" : "Not running"),
          d.lastTick ? ` last checked ${ago(d.lastTick)}` : ""),
        d.nextJob && d.nextDue ? h("p", {}, `Next: ${d.nextJob} at ${when(d.nextDue)}`) : h("p", { class: "muted" }, "No scheduled job."),
        d.pausedUntil ? h("p", {}, `Paused until ${when(d.pausedUntil)}. `) : "",
        h("label", { class: "check" }, h("input", { type: "checkbox", id: "background-allowed", checked: d.background === "allowed",
          onchange: (e: Event) => void act(() => api.allowBackground((e.target as HTMLInputElement).checked))() }),
          ` Run scheduled backups in the background (started by ${how})`),
        d.problem ? h("div", { class: "inline-error", style: "margin:8px 0 0" }, d.problem) : "",
        h("div", { class: "form-actions", style: "padding-left:0" },
          d.background === "allowed" ? h("button", { class: "btn", id: "scheduler-restart", onclick: act(() => api.restartScheduler()) }, icon("play"), d.running ? "Restart" : "Start") : "",
          d.pausedUntil ? h("button", { class: "btn", id: "resume-backups", onclick: act(() => api.resumeBackups()) }, "Resume backups")
            : [h("button", { class: "btn", id: "pause-hour", onclick: act(() => api.pauseBackups(60)) }, "Pause for 1 hour"),
               h("button", { class: "btn", id: "pause-tomorrow", onclick: act(() => api.pauseBackups(0)) }, "Pause until tomorrow")]));
    } catch (e) {
      daemonBox.replaceChildren(h("div", { class: "inline-error" }, errorText(errorOf(e))));
    }
  }

  await Promise.all([loadNotifications(), loadDaemon()]);
}
