#!/usr/bin/env bash
# bench/many_files.sh [WORKDIR]
#
# Memory against the number of files: backs up 100,000 and then 1,000,000 empty files (1,000 per
# directory) with Cairn and restic, first backup and unchanged backup, and prints peak RSS for
# each. The target: Cairn's peak RSS for 1,000,000 files at most twice that for 100,000 (memory
# flat in the number of files), and below restic's.
# Cairn's repository is a catalog destination with a generated password, as the desktop app and
# `cairn` without --repo use it; TYPED_PASSWORD=1 uses --repo with a typed password instead (its
# key derivation adds 64 MiB to every command's memory): see bench/cairn_repo.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(realpath -m "${1:-$HERE/work}")/many"
mkdir -p "$WORK"
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
(cd "$HERE/.." && cargo build --release --locked -q -p cairn-cli)
CAIRN="$(realpath "${CARGO_TARGET_DIR:-$HERE/../target}")/release/cairn"
. "$HERE/cairn_repo.sh"
export CAIRN_PASSWORD="benchmark password" RESTIC_PASSWORD="benchmark password"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"

# make_tree DIR N: N empty files, 1,000 per directory.
make_tree() {
    python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for d in range((n + 999) // 1000):
    sub = os.path.join(root, f"d{d:04}")
    os.makedirs(sub, exist_ok=True)
    for i in range(min(1000, n - d * 1000)):
        open(os.path.join(sub, f"f{i:04}"), "w").close()
PY
}

rss() { # command...: peak RSS in MiB and wall seconds
    /usr/bin/time -f "%M %e" -o "$WORK/time.txt" "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }
    awk '{printf "%.0f MiB %5.1f s", $1 / 1024, $2}' "$WORK/time.txt"
}

printf '%-10s %-22s %-22s %-22s %-22s\n' files "cairn first" "cairn unchanged" "restic first" "restic unchanged"
for n in 100000 1000000; do
    rm -rf "$WORK/tree" "$WORK/repo-cairn" "$WORK/repo-restic" "$WORK/home" "$WORK/cache"
    mkdir -p "$HOME"
    make_tree "$WORK/tree" "$n"
    cairn_repo_create "$WORK/repo-cairn"
    restic init --repo "$WORK/repo-restic" >/dev/null
    c1=$(rss "$CAIRN" backup "${CAIRN_REPO[@]}" --no-progress "$WORK/tree")
    c2=$(rss "$CAIRN" backup "${CAIRN_REPO[@]}" --no-progress "$WORK/tree")
    r1=$(rss restic backup --repo "$WORK/repo-restic" -q "$WORK/tree")
    r2=$(rss restic backup --repo "$WORK/repo-restic" -q "$WORK/tree")
    printf '%-10s %-22s %-22s %-22s %-22s\n' "$n" "$c1" "$c2" "$r1" "$r2"
done
rm -rf "$WORK/tree"
