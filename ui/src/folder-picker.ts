// Picks a folder of this machine, in the window (keyboard and screen readers included).
import { api } from "./api.js";
import { errorOf, errorText, h, icon, modal } from "./dom.js";

/** Resolves with the chosen folder, or null. */
export function pickFolder(title: string, start = ""): Promise<string | null> {
  return new Promise((resolve) => {
    let current = start;
    let settled = false;
    const pathInput = h("input", { type: "text", id: "picker-path", "aria-label": "Folder path", spellcheck: "false",
      onkeydown: (e: KeyboardEvent) => { if (e.key === "Enter") { e.preventDefault(); void load(pathInput.value); } } });
    const list = h("div", { class: "picker-list", role: "list", id: "picker-list" });
    const err = h("div", { class: "error", role: "alert", style: "color:var(--bad);font-size:12px" });
    const done = (v: string | null, close: () => void) => { if (!settled) { settled = true; close(); resolve(v); } };
    let closeFn = () => {};
    async function load(path: string): Promise<void> {
      try {
        const l = await api.localFolders(path);
        current = l.path;
        pathInput.value = l.path;
        err.textContent = "";
        const rows: HTMLElement[] = [];
        if (l.parent) rows.push(h("button", { type: "button", role: "listitem", onclick: () => void load(l.parent!) }, icon("up"), ".. (up)"));
        for (const f of l.folders) {
          const name = f.split("/").pop() ?? f;
          rows.push(h("button", { type: "button", role: "listitem", "data-folder": f, onclick: () => void load(f) }, icon("folder"), name));
        }
        if (!l.folders.length) rows.push(h("div", { class: "muted", style: "padding:8px 10px" }, "No subfolders"));
        list.replaceChildren(...rows);
      } catch (e) {
        err.textContent = errorText(errorOf(e));
      }
    }
    closeFn = modal(title, [h("div", { class: "field" }, pathInput, err), list], (close) => [
      h("button", { class: "btn", onclick: () => done(null, close) }, "Cancel"),
      h("button", { class: "btn primary", id: "picker-choose", onclick: () => done(current, close) }, "Choose this folder"),
    ], true);
    void closeFn;
    void load(start);
  });
}
