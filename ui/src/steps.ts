// The live list of a Test's steps, each with its time, then the capabilities found.
import type { StepView, TestView } from "./bindings.js";
import { h, icon } from "./dom.js";

export interface StepList {
  el: HTMLElement;
  add(step: StepView): void;
  running(text: string): void;
  finish(result: TestView): void;
  fail(text: string): void;
}

export function stepList(): StepList {
  const ul = h("ul", { class: "steps", "aria-live": "polite", "data-testid": "test-steps" });
  const pending = h("li", { class: "pending" });
  const extra = h("div");
  const el = h("div", {}, ul, extra);
  const seen: StepView[] = [];
  const render = (s: StepView): HTMLElement =>
    h("li", { class: s.ok ? "ok" : "fail", "data-step": s.name },
      icon(s.ok ? "ok" : "fail", `status-icon ${s.ok ? "ok" : "fail"}`),
      h("span", {}, s.name),
      h("span", { class: "ms" }, `${s.millis} ms`),
      s.detail ? h("span", { class: "detail" }, s.detail) : null);
  return {
    el,
    add(step) {
      seen.push(step);
      pending.remove();
      ul.append(render(step), pending);
    },
    running(text) {
      pending.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), h("span", {}, text));
      ul.append(pending);
    },
    finish(result) {
      pending.remove();
      // Steps the events did not bring (a window opened late) come from the result.
      if (seen.length < result.steps.length) {
        ul.replaceChildren(...result.steps.map(render));
      }
      extra.replaceChildren(
        result.ok
          ? h("div", { class: "steps", "data-testid": "test-passed" },
              h("p", {}, h("strong", {}, "Test passed. "), "Found: ", result.capabilities.join("; "), "."))
          : h("div", { class: "inline-error", role: "alert", "data-testid": "test-failed" }, result.error ?? "the test failed"));
    },
    fail(text) {
      pending.remove();
      extra.replaceChildren(h("div", { class: "inline-error", role: "alert" }, text));
    },
  };
}
