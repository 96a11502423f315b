// Copies the static files (HTML, CSS) next to the compiled modules in dist/.
import { copyFileSync, mkdirSync } from "node:fs";
mkdirSync("dist", { recursive: true });
for (const f of ["index.html", "styles.css"]) copyFileSync(`static/${f}`, `dist/${f}`);
