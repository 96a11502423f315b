// Settings: the recovery kit, notifications, the scheduler, about.
import { api } from "./api.js";
import { ago, errorOf, errorText, h, icon, toast, when } from "./dom.js";
import { pickFolder } from "./folder-picker.js";
import type { Shell } from "./main.js";

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
          h("p", { class: "muted" }, "After each job run and when a destination fails its daily test, Cairn sends the event as JSON.")),
        h("div", { class: "full" }, notifList),
        h("div", { class: "field" }, h("label", { for: "notif-kind" }, "Kind"), kind),
        h("div", { class: "field" }, h("label", { for: "notif-target" }, "URL or command"), target, notifError)),
      h("div", { class: "form-actions" },
        h("button", { class: "btn", onclick: async () => {
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

  async function loadDaemon(): Promise<void> {
    try {
      const d = await api.daemon();
      daemonBox.replaceChildren(
        h("p", {}, h("span", { class: `badge ${d.running ? "ok" : "warn"}` }, d.running ? "Running" : "Not running"),
          d.lastTick ? ` last checked ${ago(d.lastTick)}` : ""),
        d.nextJob && d.nextDue ? h("p", {}, `Next: ${d.nextJob} at ${when(d.nextDue)}`) : h("p", { class: "muted" }, "No scheduled job."),
        d.running ? "" : h("p", { class: "muted" }, "Scheduled jobs run while the scheduler runs. Start it once for your account:", h("div", { class: "resolved" }, d.howToStart)));
    } catch (e) {
      daemonBox.replaceChildren(h("div", { class: "inline-error" }, errorText(errorOf(e))));
    }
  }

  await Promise.all([loadNotifications(), loadDaemon()]);
}
