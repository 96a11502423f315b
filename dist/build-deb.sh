#!/usr/bin/env bash
# Builds the desktop app's Debian package with the Tauri bundler:
#   target/release/bundle/deb/Cairn_<version>_amd64.deb  (under $CARGO_TARGET_DIR if set)
# Needs the packages ./test.sh installs (WebKitGTK, GTK) and Node.js with npm; installs
# tauri-cli (about 9 minutes, once) into ~/.cache/cairn/tools. Works without network access
# once the crates and the npm package are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${CAIRN_TOOLS:-${HOME}/.cache/cairn/tools}"
export PATH="${tools}/bin:${PATH}"
if ! command -v cargo-tauri >/dev/null 2>&1; then
    echo "==> installing tauri-cli"
    CARGO_TARGET_DIR="${tools}/target-tc" cargo install tauri-cli@2.12.4 --locked --root "${tools}" -q
    rm -rf "${tools}/target-tc"
fi
echo "==> building the window (ui/)"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
echo "==> building the package"
# Without the line tables the workspace's release profile keeps for profiling: 25 MB, not 125.
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true
(cd src-tauri && cargo tauri build --bundles deb)
ls -l "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb
