#!/usr/bin/env bash
# bench/many_snapshots.sh [WORKDIR]
#
# Memory on a large repository: FILES files (default 1,000,000; 1,000 per directory, a few hundred
# bytes each) backed up SNAPSHOTS times (default 100), with a day of changes between backups
# (CHANGES files, default 200, rewritten with new contents in a rotating set of directories, and
# one new directory of 10 files). Then, for Cairn and for restic on the same tree in the same run:
#
#   snapshots      list the snapshots
#   ls             list every file of the newest snapshot
#   restore-one    restore one file of the newest snapshot
#   forget-prune   forget all but the newest 50 snapshots and prune
#   check          check the repository afterwards
#
# Each step is measured with /usr/bin/time (peak RSS, wall time); the building backups report
# their highest peak RSS. Prints one table with the ratio Cairn/restic. SIZES="100000 1000000"
# runs the whole thing for each file count, so that the flatness of memory in the number of
# files can be read off the same table. Targets (issue 3): peak RSS at most 0.7x restic's, and
# at most 2x between 100,000 and 1,000,000 files.
#
# Cairn's repository is a catalog destination with a generated password, as the desktop app and
# `cairn` without --repo use it; TYPED_PASSWORD=1 uses --repo with a typed password instead (its
# key derivation adds 64 MiB to every command's memory): see bench/cairn_repo.sh.
#
# Takes about 80 minutes at the default size on a 2-core machine, most of it restic's 100
# backups of a million files (25 to 50 s each, against Cairn's 5 to 10 s); RESTIC=0 measures
# Cairn alone (the table then leaves restic's columns empty).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(realpath -m "${1:-$HERE/work}")/snapshots"
SIZES="${SIZES:-${FILES:-1000000}}"
SNAPSHOTS="${SNAPSHOTS:-100}"
CHANGES="${CHANGES:-200}"
KEEP=$((SNAPSHOTS / 2))
mkdir -p "$WORK"
RESTIC="${RESTIC:-1}"
[ "$RESTIC" = 0 ] || command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
(cd "$HERE/.." && cargo build --release --locked -q -p cairn-cli)
CAIRN="$(realpath "${CARGO_TARGET_DIR:-$HERE/../target}")/release/cairn"
. "$HERE/cairn_repo.sh"
export CAIRN_PASSWORD="benchmark password" RESTIC_PASSWORD="benchmark password"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
RESULTS="$WORK/results"
rm -f "$RESULTS"

# make_tree DIR N: N files of 100 to 600 bytes, 1,000 per directory.
make_tree() {
    python3 - "$1" "$2" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
for d in range((n + 999) // 1000):
    sub = os.path.join(root, f"d{d:04}")
    os.makedirs(sub, exist_ok=True)
    for i in range(min(1000, n - d * 1000)):
        with open(os.path.join(sub, f"f{i:04}"), "wb") as f:
            f.write(rng.randbytes(rng.randrange(100, 600)))
PY
}

# change DIR N ROUND CHANGES: a day of changes, CHANGES files rewritten, one directory added.
change() {
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import os, random, sys
root, n, rnd, changes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(rnd)
dirs = (n + 999) // 1000
for k in range(changes):
    d = (rnd * 7 + k % 5 * 13) % dirs
    i = rng.randrange(min(1000, n - d * 1000))
    with open(os.path.join(root, f"d{d:04}", f"f{i:04}"), "wb") as f:
        f.write(rng.randbytes(rng.randrange(100, 600)))
new = os.path.join(root, f"new{rnd:03}")
os.makedirs(new, exist_ok=True)
for i in range(10):
    with open(os.path.join(new, f"n{i}"), "wb") as f:
        f.write(rng.randbytes(300))
PY
}

# measure SIZE TOOL STEP command...: records peak RSS (MiB) and wall time of one command.
measure() {
    local size="$1" tool="$2" step="$3"; shift 3
    [ "$tool" = cairn ] || [ "$RESTIC" != 0 ] || return 0
    /usr/bin/time -f "%M %e" -o "$WORK/time.txt" "$@" > "$WORK/out.txt" 2>&1 || {
        echo "FAILED: $tool $step" >&2; tail -20 "$WORK/out.txt" >&2; exit 1; }
    read -r kib secs < "$WORK/time.txt"
    printf '%s\t%s\t%s\t%s\t%s\n' "$size" "$tool" "$step" "$((kib / 1024))" "$secs" >> "$RESULTS"
}

for n in $SIZES; do
    rm -rf "$WORK/tree" "$WORK/repo-cairn" "$WORK/repo-restic" "$WORK/home" "$WORK/cache" "$WORK/one-"*
    mkdir -p "$HOME"
    echo "==> $n files: building the tree"
    make_tree "$WORK/tree" "$n"
    cairn_repo_create "$WORK/repo-cairn"
    [ "$RESTIC" = 0 ] || restic init --repo "$WORK/repo-restic" >/dev/null 2>&1
    echo "==> $n files: $SNAPSHOTS backups each"
    for r in $(seq 1 "$SNAPSHOTS"); do
        [ "$r" = 1 ] || change "$WORK/tree" "$n" "$r" "$CHANGES"
        measure "$n" cairn "backup-$r" "$CAIRN" backup "${CAIRN_REPO[@]}" --no-progress "$WORK/tree"
        measure "$n" restic "backup-$r" restic backup --repo "$WORK/repo-restic" -q "$WORK/tree"
        [ $((r % 10)) != 0 ] || echo "    $r of $SNAPSHOTS"
    done
    one="$WORK/tree/d$(printf %04d $(((n / 1000) / 2)))/f0500"
    echo "==> $n files: the steps"
    measure "$n" cairn snapshots "$CAIRN" snapshots "${CAIRN_REPO[@]}"
    measure "$n" restic snapshots restic snapshots --repo "$WORK/repo-restic"
    measure "$n" cairn ls "$CAIRN" ls "${CAIRN_REPO[@]}" latest
    [ "$(wc -l < "$WORK/out.txt")" -ge "$n" ] || { echo "cairn ls listed $(wc -l < "$WORK/out.txt") entries" >&2; exit 1; }
    measure "$n" restic ls restic ls --repo "$WORK/repo-restic" latest
    measure "$n" cairn restore-one "$CAIRN" restore "${CAIRN_REPO[@]}" --no-progress "latest:$one" --target "$WORK/one-cairn"
    cmp "$one" "$WORK/one-cairn/f0500"
    measure "$n" restic restore-one restic restore --repo "$WORK/repo-restic" latest --include "$one" --target "$WORK/one-restic"
    [ "$RESTIC" = 0 ] || cmp "$one" "$WORK/one-restic$one"
    measure "$n" cairn forget-prune "$CAIRN" forget "${CAIRN_REPO[@]}" --keep-last "$KEEP" --prune
    measure "$n" restic forget-prune restic forget --repo "$WORK/repo-restic" --keep-last "$KEEP" --prune
    measure "$n" cairn check "$CAIRN" check "${CAIRN_REPO[@]}"
    measure "$n" restic check restic check --repo "$WORK/repo-restic"
    [ "$("$CAIRN" snapshots "${CAIRN_REPO[@]}" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$KEEP" ] || {
        echo "cairn kept the wrong number of snapshots" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$n" cairn size "$(du -sb "$WORK/repo-cairn" | cut -f1)" >> "$RESULTS"
    [ "$RESTIC" = 0 ] || printf '%s\t%s\t%s\t%s\n' "$n" restic size "$(du -sb "$WORK/repo-restic" | cut -f1)" >> "$RESULTS"
done
rm -rf "$WORK/tree"

python3 - "$RESULTS" "$SNAPSHOTS" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
snaps = sys.argv[2]
rss, wall, size = {}, {}, {}
for r in rows:
    n, tool, step = r[0], r[1], r[2]
    if step == "size":
        size[(n, tool)] = int(r[3]); continue
    kib, secs = int(r[3]), float(r[4])
    if step.startswith("backup-"):
        key = (n, tool, "backups")
        rss[key] = max(rss.get(key, 0), kib)
        wall[key] = wall.get(key, 0) + secs
        if step == "backup-1":
            rss[(n, tool, "first")] = kib; wall[(n, tool, "first")] = secs
    else:
        rss[(n, tool, step)] = kib; wall[(n, tool, step)] = secs
sizes = sorted({n for n, _, _ in rss}, key=int)
steps = ["first", "backups", "snapshots", "ls", "restore-one", "forget-prune", "check"]
print(f"\n{'files':>9} {'step':<13} {'cairn MiB':>9} {'restic MiB':>10} {'ratio':>6} {'cairn s':>8} {'restic s':>9} {'ratio':>6}")
for n in sizes:
    for s in steps:
        c, r = rss[(n, "cairn", s)], rss.get((n, "restic", s))
        cw, rw = wall[(n, "cairn", s)], wall.get((n, "restic", s))
        label = f"{snaps} backups" if s == "backups" else s
        if r is None:
            print(f"{int(n):>9,} {label:<13} {c:>9} {'-':>10} {'-':>6} {cw:>8.1f} {'-':>9} {'-':>6}")
        else:
            print(f"{int(n):>9,} {label:<13} {c:>9} {r:>10} {c / r:>6.2f} {cw:>8.1f} {rw:>9.1f} {cw / max(rw, 0.01):>6.2f}")
    c, r = size[(n, "cairn")], size.get((n, "restic"))
    print(f"{int(n):>9,} {'repo MiB':<13} {c / 2**20:>9.0f} " + (f"{r / 2**20:>10.0f} {c / r:>6.2f}" if r else f"{'-':>10} {'-':>6}"))
if len(sizes) > 1:
    lo, hi = sizes[0], sizes[-1]
    print(f"\npeak RSS at {int(hi):,} files / at {int(lo):,} files:")
    for tool in ("cairn", "restic") if all((hi, "restic", s) in rss for s in steps) else ("cairn",):
        print(f"  {tool:<7}" + "  ".join(f"{s} {rss[(hi, tool, s)] / rss[(lo, tool, s)]:.2f}" for s in steps))
PY
