// Jobs: the list with last results, Run now with live progress and Cancel, history, the form.
import { api } from "./api.js";
import type { DestinationView, JobForm, JobView, RunView } from "./bindings.js";
import { ProgressBox, ago, bytes, confirmAction, errorOf, errorText, h, icon, modal, toast, when } from "./dom.js";
import { subscribe } from "./events.js";
import { pickFolder } from "./folder-picker.js";
import type { Shell } from "./main.js";

/** Progress of runs started from this window, kept while the user switches screens. */
const running = new Map<string, ProgressBox>();
/** The outcome of the last run started from this window, per job. */
const results = new Map<string, HTMLElement>();

export async function jobsScreen(shell: Shell, edit?: string): Promise<void> {
  if (edit !== undefined) {
    await jobForm(shell, edit === "" ? null : edit);
    return;
  }
  const { main } = shell;
  const list = h("div", { class: "list", id: "job-list", "aria-busy": "true" });
  main.append(
    h("div", { class: "page-head" },
      h("div", { style: "flex:1" }, h("h1", {}, "Jobs"), h("p", {}, "What is backed up, where to, and when.")),
      h("button", { class: "btn", onclick: () => void history(null) }, "All history"),
      h("button", { class: "btn primary", id: "add-job", onclick: () => shell.go("jobs", "") }, icon("plus"), "New job")),
    list);
  let jobs: JobView[];
  let destinations: DestinationView[];
  try {
    [jobs, destinations] = await Promise.all([api.jobs(), api.destinations()]);
  } catch (e) {
    list.replaceChildren(h("div", { class: "inline-error", role: "alert" }, errorText(errorOf(e))));
    return;
  }
  list.removeAttribute("aria-busy");
  if (jobs.length === 0) {
    const noDest = destinations.length === 0;
    list.append(h("div", { class: "card empty", id: "jobs-empty" }, icon("jobs"),
      h("h2", {}, "No backup job yet"),
      h("p", {}, noDest ? "First add a destination, then a job that backs up your folders to it." : "Choose folders to back up, where to, and how often."),
      h("button", { class: "btn primary", onclick: () => shell.go(noDest ? "destinations" : "jobs", "") }, icon("plus"), noDest ? "Add a destination" : "Create a job")));
    return;
  }
  for (const j of jobs) list.append(jobRow(shell, j));
}

function statusBadge(status: string): HTMLElement {
  const cls = status === "succeeded" ? "ok" : status === "failed" ? "bad" : status === "skipped" ? "muted" : "warn";
  return h("span", { class: `badge ${cls}` }, status);
}

function jobRow(shell: Shell, j: JobView): HTMLElement {
  const f = j.form;
  const name = f.name;
  const op = `job:${name}`;
  const progressSlot = h("div", { "data-testid": "job-progress" });
  const resultSlot = h("div");
  const runBtn = h("button", { class: "btn small primary", "data-action": "run", onclick: () => void run() }, icon("play"), "Run now");
  const cancelBtn = h("button", { class: "btn small danger", "data-action": "cancel", hidden: true, onclick: () => void api.cancel(op) }, icon("stop"), "Cancel");
  const el = h("article", { class: "card", "data-job": name, "aria-label": `Job ${name}` },
    h("div", { class: "item" },
      h("span", { class: "type-icon", "aria-hidden": "true" }, icon("jobs")),
      h("div", {},
        h("div", { class: "title" }, h("span", {}, name), !j.enabled ? h("span", { class: "badge muted" }, "Paused") : null,
          ...j.lastRuns.map((r) => h("span", { title: r.error ?? "" }, statusBadge(r.status)))),
        h("div", { class: "sub" }, `${f.sources.join(", ")} → ${f.destinations.join(", ")}`),
        h("div", { class: "meta" },
          h("span", {}, f.schedule ? `Runs ${f.schedule}` : "Runs when you ask"),
          j.nextDue && j.enabled && f.schedule ? h("span", {}, `next ${when(j.nextDue)}`) : null,
          j.lastRun ? h("span", {}, `last ${ago(j.lastRun)}`) : h("span", {}, "never ran"),
          retentionText(f))),
      h("div", { class: "row-actions" }, runBtn, cancelBtn,
        h("button", { class: "btn small", "data-action": "history", onclick: () => void history(name) }, "History"),
        h("button", { class: "btn small", "data-action": "edit", onclick: () => shell.go("jobs", name) }, icon("edit"), "Edit"),
        h("button", { class: "btn small", onclick: async () => {
          try { await api.setJobEnabled(name, !j.enabled); shell.go("jobs"); } catch (e) { toast(errorText(errorOf(e)), "bad"); }
        } }, j.enabled ? "Pause schedule" : "Resume schedule"),
        h("button", { class: "btn small danger", "data-action": "delete", onclick: async () => {
          if (!(await confirmAction(`Delete job ${name}?`, "Its schedule and history go. Backups it made stay in their destinations.", "Delete"))) return;
          try { await api.deleteJob(name); toast(`Job ${name} deleted`, "ok"); shell.go("jobs"); } catch (e) { toast(errorText(errorOf(e)), "bad"); }
        } }, icon("trash"), "Delete"))),
    progressSlot, resultSlot);

  function attach(box: ProgressBox): () => void {
    progressSlot.replaceChildren(box.el);
    runBtn.disabled = true;
    cancelBtn.hidden = false;
    return subscribe((e) => { if (e.type === "progress" && e.progress.op === op) box.update(e.progress); });
  }

  async function run(): Promise<void> {
    const box = new ProgressBox(`Backing up ${name}`);
    running.set(name, box);
    const off = attach(box);
    resultSlot.replaceChildren();
    try {
      const r = await api.runJob(name);
      const failed = r.runs.filter((x) => x.status === "failed");
      results.set(name, h("div", { class: "progress", "data-testid": "job-result", "data-status": r.status },
        h("div", {}, statusBadge(r.status), " ", r.runs.map((x) => `${x.destination}: ${x.status}${x.status === "succeeded" ? ` (${x.files.toLocaleString()} files, ${bytes(x.bytesAdded)} added)` : ""}`).join("; ")),
        failed.length ? h("div", { class: "inline-error", style: "margin:4px 0 0" }, failed.map((x) => `${x.destination}: ${x.error ?? "failed"}`).join("; ")) : null));
      toast(`Job ${name}: ${r.status}`, r.status === "succeeded" ? "ok" : "bad");
    } catch (e) {
      results.set(name, h("div", { class: "inline-error", role: "alert" }, errorText(errorOf(e))));
    } finally {
      off();
      running.delete(name);
    }
    // Show the job as it is now (last run, next run), with this run's outcome.
    if (document.body.contains(el)) shell.go("jobs");
  }
  const last = results.get(name);
  if (last) resultSlot.replaceChildren(last);

  // A run started before the user left this screen shows its progress again.
  const box = running.get(name);
  if (box) {
    const off = attach(box);
    const poll = setInterval(() => {
      const shown = document.body.contains(el);
      if (!running.has(name) || !shown) {
        clearInterval(poll);
        off();
        if (shown) shell.go("jobs");
      }
    }, 500);
  }
  return el;
}

function retentionText(f: JobForm): string {
  const r = f.retention;
  const parts = [
    r.last && `last ${r.last}`, r.hourly && `${r.hourly} hourly`, r.daily && `${r.daily} daily`,
    r.weekly && `${r.weekly} weekly`, r.monthly && `${r.monthly} monthly`, r.yearly && `${r.yearly} yearly`,
  ].filter(Boolean);
  return parts.length ? `keeps ${parts.join(", ")}` : "keeps everything";
}

async function history(name: string | null): Promise<void> {
  const body = h("div", {}, h("span", { class: "spinner" }));
  modal(name ? `History of ${name}` : "History", [body], (close) => [h("button", { class: "btn primary", onclick: close }, "Close")], true);
  try {
    const runs: RunView[] = await api.jobHistory(name, 200);
    if (!runs.length) { body.replaceChildren(h("p", { class: "muted" }, "No runs yet.")); return; }
    body.replaceChildren(h("table", { class: "plain", "data-testid": "history" },
      h("thead", {}, h("tr", {}, ["When", "Job", "Destination", "Status", "Files", "Added", "Details"].map((t) => h("th", {}, t)))),
      h("tbody", {}, runs.map((r) => h("tr", {},
        h("td", {}, when(r.started)), h("td", {}, r.job), h("td", {}, r.destination), h("td", {}, statusBadge(r.status)),
        h("td", {}, r.files.toLocaleString()), h("td", {}, bytes(r.bytesAdded)),
        h("td", { class: "mono" }, r.error ?? (r.snapshot ? r.snapshot.slice(0, 8) : "")))))));
  } catch (e) {
    body.replaceChildren(h("div", { class: "inline-error" }, errorText(errorOf(e))));
  }
}

const SCHEDULES: [string, string][] = [
  ["", "Only when I press Run"], ["hourly", "Every hour"], ["daily at 02:30", "Every night at 02:30"],
  ["weekly on sun at 03:00", "Every Sunday at 03:00"],
];

async function jobForm(shell: Shell, editing: string | null): Promise<void> {
  const { main } = shell;
  const destinations = await api.destinations();
  let form: JobForm = {
    name: "", sources: [], excludes: [], destinations: [], schedule: "daily at 02:30",
    retention: { last: 0, hourly: 0, daily: 7, weekly: 4, monthly: 12, yearly: 0 }, structure: "incremental", preHook: "", postHook: "",
    notOnBattery: false, notOnMetered: false,
  };
  if (editing) {
    const j = (await api.jobs()).find((x) => x.form.name === editing);
    if (j) form = { ...j.form };
  }
  const info = await api.appInfo();
  const err = (id: string) => h("div", { class: "error", id: `j-${id}-error`, "aria-live": "polite" });
  const errs = { name: err("name"), sources: err("sources"), destinations: err("destinations"), schedule: err("schedule"), form: h("div") };
  const chips = h("div", { class: "chips", id: "job-sources" });
  const renderChips = () => chips.replaceChildren(...form.sources.map((s) => h("span", { class: "chip" }, s,
    h("button", { type: "button", "aria-label": `Remove ${s}`, onclick: () => { form.sources = form.sources.filter((x) => x !== s); renderChips(); } }, "×"))));
  renderChips();
  const sourceInput = h("input", { type: "text", id: "j-source", placeholder: "/home/me/Documents", spellcheck: "false",
    onkeydown: (e: KeyboardEvent) => { if (e.key === "Enter") { e.preventDefault(); addSource(sourceInput.value); } } });
  const addSource = (p: string) => {
    const v = p.trim();
    if (v && !form.sources.includes(v)) form.sources.push(v);
    sourceInput.value = "";
    renderChips();
  };
  const nextRun = h("div", { class: "help", id: "j-next-run" });
  const scheduleInput = h("input", { type: "text", id: "j-schedule", value: form.schedule, placeholder: "daily at 02:30, hourly, or a cron expression",
    oninput: () => { form.schedule = scheduleInput.value; void checkSchedule(); } });
  async function checkSchedule(): Promise<void> {
    const c = await api.checkSchedule(form.schedule);
    errs.schedule.textContent = c.ok ? "" : c.error ?? "";
    scheduleInput.setAttribute("aria-invalid", String(!c.ok));
    nextRun.textContent = c.next ? `Next run: ${when(c.next)}` : c.ok ? "Runs only when you press Run now." : "";
  }
  const num = (k: keyof JobForm["retention"], label: string) => {
    const id = `j-keep-${k}`;
    const el = h("input", { type: "number", id, min: "0", value: String(form.retention[k]), oninput: () => { form.retention[k] = Math.max(0, Number(el.value) || 0); } });
    return h("div", { class: "field" }, h("label", { for: id }, label), el);
  };
  const destBoxes = destinations.length
    ? destinations.map((d) => {
        const id = `j-dest-${d.name}`;
        const cb = h("input", { type: "checkbox", id, "data-destination": d.name, checked: form.destinations.includes(d.name), disabled: d.readOnly,
          onchange: () => { form.destinations = cb.checked ? [...form.destinations, d.name] : form.destinations.filter((x) => x !== d.name); } });
        return h("div", { class: "check" }, cb, h("label", { for: id }, `${d.name}${d.readOnly ? " (read-only)" : ""}`));
      })
    : [h("p", { class: "muted" }, "No destination yet: add one first.")];
  const nameInput = h("input", { type: "text", id: "j-name", value: form.name, disabled: Boolean(editing), oninput: () => { form.name = nameInput.value; } });
  const excludes = h("textarea", { id: "j-excludes", rows: "3", spellcheck: "false", oninput: () => { form.excludes = excludes.value.split("\n"); } });
  excludes.value = form.excludes.join("\n");
  const structure = h("select", { id: "j-structure", onchange: () => { form.structure = structure.value; } },
    [["incremental", "Incremental snapshots (deduplicated, encrypted)"], ["archived", "A .tar archive per run"], ["compressed", "A .tar.gz archive per run"]]
      .map(([v, l]) => h("option", { value: v, selected: form.structure === v }, l)));
  const preHook = h("input", { type: "text", id: "j-pre", value: form.preHook, oninput: () => { form.preHook = preHook.value; } });
  const postHook = h("input", { type: "text", id: "j-post", value: form.postHook, oninput: () => { form.postHook = postHook.value; } });

  main.append(
    h("div", { class: "page-head" }, h("div", { style: "flex:1" }, h("h1", {}, editing ? `Edit ${editing}` : "New backup job")),
      h("button", { class: "btn", onclick: () => shell.go("jobs") }, "Back to jobs")),
    h("section", { class: "card", "aria-label": "Job settings" },
      h("div", { class: "form" },
        h("div", { class: "field" }, h("label", { for: "j-name" }, "Name"), nameInput, errs.name),
        h("div", { class: "field" }, h("label", { for: "j-structure" }, "Kind of backup"), structure),
        h("div", { class: "field full" }, h("label", { for: "j-source" }, "Folders to back up"), chips,
          h("div", { style: "display:flex;gap:8px" }, sourceInput,
            h("button", { class: "btn", type: "button", onclick: () => addSource(sourceInput.value) }, "Add"),
            h("button", { class: "btn", type: "button", id: "j-pick-source", onclick: async () => { const p = await pickFolder("Choose a folder to back up", info.home); if (p) addSource(p); } }, icon("folder"), "Choose…")),
          errs.sources),
        h("div", { class: "field full" }, h("label", { for: "j-excludes" }, "Leave out (one pattern per line)"), excludes,
          h("div", { class: "help" }, "For example *.tmp, node_modules, /home/me/Downloads")),
        h("div", { class: "field full" }, h("span", { class: "label" }, "Destinations"), h("div", { role: "group", "aria-label": "Destinations" }, destBoxes), errs.destinations),
        h("div", { class: "field full" }, h("label", { for: "j-schedule" }, "When"),
          h("div", { class: "chips" }, SCHEDULES.map(([v, l]) => h("button", { class: "btn small", type: "button", onclick: () => { scheduleInput.value = v; form.schedule = v; void checkSchedule(); } }, l))),
          scheduleInput, nextRun, errs.schedule,
          h("div", { class: "check" }, h("input", { type: "checkbox", id: "j-not-on-battery", checked: form.notOnBattery,
            onchange: (e: Event) => { form.notOnBattery = (e.target as HTMLInputElement).checked; } }),
            h("label", { for: "j-not-on-battery" }, "Wait for mains power (not on battery)")),
          h("div", { class: "check" }, h("input", { type: "checkbox", id: "j-not-on-metered", checked: form.notOnMetered,
            onchange: (e: Event) => { form.notOnMetered = (e.target as HTMLInputElement).checked; } }),
            h("label", { for: "j-not-on-metered" }, "Wait for an unmetered network (not on a phone's hotspot)"))),
        h("div", { class: "field full" }, h("span", { class: "label" }, "Keep after each run (0: no rule; no rule at all keeps everything)"),
          h("div", { style: "display:grid;grid-template-columns:repeat(6,1fr);gap:8px" },
            num("last", "Last"), num("hourly", "Hourly"), num("daily", "Daily"), num("weekly", "Weekly"), num("monthly", "Monthly"), num("yearly", "Yearly"))),
        h("div", { class: "field" }, h("label", { for: "j-pre" }, "Before the backup, run"), preHook, h("div", { class: "help" }, "A shell command, e.g. a database dump")),
        h("div", { class: "field" }, h("label", { for: "j-post" }, "After the backup, run"), postHook)),
      errs.form,
      h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
        h("button", { class: "btn", onclick: () => shell.go("jobs") }, "Cancel"),
        h("button", { class: "btn primary", id: "save-job", onclick: () => void save() }, editing ? "Save changes" : "Create job"))));
  void checkSchedule();

  async function save(): Promise<void> {
    for (const e of Object.values(errs)) if (e !== errs.schedule) e.textContent = "";
    errs.form.replaceChildren();
    if (sourceInput.value.trim()) addSource(sourceInput.value);
    try {
      await api.saveJob(form, !editing);
      toast(`Job ${form.name} saved`, "ok");
      shell.go("jobs");
    } catch (e) {
      const er = errorOf(e);
      const slot = er.field ? (errs as Record<string, HTMLElement>)[er.field] : undefined;
      if (slot) slot.textContent = errorText(er);
      else errs.form.replaceChildren(h("div", { class: "inline-error", role: "alert" }, errorText(er)));
    }
  }
}
