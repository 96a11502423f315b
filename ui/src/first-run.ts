// The first run: what (the home's folders, with their sizes), where (a USB disk, a folder, a
// destination already set up, or the full form for cloud storage and servers), when (nightly by
// default); then the first backup with its live progress, and the recovery kit, which must be
// confirmed as kept offline.
import { api } from "./api.js";
import type { DestinationForm, JobForm } from "./bindings.js";
import { EMPTY } from "./destination-form.js";
import { ProgressBox, bytes, errorOf, errorText, h, icon } from "./dom.js";
import { subscribe } from "./events.js";
import { pickFolder } from "./folder-picker.js";
import type { Shell } from "./main.js";

type Where = { kind: "new"; name: string; path: string } | { kind: "existing"; name: string };

const WHEN: [string, string, string][] = [
  ["nightly", "daily at 02:30", "Every night at 02:30 (a night missed while the computer slept runs when it wakes)"],
  ["hourly", "hourly", "Every hour"],
  ["weekly", "weekly on sun at 03:00", "Every Sunday at 03:00"],
];

export async function firstRunScreen(shell: Shell): Promise<void> {
  const { main } = shell;
  const info = await api.appInfo();
  const sources = new Set<string>();
  let where: Where | null = null;
  let schedule = WHEN[0][1];
  const steps = ["What", "Where", "When", "First backup", "Recovery kit"];
  const stepper = h("ol", { class: "stepper", "aria-label": "Steps" });
  const body = h("section", { class: "card", id: "first-run" });
  main.append(h("div", { class: "page-head" }, h("div", { style: "flex:1" }, h("h1", {}, "Set up your backup"),
    h("p", {}, "Three choices, then Cairn makes the first backup and keeps making them."))), stepper, body);

  function show(step: number, ...content: (Node | string)[]): void {
    stepper.replaceChildren(...steps.map((s, i) => h("li", { class: i === step ? "current" : i < step ? "done" : "", "aria-current": i === step ? "step" : false }, s)));
    body.replaceChildren(...content);
    body.querySelector<HTMLElement>("input, button.primary")?.focus();
  }
  const actions = (...buttons: HTMLElement[]) => h("div", { class: "form-actions" }, h("span", { class: "spacer" }), ...buttons);

  async function what(): Promise<void> {
    show(0, h("p", {}, h("span", { class: "spinner" }), " Looking at your folders…"));
    const folders = await api.suggestedFolders().catch(() => []);
    if (sources.size === 0) for (const f of folders) if (f.suggested) sources.add(f.path);
    const next = h("button", { class: "btn primary", id: "first-run-next", onclick: () => void whereStep() }, "Next");
    const refresh = () => { next.toggleAttribute("disabled", sources.size === 0); };
    const row = (path: string, label: string, size: string) => {
      const id = `first-run-folder-${label.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      return h("div", { class: "check" }, h("input", { type: "checkbox", id, "data-path": path, checked: sources.has(path),
        onchange: (e: Event) => { if ((e.target as HTMLInputElement).checked) sources.add(path); else sources.delete(path); refresh(); } }),
        h("label", { for: id }, h("strong", {}, label), " ", h("span", { class: "muted" }, size)));
    };
    const list = h("div", { id: "first-run-folders" }, folders.map((f) => row(f.path, f.name, `${f.complete ? "" : "at least "}${bytes(f.bytes)} · ${f.files.toLocaleString()} file${f.files === 1 ? "" : "s"}`)));
    const others = [...sources].filter((p) => !folders.some((f) => f.path === p));
    for (const p of others) list.append(row(p, p, ""));
    refresh();
    show(0, h("h2", {}, "What should be backed up?"),
      h("p", { class: "muted" }, `Folders of your home (${info.home}). The usual ones are checked.`), list,
      h("button", { class: "btn small", type: "button", onclick: async () => {
        const p = await pickFolder("Another folder to back up", info.home);
        if (p) { sources.add(p); await what(); }
      } }, icon("folder"), "Another folder…"),
      actions(next));
  }

  async function whereStep(): Promise<void> {
    show(1, h("p", {}, h("span", { class: "spinner" }), " Looking for disks…"));
    const [disks, existing] = await Promise.all([api.removableDisks().catch(() => []), api.destinations().catch(() => [])]);
    const choices: [string, string, Where][] = [
      ...disks.map((d, i): [string, string, Where] => [`first-run-disk-${i}`, `USB disk ${d.label} · ${bytes(d.freeBytes)} free of ${bytes(d.totalBytes)}`,
        { kind: "new", name: safeName(d.label), path: `${d.mount}/cairn-backup` }]),
      ...existing.filter((d) => !d.readOnly).map((d): [string, string, Where] => [`first-run-dest-${d.name}`, `${d.name} (${d.location})`, { kind: "existing", name: d.name }]),
    ];
    const folderPath = h("input", { type: "text", id: "first-run-path", value: `${info.home}/Backups`, spellcheck: "false",
      oninput: () => { folderRadio.checked = true; } });
    const folderRadio = h("input", { type: "radio", name: "where", id: "first-run-where-folder", checked: choices.length === 0 });
    const radios = choices.map(([id, label], i) => h("div", { class: "check" }, h("input", { type: "radio", name: "where", id, "data-index": String(i), checked: i === 0 }), h("label", { for: id }, label)));
    const error = h("div", { class: "error", id: "first-run-where-error", "aria-live": "polite" });
    show(1, h("h2", {}, "Where should the backups go?"),
      disks.length ? "" : h("p", { class: "muted" }, "No USB disk is plugged in. Plug one in and press Look again, or choose a folder."),
      ...radios,
      h("div", { class: "check" }, folderRadio, h("label", { for: "first-run-where-folder" }, "A folder (another disk of this computer, a network share)")),
      h("div", { style: "display:flex;gap:8px;margin:6px 0 12px 26px" }, folderPath,
        h("button", { class: "btn small", type: "button", onclick: async () => { const p = await pickFolder("Back up into", info.home); if (p) { folderPath.value = p; folderRadio.checked = true; } } }, icon("folder"), "Choose…")),
      h("p", {}, h("button", { class: "btn small", type: "button", id: "first-run-cloud", onclick: () => shell.go("destinations", "") }, "Cloud storage or a server (S3, SFTP, WebDAV, …)"),
        h("span", { class: "muted" }, " opens the full form; come back here with Set up a backup.")),
      error,
      actions(h("button", { class: "btn", onclick: () => void what() }, "Back"),
        h("button", { class: "btn", onclick: () => void whereStep() }, "Look again"),
        h("button", { class: "btn primary", id: "first-run-next", onclick: () => {
          if (folderRadio.checked) {
            const path = folderPath.value.trim();
            if (!path.startsWith("/")) { error.textContent = "Give the folder's full path, starting with /"; folderPath.focus(); return; }
            where = { kind: "new", name: "backups", path };
          } else {
            const picked = radios.findIndex((r) => (r.querySelector("input") as HTMLInputElement).checked);
            where = choices[Math.max(0, picked)][2];
          }
          whenStep();
        } }, "Next")));
  }

  function whenStep(): void {
    const radios = WHEN.map(([key, value, label]) => h("div", { class: "check" },
      h("input", { type: "radio", name: "when", id: `first-run-when-${key}`, checked: schedule === value, onchange: () => { schedule = value; } }),
      h("label", { for: `first-run-when-${key}` }, label)));
    show(2, h("h2", {}, "When should Cairn back up?"), ...radios,
      h("p", { class: "muted" }, "Cairn keeps a backup of each of the last 7 days, 4 weeks and 12 months."),
      actions(h("button", { class: "btn", onclick: () => void whereStep() }, "Back"),
        h("button", { class: "btn primary", id: "first-run-start", onclick: () => void firstBackup() }, "Start the first backup")));
  }

  async function firstBackup(): Promise<void> {
    if (!where) return;
    const status = h("p", { id: "first-run-status" }, h("span", { class: "spinner" }), " Preparing the destination…");
    const slot = h("div");
    show(3, h("h2", {}, "The first backup"), status, slot);
    const fail = (text: string) => {
      status.replaceChildren(h("div", { class: "inline-error", role: "alert", style: "margin:0" }, text));
      body.append(actions(h("button", { class: "btn", onclick: () => whenStep() }, "Back")));
    };
    try {
      let destination = where.name;
      if (where.kind === "new") {
        const names = new Set((await api.destinations()).map((d) => d.name));
        destination = unique(where.name, names);
        const form: DestinationForm = { ...EMPTY, name: destination, kind: "local", backupDir: where.path };
        const saved = await api.createDestination(`form:${Date.now()}`, form);
        if (!saved.destination) { fail(`The destination did not pass its test: ${saved.test.error ?? "see Destinations"}`); return; }
      }
      const jobs = new Set((await api.jobs()).map((j) => j.form.name));
      const name = unique("my-files", jobs);
      const job: JobForm = {
        name, sources: [...sources], excludes: [], destinations: [destination], schedule,
        retention: { last: 0, hourly: 0, daily: 7, weekly: 4, monthly: 12, yearly: 0 }, structure: "incremental",
        preHook: "", postHook: "", notOnBattery: false, notOnMetered: false,
      };
      await api.saveJob(job, true);
      status.textContent = `Backing up ${sources.size} folder${sources.size === 1 ? "" : "s"} to ${destination}…`;
      const box = new ProgressBox("First backup");
      slot.replaceChildren(box.el);
      const off = subscribe((e) => { if (e.type === "progress" && e.progress.op === `job:${name}`) box.update(e.progress); });
      const r = await api.runJob(name).finally(off);
      if (r.status !== "succeeded") {
        fail(`The first backup ${r.status === "failed" ? "failed" : "was incomplete"}: ${r.runs.map((x) => x.error ?? x.status).join("; ")}. The job is saved; see Jobs.`);
        return;
      }
      const run = r.runs[0];
      status.replaceChildren(h("span", { class: "badge ok", id: "first-run-done" }, "Done"),
        ` ${run.files.toLocaleString()} files, ${bytes(run.bytesRead)} backed up to ${destination}.`);
      body.append(actions(h("button", { class: "btn primary", id: "first-run-next", onclick: () => kit() }, "Next")));
    } catch (e) {
      fail(errorText(errorOf(e)));
    }
  }

  function kit(): void {
    const dir = h("input", { type: "text", id: "first-run-kit-dir", value: info.home, spellcheck: "false" });
    const saved = h("div", { "aria-live": "polite" });
    const offline = h("input", { type: "checkbox", id: "first-run-kit-offline", disabled: true,
      onchange: () => finish.toggleAttribute("disabled", !offline.checked) });
    const finish = h("button", { class: "btn primary", id: "first-run-finish", disabled: true, onclick: () => shell.go("overview") }, "Finish");
    show(4, h("h2", {}, "Keep the recovery kit offline"),
      h("p", {}, "If this computer is lost, the recovery kit and your backup disk rebuild everything on a new one. The kit opens every password Cairn keeps: it must not stay on this computer."),
      h("div", { style: "display:flex;gap:8px" }, dir,
        h("button", { class: "btn primary", id: "first-run-kit-save", onclick: async () => {
          try {
            const p = await api.exportRecoveryKit(`${dir.value.replace(/\/+$/, "")}/cairn-recovery-kit.txt`);
            saved.replaceChildren(h("p", {}, `Saved to ${p}. Now copy it to a USB stick or print it, put that in a drawer, and delete the file from this computer.`));
            offline.disabled = false;
          } catch (e) {
            saved.replaceChildren(h("div", { class: "inline-error", style: "margin:0" }, errorText(errorOf(e))));
          }
        } }, "Save the recovery kit")),
      saved,
      h("div", { class: "check" }, offline, h("label", { for: "first-run-kit-offline" }, "I have put the recovery kit somewhere offline, away from this computer")),
      actions(finish));
  }

  await what();
}

/** A destination name from a disk label: letters, digits, '-', '_', '.'. */
function safeName(label: string): string {
  const s = label.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  return s ? `usb-${s}` : "usb";
}

function unique(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}
