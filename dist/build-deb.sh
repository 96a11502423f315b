#!/usr/bin/env bash
# Builds Cairn's Debian package: the window (/usr/bin/cairn-desktop), the cairn command
# (/usr/bin/cairn), the scheduler as a systemd user unit (/usr/lib/systemd/user/), the tray's
# login entry (/etc/xdg/autostart/), the menu entry and the icons.
#
#   dist/build-deb.sh                       # release build; the .deb lands in target/deb/
#   dist/build-deb.sh --binaries DIR --out DIR --fast
#                                           # package cairn and cairn-desktop already built in
#                                           # DIR (the package's test does this), quickly
#
# Needs the packages ./test.sh installs (WebKitGTK, GTK, libdbus) and Node.js with npm for the
# window's frontend; no Tauri CLI: the package is assembled here with dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

binaries="" out="${CARGO_TARGET_DIR:-target}/deb" fast=0
while [ $# -gt 0 ]; do
    case "$1" in
        --binaries) binaries="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --fast) fast=1; shift ;;
        *) echo "build-deb.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
    esac
done

if [ -z "${binaries}" ]; then
    . dist/tools.sh
    build_ui
    echo "==> building cairn and cairn-desktop (release)"
    # Without the line tables the workspace's release profile keeps for profiling.
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
        cargo build --release --locked -p cairn-cli -p cairn-desktop --features cairn-desktop/custom-protocol
    binaries="${CARGO_TARGET_DIR:-target}/release"
fi
for b in cairn cairn-desktop; do
    [ -x "${binaries}/${b}" ] || { echo "build-deb.sh: ${binaries}/${b} is missing (build it first)" >&2; exit 1; }
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "${stage}"' EXIT
root="${stage}/cairn_${version}_${arch}"
install -d "${root}/DEBIAN" "${root}/usr/bin" "${root}/usr/lib/systemd/user" "${root}/etc/xdg/autostart" \
    "${root}/usr/share/applications" "${root}/usr/share/icons/hicolor/32x32/apps" \
    "${root}/usr/share/icons/hicolor/128x128/apps"
for b in cairn cairn-desktop; do
    # Stripped: the package carries no debug information.
    strip -o "${root}/usr/bin/${b}" "${binaries}/${b}"
    chmod 755 "${root}/usr/bin/${b}"
done
sed 's|@CAIRN@|/usr/bin/cairn|' dist/cairn-daemon.service > "${root}/usr/lib/systemd/user/cairn-daemon.service"
install -m 644 dist/cairn-tray.desktop "${root}/etc/xdg/autostart/cairn-tray.desktop"
install -m 644 dist/cairn-desktop.desktop "${root}/usr/share/applications/cairn-desktop.desktop"
install -m 644 src-tauri/icons/32x32.png "${root}/usr/share/icons/hicolor/32x32/apps/cairn-desktop.png"
install -m 644 src-tauri/icons/128x128.png "${root}/usr/share/icons/hicolor/128x128/apps/cairn-desktop.png"
size=$(du -sk "${root}" | cut -f1)
cat > "${root}/DEBIAN/control" <<CONTROL
Package: cairn
Version: ${version}
Architecture: ${arch}
Maintainer: Cairn developers <cairn@cairn-backup.org>
Installed-Size: ${size}
Depends: libwebkit2gtk-4.1-0, libgtk-3-0, libdbus-1-3
Recommends: libayatana-appindicator3-1
Section: utils
Priority: optional
Homepage: https://github.com/cairn-backup/cairn
Description: Deduplicating, compressed, encrypted backups
 Cairn backs up folders to local disks, USB drives, S3-compatible storage, SFTP, WebDAV, FTP,
 Azure and restic REST servers: deduplicated, compressed and encrypted, on a schedule, with a
 restore browser. The package holds the desktop app, which lives in the tray (with
 libayatana-appindicator3), the cairn command and the scheduler (a systemd user service the app
 enables when you allow backups in the background).
CONTROL
mkdir -p "${out}"
compress=(-Zxz)
[ "${fast}" = 1 ] && compress=(-Zgzip -z1)
deb="${out}/cairn_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "${root}" "${deb}" >/dev/null
echo "${deb}"
