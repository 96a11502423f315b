#!/usr/bin/env bash
# Builds the desktop app's Debian package with the Tauri bundler:
#   target/release/bundle/deb/Cairn_<version>_amd64.deb  (under $CARGO_TARGET_DIR if set)
# Needs the packages ./test.sh installs (WebKitGTK, GTK) and Node.js with npm; installs
# tauri-cli (about 9 minutes, once) into ~/.cache/cairn/tools. Works without network access
# once the crates and the npm package are cached.
set -euo pipefail
cd "$(dirname "$0")/.."
. dist/tools.sh
cargo_tool cargo-tauri tauri-cli@2.12.4 "the Tauri bundler; about 9 minutes, once"
build_ui
echo "==> building the package"
# Without the line tables the workspace's release profile keeps for profiling: a 22 MB binary, not 125 MB.
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true
(cd src-tauri && cargo tauri build --bundles deb)
ls -l "${CARGO_TARGET_DIR:-target}"/release/bundle/deb/*.deb
