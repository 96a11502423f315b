// A list that only renders the rows in view, so that a folder of 100,000 entries or thousands
// of snapshots scroll as fast as ten. Keyboard: arrows, Home/End, PageUp/PageDown move; Enter
// opens; Space toggles the selection.
import { h } from "./dom.js";

export interface VListOptions {
  rowHeight: number;
  label: string;
  id: string;
  render: (i: number, row: HTMLElement) => void;
  onActivate?: (i: number) => void;
  onToggle?: (i: number) => void;
  multiselect?: boolean;
}

export class VList {
  readonly el: HTMLElement;
  private spacer: HTMLElement;
  private count = 0;
  private active = -1;
  private frame = 0;

  constructor(private o: VListOptions) {
    this.spacer = h("div", { class: "spacer" });
    this.el = h("div", {
      class: "vlist", tabindex: "0", role: "listbox", id: o.id, "aria-label": o.label,
      "aria-multiselectable": o.multiselect ? "true" : "false",
      onscroll: () => this.schedule(),
      onkeydown: (e: KeyboardEvent) => this.key(e),
    }, this.spacer);
    new ResizeObserver(() => this.schedule()).observe(this.el);
  }

  setCount(n: number): void {
    this.count = n;
    this.spacer.style.height = `${n * this.o.rowHeight}px`;
    if (this.active >= n) this.active = n - 1;
    this.el.scrollTop = Math.min(this.el.scrollTop, Math.max(0, n * this.o.rowHeight - this.el.clientHeight));
    this.draw();
  }

  /** Draws the visible rows again (data arrived, selection changed). */
  refresh(): void {
    this.schedule();
  }

  reset(n: number): void {
    this.active = -1;
    this.el.scrollTop = 0;
    this.setCount(n);
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
  }

  private draw(): void {
    const rh = this.o.rowHeight;
    const top = this.el.scrollTop;
    const first = Math.max(0, Math.floor(top / rh) - 5);
    const last = Math.min(this.count, Math.ceil((top + (this.el.clientHeight || 600)) / rh) + 5);
    const rows: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const row = h("div", { class: "vrow", role: "option", id: `${this.o.id}-row-${i}`, "data-index": String(i), style: `top:${i * rh}px;height:${rh}px`,
        onclick: (e: MouseEvent) => {
          this.setActive(i);
          // A row's checkbox toggles the selection; a click elsewhere opens the row.
          if ((e.target as HTMLElement).closest("input")) this.o.onToggle?.(i);
          else this.o.onActivate?.(i);
        } });
      this.o.render(i, row);
      if (i === this.active) row.classList.add("active");
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
    if (this.active >= 0) this.el.setAttribute("aria-activedescendant", `${this.o.id}-row-${this.active}`);
  }

  private setActive(i: number): void {
    if (this.count === 0) return;
    this.active = Math.max(0, Math.min(this.count - 1, i));
    const rh = this.o.rowHeight;
    const y = this.active * rh;
    if (y < this.el.scrollTop) this.el.scrollTop = y;
    else if (y + rh > this.el.scrollTop + this.el.clientHeight) this.el.scrollTop = y + rh - this.el.clientHeight;
    this.draw();
  }

  private key(e: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.el.clientHeight / this.o.rowHeight) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) this.setActive((this.active < 0 ? -1 : this.active) + moves[e.key]);
    else if (e.key === "Home") this.setActive(0);
    else if (e.key === "End") this.setActive(this.count - 1);
    else if (e.key === "Enter" && this.active >= 0) this.o.onActivate?.(this.active);
    else if (e.key === " " && this.active >= 0) this.o.onToggle?.(this.active);
    else return;
    e.preventDefault();
  }
}
