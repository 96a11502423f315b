// The overview, the window's home: warnings first, then each job (last run, next run, state,
// size) and each destination (health, free space, last test).
import { api } from "./api.js";
import type { DestinationView, JobView, OverviewView, WarningView } from "./bindings.js";
import { ago, bytes, errorOf, errorText, h, icon, when } from "./dom.js";
import type { Shell } from "./main.js";
import { openScreen } from "./screens.js";

export async function overviewScreen(shell: Shell): Promise<void> {
  const { main } = shell;
  let o: OverviewView;
  try {
    o = await api.overview();
  } catch (e) {
    main.append(h("div", { class: "inline-error" }, errorText(errorOf(e))));
    return;
  }
  main.append(h("div", { class: "page-head" }, h("div", { style: "flex:1" }, h("h1", {}, "Overview"),
    h("p", {}, "How your backups are doing."))));
  if (o.jobs.length === 0 && o.destinations.length === 0) {
    main.append(h("section", { class: "card empty", id: "overview-empty" },
      h("h2", {}, "Nothing is backed up yet"),
      h("p", { class: "muted" }, "Choose what to back up, where, and when: three steps."),
      h("button", { class: "btn primary", id: "start-first-run", onclick: () => shell.go("setup") }, icon("plus"), "Set up a backup")));
    return;
  }
  main.append(o.warnings.length
    ? h("ul", { class: "warnings", id: "warnings", "aria-label": "Needs attention" }, o.warnings.map((w) => warningRow(shell, w)))
    : h("div", { class: "all-good", id: "all-good", role: "status" }, icon("ok"), "Your backups are fine"));
  // Kept current while it is shown: the scheduler runs jobs behind the window's back.
  const shown = main.firstElementChild;
  const timer = setInterval(() => {
    if (main.firstElementChild !== shown || !document.body.contains(shown)) clearInterval(timer);
    else shell.go("overview");
  }, 20_000);
  main.append(h("div", { class: "overview-grid" },
    h("section", { class: "card", "aria-labelledby": "ov-jobs" }, h("h2", { id: "ov-jobs" }, icon("jobs"), " Jobs"),
      o.jobs.length ? h("table", { class: "plain", id: "overview-jobs" }, h("tbody", {}, o.jobs.map(jobRow)))
        : h("p", { class: "muted" }, "No job yet.")),
    h("section", { class: "card", "aria-labelledby": "ov-dest" }, h("h2", { id: "ov-dest" }, icon("destinations"), " Destinations"),
      o.destinations.length ? h("table", { class: "plain", id: "overview-destinations" }, h("tbody", {}, o.destinations.map(destinationRow)))
        : h("p", { class: "muted" }, "No destination yet."))));
}

function warningRow(shell: Shell, w: WarningView): HTMLElement {
  return h("li", { class: `warning ${w.level}` }, icon(w.level === "bad" ? "fail" : "bell"), h("span", { class: "text" }, w.text),
    h("button", { class: "btn small", onclick: () => openScreen(shell, w.screen) }, "Open"));
}

function jobRow(j: JobView): HTMLElement {
  const last = j.lastRuns[0];
  const percent = j.progress?.percent != null ? ` ${j.progress.percent}%` : "";
  const state = j.running || j.progress ? [`Running${percent}`, ""] : !last ? ["Never ran", "warn"]
    : last.status === "succeeded" ? ["OK", "ok"] : last.status === "skipped" ? ["Skipped", "warn"] : [last.status === "failed" ? "Failed" : "Incomplete", "bad"];
  // The size of the last backup that finished (the largest of its destinations'), so that a
  // failed run does not hide it; else what the last run read, if it read anything.
  const sized = j.lastRuns.find((r) => r.bytesTotal > 0);
  const size = Math.max(0, ...j.lastRuns.filter((r) => r.started === sized?.started).map((r) => r.bytesTotal));
  const read = Math.max(0, ...j.lastRuns.filter((r) => r.started === last?.started).map((r) => r.bytesRead));
  return h("tr", { "data-job": j.form.name },
    h("td", {}, h("strong", {}, j.form.name), h("div", { class: "muted" }, j.form.sources.join(", "))),
    h("td", {}, h("span", { class: `badge ${state[1]}` }, state[0])),
    h("td", {}, last ? `Last: ${ago(last.ended)}` : "Last: never", h("div", { class: "muted" },
      !j.enabled ? "Disabled" : j.nextDue ? `Next: ${when(j.nextDue)}` : "Runs when asked")),
    h("td", { class: "muted", title: size ? `The size of the folders in the backup of ${when(sized!.ended)}` : read ? "Read from the folders in the last run" : "" },
      size ? `${bytes(size)} backed up` : read ? `${bytes(read)} read` : ""));
}

function destinationRow(d: DestinationView): HTMLElement {
  const health = !d.enabled ? ["Disabled", "warn"] : !d.health ? ["Not tested", "warn"] : d.health.ok ? ["Healthy", "ok"] : ["Failing", "bad"];
  return h("tr", { "data-destination": d.name },
    h("td", {}, h("strong", {}, d.name), h("div", { class: "muted", title: d.location }, d.location)),
    h("td", {}, h("span", { class: `badge ${health[1]}` }, health[0])),
    h("td", {}, d.disk?.freeBytes != null ? `${bytes(d.disk.freeBytes)} free` : "Free space unknown",
      h("div", { class: "muted" }, d.health ? `Tested ${ago(d.health.time)}` : "")),
    h("td", { class: "muted" }, d.disk ? `${bytes(d.disk.storedBytes)} stored` : ""));
}
