// The restore browser: a destination, its snapshots, a folder tree loaded a page at a time, a
// search across every snapshot, a selection, then restore or download with progress.
import { api } from "./api.js";
import type { ArchiveView, DestinationView, EntryView, FoundVersion, RestoreSummary, SearchHit, SnapshotView } from "./bindings.js";
import { ProgressBox, bytes, duration, errorOf, errorText, h, icon, modal, toast, when } from "./dom.js";
import { subscribe } from "./events.js";
import { pickFolder } from "./folder-picker.js";
import type { Shell } from "./main.js";
import { VList } from "./vlist.js";

const PAGE = 500;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

interface Picked { snapshot: string; path: string; kind: string }

export async function restoreScreen(shell: Shell, initial?: string): Promise<void> {
  const { main } = shell;
  let destinations: DestinationView[] = [];
  try {
    destinations = await api.destinations();
  } catch (e) {
    main.append(h("div", { class: "inline-error" }, errorText(errorOf(e))));
    return;
  }
  main.append(h("div", { class: "page-head" }, h("div", { style: "flex:1" }, h("h1", {}, "Restore"), h("p", {}, "Find a file in any backup and get it back."))));
  if (!destinations.length) {
    main.append(h("div", { class: "card empty" }, icon("restore"), h("h2", {}, "Nothing to restore yet"),
      h("p", {}, "Add a destination and run a backup job; its snapshots appear here."),
      h("button", { class: "btn primary", onclick: () => shell.go("destinations", "") }, icon("plus"), "Add a destination")));
    return;
  }

  let dest = destinations.find((d) => d.name === initial)?.name ?? destinations.find((d) => d.snapshots > 0)?.name ?? destinations[0].name;
  let snapshots: SnapshotView[] = [];
  let snap: SnapshotView | null = null;
  let cwd = "/";
  let total = 0;
  const pages = new Map<number, EntryView[] | "loading">();
  let hits: SearchHit[] | null = null;
  const picked = new Map<string, Picked>();
  const keyOf = (s: string, p: string) => `${s}\u0000${p}`;

  // Left: destination and snapshots.
  const destSelect = h("select", { id: "restore-destination", "aria-label": "Destination",
    onchange: () => { dest = destSelect.value; void loadSnapshots(); } },
    destinations.map((d) => h("option", { value: d.name, selected: d.name === dest }, d.name)));
  const snapStatus = h("div", { class: "muted", style: "padding:8px 12px;font-size:12px", role: "status" });
  const snapList = new VList({
    id: "snapshot-list", label: "Snapshots", rowHeight: 56,
    render: (i, row) => {
      const s = snapshots[i];
      row.classList.add("snap-row");
      row.setAttribute("aria-selected", String(snap?.id === s.id));
      row.dataset.snapshot = s.id;
      row.append(h("span", { class: "when" }, when(s.time)),
        h("span", { class: "what" }, `${s.host} · ${s.files.toLocaleString()} files · ${bytes(s.bytes)}${s.tags.length ? ` · ${s.tags.join(", ")}` : ""}`));
    },
    onActivate: (i) => { void openSnapshot(snapshots[i], startPath(snapshots[i])); },
  });

  // Right: search, breadcrumbs, entries, selection bar.
  const search = h("input", { type: "search", id: "restore-search", placeholder: "Search file names in every snapshot", "aria-label": "Search file names in every snapshot",
    onkeydown: (e: KeyboardEvent) => { if (e.key === "Enter") void runSearch(); if (e.key === "Escape") { search.value = ""; hits = null; void openSnapshot(snap, cwd); } } });
  const crumbs = h("nav", { class: "crumbs", "aria-label": "Folder" });
  const listStatus = h("div", { class: "muted", style: "padding:8px 12px;font-size:12px", role: "status", "aria-live": "polite" });
  const entryList = new VList({
    id: "entry-list", label: "Files and folders", rowHeight: 36, multiselect: true,
    render: (i, row) => (hits ? renderHit(i, row) : renderEntry(i, row)),
    onActivate: (i) => {
      if (hits) { const hit = hits[i]; toggle(hit.versions[0].snapshot, hit.path, hit.kind); return; }
      const e = entry(i);
      if (e && e.kind === "dir") void openSnapshot(snap, e.path);
      else if (e && snap) toggle(snap.id, e.path, e.kind);
    },
    onToggle: (i) => {
      if (hits) { const hit = hits[i]; toggle(hit.versions[0].snapshot, hit.path, hit.kind); return; }
      const e = entry(i);
      if (e && snap) toggle(snap.id, e.path, e.kind);
    },
  });
  const count = h("span", { class: "count", id: "selection-count" }, "Nothing selected");
  const restoreBtn = h("button", { class: "btn primary", id: "restore-selected", disabled: true, onclick: () => restoreDialog() }, icon("restore"), "Restore…");
  const downloadBtn = h("button", { class: "btn", id: "download-selected", disabled: true, onclick: () => downloadDialog() }, icon("download"), "Download .tar.gz…");
  const clearBtn = h("button", { class: "btn", disabled: true, onclick: () => { picked.clear(); updateSelection(); } }, "Clear");
  const progressSlot = h("div");
  // Archived and compressed jobs write whole .tar/.tar.gz files instead of snapshots.
  const archiveBox = h("div", { id: "archive-list", class: "archives", role: "list", "aria-label": "Archives" });

  main.append(h("div", { class: "restore" },
    h("section", { class: "card pane", "aria-label": "Snapshots" }, h("div", { class: "pane-head" }, destSelect), snapStatus, snapList.el, archiveBox),
    h("section", { class: "card pane", "aria-label": "Contents" },
      h("div", { class: "pane-head" }, icon("search"), search, h("button", { class: "btn small", id: "restore-search-go", onclick: () => void runSearch() }, "Search")),
      h("div", { class: "pane-head" }, crumbs), listStatus, entryList.el, progressSlot,
      h("div", { class: "selbar" }, count, clearBtn, downloadBtn, restoreBtn))));

  function entry(i: number): EntryView | undefined {
    const page = pages.get(Math.floor(i / PAGE));
    if (page === undefined) void loadPage(Math.floor(i / PAGE));
    return Array.isArray(page) ? page[i % PAGE] : undefined;
  }

  function checkbox(s: string, p: string, label: string): HTMLInputElement {
    return h("input", { type: "checkbox", "aria-label": `Select ${label}`, checked: picked.has(keyOf(s, p)), tabindex: "-1" });
  }

  function renderEntry(i: number, row: HTMLElement): void {
    const e = entry(i);
    if (!e || !snap) { row.append(h("span", { class: "muted" }, "…")); return; }
    row.classList.add(e.kind);
    row.dataset.path = e.path;
    row.setAttribute("aria-selected", String(picked.has(keyOf(snap.id, e.path))));
    row.append(checkbox(snap.id, e.path, e.name), icon(e.kind === "dir" ? "folder" : e.kind === "symlink" ? "link" : "file"),
      h("span", { class: "name", title: e.path }, e.name),
      h("span", { class: "num" }, e.kind === "file" ? bytes(e.size) : ""),
      h("span", { class: "num" }, when(e.mtime)),
      e.kind === "file" ? versionsButton(e.path) : "");
  }

  /** Opens the file's history: every version across the snapshots, each restorable. */
  function versionsButton(path: string): HTMLElement {
    return h("button", { class: "btn small", type: "button", "data-action": "versions", title: "Every version of this file",
      onclick: (ev: Event) => { ev.stopPropagation(); void historyDialog(path); } }, "Versions");
  }

  async function historyDialog(path: string): Promise<void> {
    let versions: FoundVersion[];
    try { versions = await api.fileHistory(dest, path); } catch (e) { toast(errorText(errorOf(e)), "bad"); return; }
    let close = () => {};
    const pick = (v: FoundVersion) => {
      close();
      picked.clear();
      picked.set(keyOf(v.snapshot, path), { snapshot: v.snapshot, path, kind: "file" });
      updateSelection();
      restoreDialog();
    };
    close = modal(`Versions of ${path.split("/").pop() ?? path}`, [
      h("p", { class: "muted", style: "overflow-wrap:anywhere" }, path),
      versions.length
        ? h("table", { class: "plain", id: "file-versions" }, h("tbody", {}, versions.map((v, i) => h("tr", { "data-snapshot": v.snapshot },
            h("td", {}, i === 0 ? h("span", { class: "badge" }, "Newest") : ""),
            h("td", {}, `Changed ${when(v.mtime)}`), h("td", {}, bytes(v.size)),
            h("td", { class: "muted" }, `in the backup of ${when(v.time)}`),
            h("td", {}, h("button", { class: "btn small", "data-action": "restore-version", onclick: () => pick(v) }, icon("restore"), "Restore…"))))))
        : h("p", {}, "No snapshot holds this file."),
    ], (c) => [h("button", { class: "btn", onclick: c }, "Close")], true);
  }

  function renderHit(i: number, row: HTMLElement): void {
    const hit = hits![i];
    const v = hit.versions[0];
    row.dataset.path = hit.path;
    row.classList.add(hit.kind);
    row.setAttribute("aria-selected", String(picked.has(keyOf(v.snapshot, hit.path))));
    row.append(checkbox(v.snapshot, hit.path, hit.path), icon(hit.kind === "dir" ? "folder" : "file"),
      h("span", { class: "name hit-name", title: hit.path }, hit.path.split("/").pop() ?? hit.path),
      h("span", { class: "dir-part", title: hit.path }, `\u200e${hit.path.slice(0, hit.path.lastIndexOf("/") + 1)}`),
      h("span", { class: "num" }, `${hit.versions.length} version${hit.versions.length === 1 ? "" : "s"}`),
      h("span", { class: "num" }, `newest ${when(v.time)}`),
      hit.kind === "file" ? versionsButton(hit.path) : "");
  }

  function toggle(s: string, p: string, kind: string): void {
    const k = keyOf(s, p);
    if (picked.has(k)) picked.delete(k); else picked.set(k, { snapshot: s, path: p, kind });
    updateSelection();
  }

  function updateSelection(): void {
    const n = picked.size;
    const snaps = new Set([...picked.values()].map((x) => x.snapshot)).size;
    count.textContent = n ? `${n} selected${snaps > 1 ? ` from ${snaps} snapshots` : ""}` : "Nothing selected";
    restoreBtn.disabled = downloadBtn.disabled = clearBtn.disabled = n === 0;
    downloadBtn.disabled ||= snaps > 1;
    downloadBtn.title = snaps > 1 ? "A download holds items of one snapshot" : "";
    entryList.refresh();
  }

  async function loadSnapshots(): Promise<void> {
    snapStatus.replaceChildren(h("span", { class: "spinner" }), " opening the repository…");
    snapshots = [];
    snapList.reset(0);
    picked.clear();
    updateSelection();
    try {
      snapshots = await api.snapshots(dest);
    } catch (e) {
      snapStatus.replaceChildren(h("span", { style: "color:var(--bad)" }, errorText(errorOf(e))));
      await openSnapshot(null, "/");
      return;
    }
    snapStatus.textContent = snapshots.length ? `${plural(snapshots.length, "snapshot")}, newest first` : "No snapshots yet: run a backup job to this destination.";
    snapList.reset(snapshots.length);
    void loadArchives();
    await openSnapshot(snapshots[0] ?? null, startPath(snapshots[0] ?? null));
  }

  async function loadArchives(): Promise<void> {
    archiveBox.replaceChildren();
    let archives: ArchiveView[] = [];
    try {
      archives = await api.archives(dest);
    } catch (e) {
      archiveBox.replaceChildren(h("p", { class: "muted", style: "padding:8px 12px" }, errorText(errorOf(e))));
      return;
    }
    if (!archives.length) return;
    archiveBox.replaceChildren(h("h3", { style: "padding:8px 12px 4px;margin:0;font-size:13px" }, `${plural(archives.length, "archive")} from archived jobs`),
      ...archives.map((a) => h("div", { class: "archive-row", role: "listitem", "data-archive": a.name },
        icon("file"), h("span", { class: "what", title: a.name }, `${a.job} · ${when(a.time)} · ${bytes(a.size)}`),
        h("button", { class: "btn small", "aria-label": `Extract ${a.name}`, onclick: () => archiveDialog(a) }, "Extract…"))));
  }

  function archiveDialog(a: ArchiveView): void {
    const folder = h("input", { type: "text", id: "archive-target", placeholder: "/home/me/Restored", spellcheck: "false" });
    void api.appInfo().then((i) => { if (!folder.value) folder.value = `${i.home}/${a.name.replace(/\.tar(\.gz)?$/, "")}`; });
    modal(`Extract ${a.name}`, [
      h("div", { class: "field" }, h("label", { for: "archive-target" }, "Into the folder (new or empty)"), h("div", { style: "display:flex;gap:8px" }, folder,
        h("button", { class: "btn small", type: "button", onclick: async () => { const p = await pickFolder("Extract into", folder.value); if (p) folder.value = p; } }, icon("folder"), "Choose…"))),
      h("p", { class: "muted", style: "margin-top:10px" }, "Files are extracted under their full original path inside this folder; nothing of yours is replaced."),
    ], (close) => [
      h("button", { class: "btn", onclick: close }, "Cancel"),
      h("button", { class: "btn primary", id: "archive-go", onclick: async () => {
        if (!folder.value.trim().startsWith("/")) { folder.setAttribute("aria-invalid", "true"); folder.focus(); return; }
        close();
        const op = `archive:${Date.now()}`;
        const r = await withProgress(op, "Extracting", () => api.restoreArchive(op, dest, a.name, folder.value.trim()));
        if (r) summary("Archive extracted", [r]);
      } }, "Extract"),
    ]);
  }

  async function openSnapshot(s: SnapshotView | null, path: string): Promise<void> {
    snap = s;
    cwd = path;
    hits = null;
    pages.clear();
    snapList.refresh();
    renderCrumbs();
    if (!s) { total = 0; entryList.reset(0); listStatus.textContent = ""; return; }
    listStatus.replaceChildren(h("span", { class: "spinner" }), " loading…");
    await loadPage(0);
    entryList.reset(total);
    listStatus.textContent = `${total.toLocaleString()} item${total === 1 ? "" : "s"} in ${path} · snapshot of ${when(s.time)}`;
  }

  async function loadPage(p: number): Promise<void> {
    if (!snap || pages.has(p)) return;
    pages.set(p, "loading");
    const asked = { snap: snap.id, cwd };
    try {
      const page = await api.listDir(dest, snap.id, cwd, p * PAGE, PAGE);
      if (snap?.id !== asked.snap || cwd !== asked.cwd) return;
      pages.set(p, page.entries);
      total = page.total;
      entryList.refresh();
    } catch (e) {
      pages.delete(p);
      listStatus.textContent = errorText(errorOf(e));
    }
  }

  function renderCrumbs(): void {
    const parts = cwd.split("/").filter(Boolean);
    const items: HTMLElement[] = [h("button", { onclick: () => void openSnapshot(snap, "/") }, "All files")];
    parts.forEach((name, i) => {
      const path = "/" + parts.slice(0, i + 1).join("/");
      items.push(h("span", { class: "muted" }, "/"), h("button", { onclick: () => void openSnapshot(snap, path) }, name));
    });
    crumbs.replaceChildren(...(hits ? [h("span", {}, `Search results for “${search.value}”`), h("button", { onclick: () => void openSnapshot(snap, cwd) }, "Back to folders")] : items));
  }

  async function runSearch(): Promise<void> {
    const q = search.value.trim();
    if (!q) return;
    listStatus.replaceChildren(h("span", { class: "spinner" }), ` searching ${snapshots.length} snapshots…`);
    try {
      const r = await api.search(dest, q, 1000);
      hits = r.hits;
      renderCrumbs();
      entryList.reset(hits.length);
      listStatus.textContent = r.hits.length
        ? `${plural(r.hits.length, "match", "matches")} in ${plural(r.snapshots, "snapshot")}${r.truncated ? " (first ones only: refine the search)" : ""}. Newest version selected; Enter or Space selects.`
        : `No file named like “${q}” in ${plural(r.snapshots, "snapshot")}.`;
    } catch (e) {
      listStatus.textContent = errorText(errorOf(e));
    }
  }

  function bySnapshot(): Map<string, Picked[]> {
    const groups = new Map<string, Picked[]>();
    for (const p of picked.values()) groups.set(p.snapshot, [...(groups.get(p.snapshot) ?? []), p]);
    return groups;
  }

  function restoreDialog(): void {
    const info = api.appInfo();
    const original = h("input", { type: "radio", name: "target", id: "target-original", checked: true });
    const folder = h("input", { type: "radio", name: "target", id: "target-folder" });
    const folderPath = h("input", { type: "text", id: "target-path", placeholder: "/home/me/Restored", spellcheck: "false",
      oninput: () => { folder.checked = true; } });
    const overwrite = h("input", { type: "checkbox", id: "restore-overwrite" });
    const choose = h("button", { class: "btn small", type: "button", onclick: async () => {
      const p = await pickFolder("Restore into", (await info).home);
      if (p) { folderPath.value = p; folder.checked = true; }
    } }, icon("folder"), "Choose…");
    modal(`Restore ${picked.size} item${picked.size === 1 ? "" : "s"}`, [
      h("div", { class: "check" }, original, h("label", { for: "target-original" }, "To where they were")),
      h("div", { class: "check" }, folder, h("label", { for: "target-folder" }, "Into another folder")),
      h("div", { style: "display:flex;gap:8px;margin:6px 0 12px 26px" }, folderPath, choose),
      h("div", { class: "check" }, overwrite, h("label", { for: "restore-overwrite" }, "Replace files that exist (otherwise they are kept)")),
      h("p", { class: "muted", style: "margin-top:10px" }, "Restoring to where they were with replacing on brings back the backed-up version over today's."),
    ], (close) => [
      h("button", { class: "btn", onclick: close }, "Cancel"),
      h("button", { class: "btn primary", id: "restore-go", onclick: () => {
        if (folder.checked && !folderPath.value.trim().startsWith("/")) { folderPath.setAttribute("aria-invalid", "true"); folderPath.focus(); return; }
        close();
        const target = folder.checked ? { kind: "folder" as const, path: folderPath.value.trim() } : { kind: "original" as const };
        void runRestore(target, overwrite.checked);
      } }, "Restore"),
    ]);
  }

  async function runRestore(target: { kind: "original" } | { kind: "folder"; path: string }, overwrite: boolean): Promise<void> {
    const summaries: RestoreSummary[] = [];
    for (const [snapshot, items] of bySnapshot()) {
      const op = `restore:${Date.now()}`;
      const r = await withProgress(op, "Restoring", () => api.restore(op, { destination: dest, snapshot, paths: items.map((x) => x.path), target, overwrite }));
      if (!r) return;
      summaries.push(r);
    }
    picked.clear();
    updateSelection();
    summary("Restore finished", summaries);
  }

  function downloadDialog(): void {
    const [[snapshot, items]] = [...bySnapshot()];
    const day = new Date((snapshots.find((s) => s.id === snapshot)?.time ?? 0) * 1000).toISOString().slice(0, 10);
    const dir = h("input", { type: "text", id: "download-dir", spellcheck: "false" });
    void api.appInfo().then((i) => { if (!dir.value) dir.value = i.home; });
    const name = h("input", { type: "text", id: "download-name", value: `cairn-${day}.tar.gz`, spellcheck: "false" });
    modal("Download as .tar.gz", [
      h("div", { class: "field" }, h("label", { for: "download-dir" }, "Folder"), h("div", { style: "display:flex;gap:8px" }, dir,
        h("button", { class: "btn small", type: "button", onclick: async () => { const p = await pickFolder("Save into", dir.value); if (p) dir.value = p; } }, icon("folder"), "Choose…"))),
      h("div", { class: "field", style: "margin-top:10px" }, h("label", { for: "download-name" }, "File name"), name),
    ], (close) => [
      h("button", { class: "btn", onclick: close }, "Cancel"),
      h("button", { class: "btn primary", id: "download-go", onclick: async () => {
        close();
        const file = `${dir.value.replace(/\/+$/, "")}/${name.value.trim()}`;
        const op = `download:${Date.now()}`;
        const r = await withProgress(op, "Downloading", () => api.download(op, dest, snapshot, items.map((x) => x.path), file));
        if (r) summary("Download finished", [r]);
      } }, "Download"),
    ]);
  }

  async function withProgress<T>(op: string, label: string, f: () => Promise<T>): Promise<T | null> {
    const box = new ProgressBox(label);
    const cancel = h("button", { class: "btn small danger", onclick: () => void api.cancel(op) }, icon("stop"), "Cancel");
    progressSlot.replaceChildren(box.el, h("div", { style: "padding:0 16px 8px" }, cancel));
    const off = subscribe((e) => { if (e.type === "progress" && e.progress.op === op) box.update(e.progress); });
    restoreBtn.disabled = downloadBtn.disabled = true;
    try {
      return await f();
    } catch (e) {
      const er = errorOf(e);
      toast(er.kind === "cancelled" ? "Cancelled" : errorText(er), er.kind === "cancelled" ? "" : "bad");
      return null;
    } finally {
      off();
      progressSlot.replaceChildren();
      updateSelection();
    }
  }

  function summary(title: string, rs: RestoreSummary[]): void {
    const sum = (k: "files" | "dirs" | "bytes" | "kept" | "errors") => rs.reduce((a, r) => a + r[k], 0);
    const warnings = rs.flatMap((r) => r.warnings);
    modal(title, [
      h("p", { id: "restore-summary" }, `${plural(sum("files"), "file")} and ${plural(sum("dirs"), "folder")} (${bytes(sum("bytes"))}) in ${duration(rs.reduce((a, r) => a + r.seconds, 0))}.`),
      sum("kept") ? h("p", {}, `${plural(sum("kept"), "existing file was", "existing files were")} kept as they were.`) : null,
      h("p", {}, "Written to: ", h("span", { class: "mono" }, [...new Set(rs.flatMap((r) => r.writtenTo))].join(", "))),
      sum("errors") ? h("div", { class: "inline-error", style: "margin:0" }, `${sum("errors")} items could not be restored:`, h("ul", {}, warnings.slice(0, 50).map((w) => h("li", {}, w)))) : null,
    ].filter((x): x is HTMLParagraphElement | HTMLDivElement => x !== null), (close) => [h("button", { class: "btn primary", id: "summary-close", onclick: close }, "Done")]);
    toast(title, sum("errors") ? "bad" : "ok");
  }

  void loadSnapshots();
}

/**
 * Where a snapshot opens: the folder it backed up (the deepest folder holding all of them when
 * it backed up several), not the root the user would have to click down from.
 */
export function startPath(s: SnapshotView | null): string {
  if (!s || s.paths.length === 0) return "/";
  const split = s.paths.map((p) => p.split("/").filter(Boolean));
  const common: string[] = [];
  for (let i = 0; split.every((parts) => i < parts.length && parts[i] === split[0][i]); i++) common.push(split[0][i]);
  return "/" + common.join("/");
}
