#!/usr/bin/env bash
# bench/before_after.sh OLD_CAIRN NEW_CAIRN CORPUS [WORKDIR]
#
# Two builds of Cairn on the same corpus in the same hour: each backs the corpus up into a
# repository of its own (so that a format change between them does not matter), then restores
# it and runs `check --read-data`, taking turns, ROUNDS times (default 3). As root, the page
# cache is dropped before every step. Prints wall and CPU seconds per step: a change's own cost,
# free of the drift between benchmark runs on different days.
#
# Build the older binary from a worktree with a target directory of its own: two checkouts
# sharing one target directory can leave one's crates built from the other's sources.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 OLD_CAIRN NEW_CAIRN CORPUS [WORKDIR]" >&2; exit 2; }
OLD="$(realpath "$1")" NEW="$(realpath "$2")" CORPUS="$(realpath "$3")"
WORK="$(realpath -m "${4:-$(dirname "$0")/work/before_after}")"
ROUNDS="${ROUNDS:-3}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
export CAIRN_PASSWORD="benchmark password"
rm -rf "$WORK"; mkdir -p "$WORK"
cold() { if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
declare -A BIN=([old]="$OLD" [new]="$NEW")
for v in old new; do
    "${BIN[$v]}" init --repo "$WORK/repo-$v" >/dev/null
    cold
    /usr/bin/time -f "$v backup  %e s  cpu %U+%S s" "${BIN[$v]}" backup --repo "$WORK/repo-$v" -q "$CORPUS" >/dev/null
done
for r in $(seq "$ROUNDS"); do
    for v in old new; do
        rm -rf "$WORK/out-$v"; cold
        /usr/bin/time -f "$v restore %e s  cpu %U+%S s" \
            "${BIN[$v]}" restore --repo "$WORK/repo-$v" -q latest --target "$WORK/out-$v" >/dev/null
        cold
        /usr/bin/time -f "$v check   %e s  cpu %U+%S s" "${BIN[$v]}" check --repo "$WORK/repo-$v" --read-data -q >/dev/null
    done
done
rm -rf "$WORK"
