// Small building blocks: element creation, icons, formatting, dialogs, toasts, progress.
import type { GuiError, ProgressView } from "./bindings.js";
import { CommandError } from "./api.js";

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

/** Creates an element: `on*` attributes become listeners, booleans become properties. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "class") el.className = String(v);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else if (k === "checked" || k === "disabled" || k === "selected") (el as unknown as Record<string, boolean>)[k] = Boolean(v);
    else if (k === "html") el.innerHTML = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** An inline SVG icon from the set below. */
export function icon(name: keyof typeof ICONS, cls = ""): SVGElement {
  const wrap = document.createElement("span");
  wrap.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" class="${cls}">${ICONS[name]}</svg>`;
  return wrap.firstElementChild as SVGElement;
}

const ICONS = {
  local: '<rect x="3" y="13" width="18" height="7" rx="2"/><path d="M5 13l2.5-7h9L19 13"/><circle cx="17" cy="16.5" r="1"/>',
  s3: '<path d="M7 18a4.5 4.5 0 0 1-.6-8.96A6 6 0 0 1 18 8.5a4.5 4.5 0 0 1-.5 9.5z"/>',
  sftp: '<rect x="3" y="4" width="18" height="7" rx="2"/><rect x="3" y="13" width="18" height="7" rx="2"/><path d="M7 7.5h.01M7 16.5h.01"/>',
  rest: '<rect x="4" y="3" width="16" height="18" rx="2"/><path d="M8 8h8M8 12h8M8 16h5"/>',
  azure: '<path d="M10 4L4 19h5l3-5M14 4l6 15h-9"/>',
  webdav: '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18"/>',
  ftp: '<path d="M3 7h7l2 2h9v10H3z"/><path d="M12 17v-5m-2.5 2.5L12 12l2.5 2.5"/>',
  rclone: '<path d="M7 17a4 4 0 0 1-.5-7.97A5.5 5.5 0 0 1 17 8a4 4 0 0 1 .5 8"/><path d="M9 20l3-3 3 3M12 17v-6"/>',
  destinations: '<ellipse cx="12" cy="6" rx="8" ry="3"/><path d="M4 6v6c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12v6c0 1.7 3.6 3 8 3s8-1.3 8-3v-6"/>',
  jobs: '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
  restore: '<path d="M3 12a9 9 0 1 0 3-6.7L3 8"/><path d="M3 3v5h5"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"/>',
  folder: '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
  file: '<path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z"/><path d="M14 3v5h5"/>',
  link: '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
  ok: '<circle cx="12" cy="12" r="9"/><path d="M8 12.5l2.5 2.5L16 9.5"/>',
  fail: '<circle cx="12" cy="12" r="9"/><path d="M9 9l6 6M15 9l-6 6"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  play: '<path d="M7 4.5v15l12-7.5z"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="1.5"/>',
  test: '<path d="M9 3h6M10 3v6l-5 9a2 2 0 0 0 1.8 3h10.4a2 2 0 0 0 1.8-3l-5-9V3"/>',
  trash: '<path d="M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3"/>',
  edit: '<path d="M4 20h4L19 9l-4-4L4 16z"/>',
  search: '<circle cx="11" cy="11" r="7"/><path d="M20 20l-4-4"/>',
  download: '<path d="M12 4v11M7 10l5 5 5-5M5 20h14"/>',
  up: '<path d="M12 19V5M6 11l6-6 6 6"/>',
  key: '<circle cx="8" cy="15" r="4"/><path d="M11 12l9-9M16 7l3 3"/>',
  home: '<path d="M3 11l9-7 9 7"/><path d="M5 10v10h14V10"/>',
  bell: '<path d="M6 16V11a6 6 0 0 1 12 0v5l2 2H4z"/><path d="M10 20a2 2 0 0 0 4 0"/>',
};

/** Brand colour and initials of each S3 vendor, for its badge. */
const VENDOR_BADGES: Record<string, [string, string]> = {
  aws: ["#e07b00", "AWS"], wasabi: ["#1f8f3a", "W"], b2: ["#d4232b", "B2"], r2: ["#f38020", "R2"],
  digitalocean: ["#0069ff", "DO"], scaleway: ["#4f0599", "SW"], linode: ["#00a95c", "L"], ibm: ["#0f62fe", "IBM"],
  oracle: ["#c74634", "OCI"], gcs: ["#4285f4", "G"], hetzner: ["#d50c2d", "H"], minio: ["#c72e49", "M"],
};

/** The icon of a destination type, with its vendor's badge. */
export function typeIcon(kind: string, vendor?: string | null): HTMLElement {
  const name = (["local", "s3", "sftp", "rest", "azure", "webdav", "ftp", "rclone"].includes(kind) ? kind : "destinations") as keyof typeof ICONS;
  const box = h("span", { class: "type-icon", "aria-hidden": "true" }, icon(name));
  const badge = vendor ? VENDOR_BADGES[vendor] : undefined;
  if (badge) box.append(h("span", { class: "vendor-badge", style: `background:${badge[0]}` }, badge[1]));
  return box;
}

export const KIND_NAMES: Record<string, string> = {
  local: "Local folder", s3: "S3-compatible", sftp: "SFTP server", rest: "restic REST server", azure: "Azure Blob",
  webdav: "WebDAV", ftp: "FTP server", rclone: "Cloud drive (rclone)",
};

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

export function when(secs: number): string {
  return new Date(secs * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function ago(secs: number): string {
  const d = Date.now() / 1000 - secs;
  if (d < 60) return "just now";
  if (d < 3600) return `${Math.round(d / 60)} min ago`;
  if (d < 86400) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} days ago`;
}

export function duration(secs: number): string {
  if (secs < 60) return `${Math.max(1, Math.round(secs))} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s`;
  return `${Math.floor(secs / 3600)} h ${Math.round((secs % 3600) / 60)} min`;
}

/** The error of a failed command, or of anything else thrown. */
export function errorOf(e: unknown): GuiError {
  if (e instanceof CommandError) return e.error;
  return { kind: "other", message: e instanceof Error ? e.message : String(e), hint: null, field: null };
}

export function errorText(e: GuiError): string {
  return e.hint ? `${e.message} (${e.hint})` : e.message;
}

/** How long a toast that is not an error stays (ms). */
export const TOAST_MS = 4000;
/** At most this many toasts show; the oldest that is not an error gives way. */
const TOASTS_SHOWN = 3;

/**
 * A short message in the sidebar (where it covers no action): it leaves after a few seconds,
 * except an error, which stays until dismissed with its close button.
 */
export function toast(text: string, kind: "ok" | "bad" | "" = ""): void {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast ${kind}`, role: kind === "bad" ? "alert" : "status" }, h("span", { class: "toast-text" }, text));
  if (kind === "bad") {
    t.append(h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss", title: "Dismiss", onclick: () => t.remove() }, "×"));
  } else {
    setTimeout(() => t.remove(), TOAST_MS);
  }
  box.append(t);
  const shown = [...box.children];
  for (const old of shown.slice(0, Math.max(0, shown.length - TOASTS_SHOWN))) {
    if (!old.classList.contains("bad") || shown.length > TOASTS_SHOWN * 2) old.remove();
  }
}

/** A modal dialog: focus goes in, Escape or the backdrop closes it, focus comes back. */
export function modal(title: string, body: Node[], actions: (close: () => void) => Node[], wide = false): () => void {
  const root = document.getElementById("modal-root")!;
  const before = document.activeElement as HTMLElement | null;
  const titleId = `m${Math.random().toString(36).slice(2)}`;
  const close = () => { backdrop.remove(); before?.focus(); };
  const dialog = h("div", { class: `modal${wide ? " wide" : ""}`, role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("h2", { id: titleId }, title), h("div", { class: "body" }, body), h("div", { class: "form-actions" }, actions(close)));
  const backdrop = h("div", { class: "modal-backdrop", onmousedown: (e: Event) => { if (e.target === backdrop) close(); } }, dialog);
  backdrop.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.stopPropagation(); close(); }
    if (e.key === "Tab") trapFocus(dialog, e);
  });
  root.append(backdrop);
  const first = dialog.querySelector<HTMLElement>("input, select, textarea, button.primary, button");
  first?.focus();
  return close;
}

function trapFocus(dialog: HTMLElement, e: KeyboardEvent): void {
  const items = [...dialog.querySelectorAll<HTMLElement>("button, input, select, textarea, [tabindex='0']")].filter((x) => !x.hasAttribute("disabled"));
  if (items.length === 0) return;
  const first = items[0], last = items[items.length - 1];
  if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
}

/** Asks before a destructive action. */
export function confirmAction(title: string, text: string, verb: string): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean, close: () => void) => { if (!done) { done = true; close(); resolve(v); } };
    modal(title, [h("p", {}, text)], (close) => [
      h("button", { class: "btn", onclick: () => finish(false, close) }, "Cancel"),
      h("button", { class: "btn danger solid", "data-testid": "confirm", onclick: () => finish(true, close) }, verb),
    ]);
  });
}

/** A progress area fed with ProgressView events; indeterminate until a total is known. */
export class ProgressBox {
  readonly el: HTMLElement;
  private bar: HTMLElement;
  private line: HTMLElement;
  private current: HTMLElement;
  constructor(label: string) {
    this.bar = h("div", { class: "bar indeterminate", style: "width:0%" });
    this.line = h("div", { class: "line" }, "starting…");
    this.current = h("div", { class: "current" });
    this.el = h("div", { class: "progress", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "data-testid": "progress" },
      h("div", { class: "track" }, this.bar), this.line, this.current);
  }
  update(p: ProgressView): void {
    const total = p.bytesTotal ?? 0;
    const pct = p.done ? 100 : total > 0 ? Math.min(99, (100 * p.bytes) / total) : 0;
    this.bar.classList.toggle("indeterminate", !p.done && total === 0);
    this.bar.style.width = `${pct}%`;
    this.el.setAttribute("aria-valuenow", String(Math.round(pct)));
    const parts = [
      p.destination ? `${p.destination} (${p.destinationIndex} of ${p.destinationCount})` : "",
      p.phase,
      `${p.files.toLocaleString()}${p.filesTotal != null ? ` of ${p.filesTotal.toLocaleString()}` : ""} files`,
      `${bytes(p.bytes)}${total ? ` of ${bytes(total)}` : ""}`,
      p.rate > 0 ? `${bytes(p.rate)}/s` : "",
      p.etaSecs != null ? `${duration(p.etaSecs)} left` : "",
    ].filter(Boolean);
    this.line.replaceChildren(...parts.map((t) => h("span", {}, t)));
    this.current.textContent = p.done ? "" : p.current;
    this.current.title = p.current;
  }
}
