#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (Debian packages, when run as root); a
# test whose server or tool is missing fails, never skips.
#
#   ./test.sh
set -euo pipefail
cd "$(dirname "$0")"

# --- prerequisites -------------------------------------------------------------------------
# mkfifo (coreutils), setpriv and mount (util-linux): the end-to-end tests use them to make a
# FIFO, to read files as an unprivileged user, and to fill a small tmpfs; tar and gzip: to unpack
# what `cairn dump` writes; openssl: a TLS server with a self-signed certificate; rclone: the
# restic REST server (`rclone serve restic`); sshd and ssh-keygen: the SFTP server; pure-ftpd:
# the FTP server; npm: the
# window's TypeScript and Azurite (the Azure Blob test server); faketime and unshare: a prune
# whose clock is wrong, and one in another process-id namespace (tests/e2e/leases.rs);
# dbus-daemon: a private session bus with a notification listener (desktop notifications);
# dpkg-deb: the desktop package (dist/build-deb.sh), installed by its test with dpkg -i; script:
# a terminal for the progress bars' test; python3: the X client that closes the window (tray test).
missing=()
for tool in mkfifo:coreutils setpriv:util-linux unshare:util-linux mount:mount tar:tar gzip:gzip openssl:openssl \
    rclone:rclone ssh-keygen:openssh-client /usr/sbin/sshd:openssh-server npm:npm /usr/sbin/pure-ftpd:pure-ftpd \
    faketime:faketime dbus-daemon:dbus-daemon dpkg-deb:dpkg script:bsdutils python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
# The desktop app: WebKitGTK and GTK to build it, Xvfb and WebKitGTK's WebDriver to drive its
# real window in the end-to-end test (src-tauri/tests/webdriver.rs), the AppIndicator library for
# its tray icon, and xwininfo (x11-utils) to see which windows it opened.
for p in libdbus-1-dev libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev librsvg2-dev libayatana-appindicator3-dev \
    libayatana-appindicator3-1 x11-utils libxdo-dev libssl-dev build-essential pkg-config file xvfb xauth webkit2gtk-driver; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "warning: missing ${missing[*]}; the tests that need them will fail (run as root to install)" >&2
    fi
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# Real servers the destination tests start on 127.0.0.1 (see tests/src/servers.rs): s3s-fs, an
# S3-compatible server that verifies SigV4; azurite-blob, Azure Blob's emulator; tauri-driver,
# the WebDriver server for the desktop app's end-to-end test. Installed once into a cache
# outside the clone.
. dist/tools.sh
cargo_tool s3s-fs s3s-fs@0.14.1 "the S3 test server; about 4 minutes, once" --features binary
cargo_tool tauri-driver tauri-driver@2.1.0 "about a minute, once"
npm_tool azurite-blob azurite@3.35.0 "the Azure Blob test server; about 30 seconds, once"
build_ui

# --- checks and tests ----------------------------------------------------------------------
echo "==> formatting"
cargo fmt --all --check
echo "==> clippy"
cargo clippy --workspace --all-targets --locked -q -- -D warnings
echo "==> tests (the desktop app's WebDriver test among them; screenshots in target/screenshots/)"
cargo test --workspace --locked
echo "==> cairn-core without the zstd feature (the DEFLATE-only build appliances may use)"
cargo test -p cairn-core --lib --locked
