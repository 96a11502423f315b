// Screen names as the rest of Cairn gives them (a notification's click, an overview warning):
// `overview`, `settings`, `job:NAME`, `destination:NAME`.
import type { Shell } from "./main.js";

export function openScreen(shell: Shell, screen: string): void {
  if (screen.startsWith("job:")) shell.go("jobs");
  else if (screen.startsWith("destination:")) shell.go("destinations");
  else if (screen === "settings") shell.go("settings");
  else shell.go("overview");
}
