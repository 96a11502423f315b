// The destination form: one layout per type, checked field by field as the user types; Test
// shows each step live; Save runs the Test and keeps the destination only if it passes.
import { api } from "./api.js";
import type { DestinationForm, FormCheck, SaveView, TestView, VendorView } from "./bindings.js";
import { KIND_NAMES, errorOf, errorText, h, icon, modal, toast } from "./dom.js";
import { subscribe } from "./events.js";
import type { Shell } from "./main.js";
import { stepList } from "./steps.js";

export const EMPTY: DestinationForm = {
  name: "", kind: "local", backupDir: "", remote: "", vendor: "aws", endpoint: "", region: "", bucket: "", account: "",
  container: "", azureAuth: "key", accessTier: "",
  accessKey: "", secretKey: "", storageClass: "", host: "", port: 0, user: "", keyFile: "", password: "",
  hostKey: "", scheme: "https", verifyTls: true, retries: 0, connections: 0, readOnly: false, exportConfig: false,
  repositoryPassword: "",
};

type Key = keyof DestinationForm;

export async function destinationForm(shell: Shell, editing: string | null): Promise<void> {
  const { main } = shell;
  const vendors: VendorView[] = await api.vendors();
  let form: DestinationForm = { ...EMPTY };
  if (editing) {
    const d = (await api.destinations()).find((x) => x.name === editing);
    if (!d) { toast(`No destination named ${editing}`, "bad"); shell.go("destinations"); return; }
    form = { ...EMPTY, ...d.form, vendor: d.form.vendor || (d.kind === "s3" && d.form.endpoint ? "custom" : "aws") };
  }
  const touched = new Set<string>();
  // The user's rclone remotes, asked for when the rclone form is first shown.
  let remotes: string[] | null = null;
  let remotesError = "";
  let remotesAsked = false;
  let lastCheck: FormCheck | null = null;
  let busy = false;

  const errors = new Map<string, HTMLElement>();
  const inputs = new Map<string, HTMLElement>();
  const fieldsBox = h("div", { class: "form", id: "destination-fields" });
  const resultBox = h("div", { id: "test-result" });
  const testBtn = h("button", { class: "btn", id: "test-destination", type: "button", onclick: () => void runTest() }, icon("test"), "Test");
  const saveBtn = h("button", { class: "btn primary", id: "save-destination", type: "button", disabled: true, onclick: () => void save() }, editing ? "Save changes" : "Save");

  main.append(
    h("div", { class: "page-head" },
      h("div", { style: "flex:1" },
        h("h1", {}, editing ? `Edit ${editing}` : "Add a destination"),
        h("p", {}, editing ? "Changes are tested before they replace the current settings." : "Cairn tests the destination before it saves it.")),
      h("button", { class: "btn", onclick: () => shell.go("destinations") }, "Back to the list")),
    h("section", { class: "card", "aria-label": "Destination settings" },
      fieldsBox, resultBox,
      h("div", { class: "form-actions" }, h("span", { class: "spacer" }), h("button", { class: "btn", onclick: () => shell.go("destinations") }, "Cancel"), testBtn, saveBtn)));

  function field(key: Key | string, label: string, control: HTMLElement, help?: string, full = false): HTMLElement {
    const id = `f-${key}`;
    control.id = id;
    const err = h("div", { class: "error", id: `${id}-error`, "aria-live": "polite" });
    control.setAttribute("aria-describedby", `${id}-error${help ? ` ${id}-help` : ""}`);
    errors.set(String(key), err);
    inputs.set(String(key), control);
    return h("div", { class: `field${full ? " full" : ""}` }, h("label", { for: id }, label), control,
      help ? h("div", { class: "help", id: `${id}-help` }, help) : null, err);
  }

  function text(key: Key, opts: { type?: string; placeholder?: string; disabled?: boolean } = {}): HTMLInputElement {
    const el = h("input", {
      type: opts.type ?? "text", value: String(form[key] ?? ""), placeholder: opts.placeholder ?? "", disabled: opts.disabled,
      autocomplete: "off", spellcheck: "false",
      oninput: () => {
        const v = el.value;
        (form as Record<string, unknown>)[key] = typeof EMPTY[key] === "number" ? Number(v) || 0 : v;
        touched.add(key);
        schedule();
      },
    });
    return el;
  }

  function select(key: Key, options: [string, string][], onchange?: () => void): HTMLSelectElement {
    const el = h("select", {
      onchange: () => { (form as Record<string, unknown>)[key] = el.value; touched.add(key); onchange?.(); schedule(); },
    }, options.map(([v, l]) => h("option", { value: v, selected: String(form[key]) === v }, l)));
    return el;
  }

  function checkbox(key: Key, label: string, disabled = false, onchange?: () => void): HTMLElement {
    const id = `f-${key}`;
    const el = h("input", { type: "checkbox", id, checked: Boolean(form[key]), disabled,
      onchange: () => { (form as Record<string, unknown>)[key] = el.checked; onchange?.(); schedule(); } });
    inputs.set(key, el);
    return h("div", { class: "check" }, el, h("label", { for: id }, label));
  }

  function kindPicker(): HTMLElement {
    const box = h("div", { class: "kind-picker full", role: "group", "aria-label": "Destination type" });
    for (const k of ["local", "s3", "sftp", "rest", "azure", "webdav", "ftp", "rclone"]) {
      box.append(h("button", {
        type: "button", "aria-pressed": String(form.kind === k), "data-kind": k, disabled: Boolean(editing) && form.kind !== k,
        onclick: () => { form.kind = k; render(); schedule(); },
      }, icon(k as "local"), KIND_NAMES[k]));
    }
    return box;
  }

  function render(): void {
    errors.clear();
    inputs.clear();
    const v = vendors.find((x) => x.id === form.vendor);
    const rows: (HTMLElement | null)[] = [
      h("div", { class: "field full" }, h("span", { class: "label" }, "Type"), kindPicker()),
      field("name", "Name", text("name", { placeholder: "usb-disk", disabled: Boolean(editing) }), "Letters, digits, - _ . (unique)"),
    ];
    if (form.kind === "local") {
      rows.push(field("backupDir", "Folder", text("backupDir", { placeholder: "/media/me/backup-disk/cairn" }), "An absolute path; created if missing."));
    }
    if (form.kind === "s3") {
      const vendorSel = select("vendor", vendors.map((x) => [x.id, x.name]), () => {
        const nv = vendors.find((x) => x.id === form.vendor);
        form.region = nv?.regions[0] ?? "";
        render();
      });
      const addressing = v && v.id !== "custom" ? `${v.pathStyle ? "Path-style" : "Virtual-hosted"} addressing.` : "";
      rows.push(h("div", { class: "field full help", id: "s3-help" },
        "Amazon S3 and every service that speaks its API: Backblaze B2, Google Cloud Storage, Wasabi, Cloudflare R2 and the others below. Choose the provider for its endpoint and regions; Custom for any other."));
      rows.push(field("vendor", "Provider", vendorSel, v ? `${v.help} ${addressing}`.trim() : undefined));
      if (v && v.regions.length) {
        if (!v.regions.includes(form.region)) form.region = v.regions[0];
        rows.push(field("region", "Region", select("region", v.regions.map((r) => [r, r]))));
      } else {
        rows.push(field("region", "Region", text("region", { placeholder: "us-east-1" })));
      }
      if (form.vendor === "custom" || (v && !v.endpoint)) {
        rows.push(field("endpoint", form.vendor === "custom" ? "Endpoint template" : "Endpoint",
          text("endpoint", { placeholder: form.vendor === "custom" ? "https://s3.{region}.example.com" : "https://minio.example.com:9000" }),
          form.vendor === "custom" ? "{region} is replaced by the region; put {bucket} in the host name for virtual-hosted addressing." : undefined, true));
      }
      if (v?.needsAccount) rows.push(field("account", "Account id / namespace", text("account")));
      rows.push(
        field("bucket", "Bucket", text("bucket", { placeholder: "my-backups" })),
        field("backupDir", "Folder in the bucket", text("backupDir", { placeholder: "laptop" }), "Leave empty to use the whole bucket."),
        field("accessKey", "Access key", text("accessKey")),
        field("secretKey", "Secret key", text("secretKey", { type: "password", placeholder: editing ? "unchanged" : "" }), "Stored encrypted; never shown again."),
        field("storageClass", "Storage class for data", text("storageClass", { placeholder: "STANDARD" }), "Metadata always stays in the standard class."),
        h("div", { class: "field full" }, h("span", { class: "label" }, "Endpoint for this region"),
          h("div", { class: "resolved", id: "resolved-endpoint", "aria-live": "polite" }, "…")));
    }
    if (form.kind === "sftp") {
      rows.push(
        field("host", "Server", text("host", { placeholder: "nas.local" })),
        field("port", "Port", text("port", { type: "number", placeholder: "22" })),
        field("user", "User", text("user")),
        field("backupDir", "Folder on the server", text("backupDir", { placeholder: "/srv/backups/laptop" }), "An absolute path."),
        field("keyFile", "Private key file", text("keyFile", { placeholder: "/home/me/.ssh/id_ed25519" }), "Or leave empty and give the password."),
        field("password", form.keyFile ? "Key passphrase" : "Password", text("password", { type: "password", placeholder: editing ? "unchanged" : "" })),
        form.hostKey ? h("div", { class: "field full" }, h("span", { class: "label" }, "Trusted host key"), h("div", { class: "fingerprint" }, form.hostKey)) : null);
    }
    // The protocol choices differ by type: keep the one chosen only if it is one of this type's.
    const ftpKind = form.kind === "ftp";
    if (["rest", "webdav", "ftp"].includes(form.kind) && ["ftp", "ftps"].includes(form.scheme) !== ftpKind) {
      form.scheme = ftpKind ? "ftp" : "https";
    }
    if (form.kind === "rest") {
      rows.push(
        field("scheme", "Protocol", select("scheme", [["https", "HTTPS"], ["http", "HTTP (unencrypted)"]])),
        field("host", "Server", text("host", { placeholder: "backup.example.com" })),
        field("port", "Port", text("port", { type: "number", placeholder: "8000" })),
        field("backupDir", "Path on the server", text("backupDir", { placeholder: "/laptop" })),
        field("user", "User", text("user"), "If the server asks for one."),
        field("password", "Password", text("password", { type: "password", placeholder: editing ? "unchanged" : "" })));
    }
    if (form.kind === "webdav") {
      rows.push(
        h("div", { class: "field full help", id: "webdav-help" },
          "A folder on a WebDAV server: Nextcloud, ownCloud, a NAS, Apache or nginx with WebDAV. For Nextcloud the path is /remote.php/dav/files/USER/FOLDER; use an app password."),
        field("scheme", "Protocol", select("scheme", [["https", "HTTPS"], ["http", "HTTP (unencrypted)"]])),
        field("host", "Server", text("host", { placeholder: "cloud.example.com" })),
        field("port", "Port", text("port", { type: "number", placeholder: "443" })),
        field("backupDir", "Path on the server", text("backupDir", { placeholder: "/remote.php/dav/files/me/Backups" })),
        field("user", "User", text("user")),
        field("password", "Password", text("password", { type: "password", placeholder: editing ? "unchanged" : "" }), "Stored encrypted; never shown again."));
    }
    if (form.kind === "ftp") {
      rows.push(
        h("div", { class: "field full help", id: "ftp-help" },
          "A folder on an FTP server, such as a NAS or a web host's storage. Prefer FTPS: plain FTP sends the password unencrypted (the backups themselves are always encrypted)."),
        field("scheme", "Security", select("scheme", [["ftp", "TLS when the server offers it"], ["ftps", "TLS required (FTPS)"]])),
        field("host", "Server", text("host", { placeholder: "ftp.example.com" })),
        field("port", "Port", text("port", { type: "number", placeholder: "21" })),
        field("backupDir", "Folder on the server", text("backupDir", { placeholder: "backups/laptop" }), "Relative to the login folder, or absolute if it starts with /; created if missing."),
        field("user", "User", text("user"), "Leave empty for an anonymous login."),
        field("password", "Password", text("password", { type: "password", placeholder: editing ? "unchanged" : "" }), "Stored encrypted; never shown again."));
    }
    if (form.kind === "rclone") {
      if (!remotesAsked) {
        remotesAsked = true;
        api.rcloneRemotes().then((r) => { remotes = r; }, (e) => { remotes = []; remotesError = errorText(errorOf(e)); })
          .finally(() => { if (form.kind === "rclone") { render(); schedule(); } });
      }
      const list = remotes ?? [];
      if (!form.remote && list.length) form.remote = list[0];
      const choices = form.remote && !list.includes(form.remote) ? [form.remote, ...list] : list;
      const remoteHelp = remotes === null ? "Looking for your rclone remotes…"
        : remotesError ? remotesError
        : list.length ? "From your rclone configuration (rclone listremotes)."
        : "rclone has no remotes yet: run rclone config to set one up, then come back.";
      rows.push(
        h("div", { class: "field full help", id: "rclone-help" },
          "Google Drive, OneDrive, Dropbox, pCloud, Mega, Box and every other storage rclone reaches. Set the remote up once with rclone config: its sign-in stays in rclone's configuration, and Cairn runs rclone to reach it. For S3, B2, SFTP, WebDAV or FTP, the direct types are faster."),
        field("remote", "Remote", choices.length ? select("remote", choices.map((r) => [r, r])) : text("remote", { placeholder: "gdrive" }), remoteHelp),
        field("backupDir", "Folder on the remote", text("backupDir", { placeholder: "Backups/laptop" }), "Created if missing; empty for the remote's top folder."));
    }
    if (form.kind === "azure") {
      rows.push(
        h("div", { class: "field full help", id: "azure-help" },
          "Azure Blob Storage: a container in a storage account. Use the account key (Access keys in the portal), or a SAS token with read, write, delete, list and create permissions on the Blob service. Cairn creates the container if it is missing."),
        field("account", "Storage account", text("account", { placeholder: "mybackups" }), "As in ACCOUNT.blob.core.windows.net."),
        field("container", "Container", text("container", { placeholder: "cairn" })),
        field("backupDir", "Folder in the container", text("backupDir", { placeholder: "laptop" }), "Leave empty to use the whole container."),
        field("azureAuth", "Sign in with", select("azureAuth", [["key", "Account key"], ["sas", "SAS token"]], render)),
        field("secretKey", form.azureAuth === "sas" ? "SAS token" : "Account key",
          text("secretKey", { type: "password", placeholder: editing ? "unchanged" : "" }), "Stored encrypted; never shown again."),
        field("accessTier", "Access tier for data", select("accessTier", [["", "Account default"], ["Hot", "Hot"], ["Cool", "Cool"], ["Cold", "Cold"]]),
          "Cool and Cold cost less to keep and more to read; metadata stays in the default tier."),
        field("endpoint", "Endpoint", text("endpoint", { placeholder: "https://ACCOUNT.blob.core.windows.net" }),
          "Leave empty for Azure itself; for Azurite or a sovereign cloud, its Blob endpoint.", true));
    }
    if (form.kind !== "local") {
      rows.push(field("retries", "Retries", text("retries", { type: "number", placeholder: "3" }), "Attempts after a network error."));
      rows.push(field("connections", "Connections", text("connections", { type: "number", placeholder: "default" })));
    }
    if (["s3", "rest", "azure", "webdav", "ftp"].includes(form.kind)) {
      rows.push(h("div", { class: "field full" }, checkbox("verifyTls", "Verify TLS certificates", false, render),
        form.verifyTls ? null : h("div", { class: "warning", role: "alert", id: "tls-warning" },
          "Certificates are not checked: anyone on the network path could read or alter what Cairn sends. Use this only for a server you run, on a network you trust.")));
    }
    rows.push(
      h("div", { class: "field full" }, checkbox("readOnly", "Read-only: restore and browse only, never write", Boolean(editing)),
        h("div", { class: "help" }, editing ? "Read-only is chosen when a destination is added." : "For a repository another machine writes to.")),
      h("div", { class: "field full" }, checkbox("exportConfig", "Keep an encrypted copy of Cairn's settings here (for disaster recovery)")));
    if (!editing) {
      rows.push(field("repositoryPassword", "Existing repository's password", text("repositoryPassword", { type: "password" }),
        "Only to adopt a repository that is already there; otherwise Cairn generates a strong one and keeps it encrypted.", true));
    }
    fieldsBox.replaceChildren(...rows.filter((r): r is HTMLElement => r !== null));
    showCheck();
  }

  let timer = 0;
  function schedule(): void {
    clearTimeout(timer);
    timer = window.setTimeout(() => void check(), 180);
  }

  async function check(): Promise<void> {
    try {
      lastCheck = await api.checkDestination(form, Boolean(editing));
    } catch (e) {
      lastCheck = { ok: false, errors: [{ field: "name", message: errorText(errorOf(e)) }], url: null, resolvedEndpoint: null };
    }
    showCheck();
  }

  function showCheck(showAll = false): void {
    for (const [k, el] of errors) {
      const problem = lastCheck?.errors.find((e) => e.field === k);
      const show = problem && (showAll || touched.has(k));
      el.textContent = show ? problem.message : "";
      inputs.get(k)?.setAttribute("aria-invalid", show ? "true" : "false");
    }
    // A problem on a field this form does not show (the type, say) is shown on the name.
    const unplaced = lastCheck?.errors.filter((e) => !errors.has(e.field)) ?? [];
    if (unplaced.length && (showAll || touched.size)) {
      const el = errors.get("name");
      if (el && !el.textContent) el.textContent = unplaced.map((e) => `${e.field}: ${e.message}`).join("; ");
    }
    const resolved = document.getElementById("resolved-endpoint");
    if (resolved) resolved.textContent = lastCheck?.resolvedEndpoint ?? "fill in the fields above";
    saveBtn.disabled = busy || !lastCheck?.ok;
    testBtn.disabled = busy || !lastCheck?.url;
  }

  function setBusy(b: boolean): void {
    busy = b;
    showCheck();
  }

  /** Runs `f` with the Test's steps shown live; offers an unknown SSH host key for acceptance. */
  async function withSteps<T extends TestView | SaveView>(label: string, f: (op: string) => Promise<T>, again: () => Promise<void>): Promise<T | null> {
    const op = `form:${Date.now()}`;
    const steps = stepList();
    resultBox.replaceChildren(h("h2", { style: "padding:0 20px" }, label), steps.el);
    steps.running("working…");
    const off = subscribe((e) => { if (e.type === "testStep" && e.op === op) steps.add(e.step); });
    setBusy(true);
    try {
      const r = await f(op);
      const test: TestView = "test" in r ? (r as SaveView).test : (r as TestView);
      steps.finish(test);
      if (!test.ok && test.unknownHostKey) hostKeyDialog(test.unknownHostKey, again);
      return r;
    } catch (e) {
      const err = errorOf(e);
      steps.fail(errorText(err));
      if (err.field && errors.has(err.field)) { touched.add(err.field); showCheck(true); }
      return null;
    } finally {
      off();
      setBusy(false);
    }
  }

  function hostKeyDialog(fingerprint: string, again: () => Promise<void>): void {
    modal("Unknown server key", [
      h("p", {}, `Cairn has not connected to ${form.host} before. The server identifies itself with this key:`),
      h("p", { class: "fingerprint", id: "host-key-fingerprint" }, fingerprint),
      h("p", { class: "muted" }, "Compare it with the one your server's administrator gives you (ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub). Accept it only if they match."),
    ], (close) => [
      h("button", { class: "btn", id: "reject-host-key", onclick: () => { close(); toast("Host key rejected: nothing was sent to the server", ""); } }, "Reject"),
      h("button", { class: "btn primary", id: "accept-host-key", onclick: () => { close(); form.hostKey = fingerprint; render(); void again(); } }, "Trust this key"),
    ]);
  }

  async function runTest(): Promise<void> {
    await withSteps("Test", (op) => api.testForm(op, form), runTest);
  }

  async function save(): Promise<void> {
    await check();
    if (!lastCheck?.ok) { touched.clear(); showCheck(true); return; }
    const r = await withSteps(editing ? "Testing the new settings" : "Testing before saving",
      (op) => (editing ? api.updateDestination(op, form) : api.createDestination(op, form)), save);
    if (r && r.destination) {
      toast(`Destination ${r.destination.name} saved`, "ok");
      shell.go("destinations");
    }
  }

  render();
  void check();
}
