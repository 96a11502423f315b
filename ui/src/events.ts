// Events of long operations, fanned out to the screens that wait for them.
import type { GuiEvent } from "./bindings.js";

type Listener = (e: GuiEvent) => void;
const listeners = new Set<Listener>();

/** Subscribes to command events; returns the unsubscribe function. */
export function subscribe(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Hands an event to every subscriber. */
export function dispatch(e: GuiEvent): void {
  for (const l of listeners) l(e);
}
