// Destinations: the list with health, disk, badges and actions; the browse dialog.
import { api } from "./api.js";
import type { DestinationView, TestView } from "./bindings.js";
import { destinationForm } from "./destination-form.js";
import { KIND_NAMES, ago, bytes, confirmAction, errorOf, errorText, h, icon, modal, toast, typeIcon } from "./dom.js";
import { subscribe } from "./events.js";
import type { Shell } from "./main.js";
import { stepList } from "./steps.js";

export async function destinationsScreen(shell: Shell, edit?: string): Promise<void> {
  const { main } = shell;
  if (edit !== undefined) {
    await destinationForm(shell, edit === "" ? null : edit);
    return;
  }
  const list = h("div", { class: "list", id: "destination-list", "aria-busy": "true" });
  main.append(
    h("div", { class: "page-head" },
      h("div", { style: "flex:1" }, h("h1", {}, "Destinations"), h("p", {}, "Where your backups are kept.")),
      h("button", { class: "btn primary", id: "add-destination", onclick: () => shell.go("destinations", "") }, icon("plus"), "Add destination")),
    list);
  let items: DestinationView[];
  try {
    items = await api.destinations();
  } catch (e) {
    list.replaceChildren(h("div", { class: "inline-error", role: "alert" }, errorText(errorOf(e))));
    return;
  }
  list.removeAttribute("aria-busy");
  if (items.length === 0) {
    list.append(h("div", { class: "card empty", id: "destinations-empty" },
      icon("destinations"),
      h("h2", {}, "No destination yet"),
      h("p", {}, "Add a place to keep backups: a USB disk, a cloud bucket, a server over SSH."),
      h("button", { class: "btn primary", onclick: () => shell.go("destinations", "") }, icon("plus"), "Add your first destination")));
    return;
  }
  for (const d of items) list.append(row(shell, d));
}

function row(shell: Shell, d: DestinationView): HTMLElement {
  const health = d.health
    ? h("span", { class: `badge ${d.health.ok ? "ok" : "bad"}`, title: d.health.summary }, d.health.ok ? `Healthy` : "Test failed")
    : h("span", { class: "badge muted" }, "Not tested");
  const badges = [
    health,
    d.readOnly ? h("span", { class: "badge warn" }, "Read-only") : null,
    !d.enabled ? h("span", { class: "badge muted" }, "Disabled") : null,
    d.recovered ? h("span", { class: "badge warn" }, "Recovered") : null,
  ];
  const meta = [
    h("span", {}, KIND_NAMES[d.kind] ?? d.kind),
    d.health ? h("span", {}, `tested ${ago(d.health.time)}`) : null,
    d.disk ? h("span", {}, `${bytes(d.disk.storedBytes)} stored${d.disk.freeBytes != null ? `, ${bytes(d.disk.freeBytes)} free` : ""}`) : null,
    h("span", {}, `${d.snapshots} snapshot${d.snapshots === 1 ? "" : "s"}`),
    h("span", {}, `owner ${d.owner}`),
    d.jobs.length ? h("span", {}, `used by ${d.jobs.join(", ")}`) : null,
  ];
  const status = h("div");
  const el = h("article", { class: "card", "data-destination": d.name, "aria-label": `Destination ${d.name}` },
    h("div", { class: "item" },
      typeIcon(d.kind, d.vendor),
      h("div", {},
        h("div", { class: "title" }, h("span", {}, d.name), badges),
        h("div", { class: "sub" }, d.location),
        h("div", { class: "meta" }, meta)),
      h("div", { class: "row-actions" },
        h("button", { class: "btn small", "data-action": "test", onclick: () => void runTest(d, status) }, icon("test"), "Test"),
        h("button", { class: "btn small", "data-action": "browse", onclick: () => void browse(d) }, "Browse files"),
        h("button", { class: "btn small", "data-action": "edit", onclick: () => shell.go("destinations", d.name) }, icon("edit"), "Edit"),
        h("button", {
          class: "btn small", "data-action": "toggle",
          onclick: async () => {
            try { await api.setDestinationEnabled(d.name, !d.enabled); shell.go("destinations"); }
            catch (e) { toast(errorText(errorOf(e)), "bad"); }
          },
        }, d.enabled ? "Disable" : "Enable"),
        h("button", { class: "btn small danger", "data-action": "delete", onclick: () => void remove(shell, d) }, icon("trash"), "Delete"))),
    status);
  return el;
}

async function runTest(d: DestinationView, status: HTMLElement): Promise<void> {
  const op = `test:${d.name}:${Date.now()}`;
  const steps = stepList();
  status.replaceChildren(steps.el);
  const off = subscribe((e) => { if (e.type === "testStep" && e.op === op) steps.add(e.step); });
  steps.running("testing…");
  let result: TestView;
  try {
    result = await api.testDestination(op, d.name);
  } catch (e) {
    steps.fail(errorText(errorOf(e)));
    return;
  } finally {
    off();
  }
  steps.finish(result);
  toast(result.ok ? `${d.name} passed its test` : `${d.name} failed its test`, result.ok ? "ok" : "bad");
}

async function remove(shell: Shell, d: DestinationView): Promise<void> {
  if (d.jobs.length) {
    toast(`${d.name} cannot be deleted: jobs ${d.jobs.join(", ")} write to it. Remove it from those jobs first.`, "bad");
    return;
  }
  const ok = await confirmAction(`Delete ${d.name}?`,
    `The destination leaves Cairn's list. Its backups stay where they are (${d.location}) and can be added again later.`, "Delete");
  if (!ok) return;
  try {
    await api.deleteDestination(d.name);
    toast(`Destination ${d.name} deleted`, "ok");
    shell.go("destinations");
  } catch (e) {
    toast(errorText(errorOf(e)), "bad");
  }
}

async function browse(d: DestinationView): Promise<void> {
  const body = h("div", {}, h("span", { class: "spinner" }), " listing…");
  modal(`Files in ${d.name}`, [body], (close) => [h("button", { class: "btn primary", onclick: close }, "Close")], true);
  try {
    const objects = await api.browseDestination(d.name);
    const total = objects.reduce((a, o) => a + o.size, 0);
    const shown = objects.slice(0, 2000);
    body.replaceChildren(
      h("p", { class: "muted" }, `${objects.length.toLocaleString()} objects, ${bytes(total)}${objects.length > shown.length ? ` (first ${shown.length} shown)` : ""}`),
      h("table", { class: "plain" }, h("thead", {}, h("tr", {}, h("th", {}, "Path"), h("th", {}, "Size"))),
        h("tbody", {}, shown.map((o) => h("tr", {}, h("td", { class: "mono" }, o.path), h("td", {}, bytes(o.size)))))));
  } catch (e) {
    body.replaceChildren(h("div", { class: "inline-error", role: "alert" }, errorText(errorOf(e))));
  }
}
